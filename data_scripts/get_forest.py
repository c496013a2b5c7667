"""Get the Kaggle "Forest Aerial Images for Segmentation" data set and normalise its layout.

https://www.kaggle.com/datasets/quadeer15sh/augmented-forest-segmentation : 5,108 aerial patches
of 256×256 (JPEG) with binary forest masks (JPEG, so 0/255 with compression artefacts).

The archive comes from the Kaggle API or CLI when credentials exist (~/.kaggle/kaggle.json, or
KAGGLE_USERNAME and KAGGLE_KEY), or from a zip you downloaded (`--from FILE.zip`, or the folder
you unzipped it into). Both the
nested `Forest Segmented/Forest Segmented/…` and the flattened layouts are accepted. The result:

    data/forest/Forest Segmented/images/<id>_sat_<nn>.jpg   the patches, unchanged
    data/forest/Forest Segmented/masks/<id>_mask_<nn>.png   masks thresholded at 128: 0 or 255, lossless
    data/forest/Forest Segmented/meta_data.csv              image,mask
    data/forest/forest_report.csv                           checks per patch

Pairs whose files are missing, unreadable or of different sizes are left out. Masks that do not
follow the image's edges are reported by the misalignment check of helpers.cleaning (the one the
data-cleaning notebook uses), not taken from a list. The folder is replaced only when everything
is ready, so an interrupted run leaves the previous data as it was.

Examples:

    python data_scripts/get_forest.py                            # Kaggle API / CLI
    python data_scripts/get_forest.py --from ~/Downloads/archive.zip
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

try:
    import helpers  # noqa: F401  (installed with `pip install -e .`, as `make` does)
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.config import data_root, is_quiet  # noqa: E402
from helpers.datasets import kaggle_forest_manifest, mask_levels, read_image, read_label_raw  # noqa: E402
from helpers.download import CorruptArchiveError, extract, verify_zip  # noqa: E402
from helpers.files import atomic_path, remove_leftovers, staging_folder  # noqa: E402

KAGGLE_DATASET = "quadeer15sh/augmented-forest-segmentation"
KAGGLE_PAGE = f"https://www.kaggle.com/datasets/{KAGGLE_DATASET}"
FOLDER = "Forest Segmented"
THRESHOLD = 128


# --------------------------------------------------------------------------------------------
# Getting the archive
# --------------------------------------------------------------------------------------------

def kaggle_credentials() -> str | None:
    """Where Kaggle credentials were found (a file or the environment), or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME / KAGGLE_KEY"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    folders = [os.environ.get("KAGGLE_CONFIG_DIR"), Path.home() / ".kaggle", Path.home() / ".config" / "kaggle"]
    for folder in folders:
        if folder and (Path(folder) / "kaggle.json").is_file():
            return str(Path(folder) / "kaggle.json")
    return None


def no_kaggle_message(reason: str) -> str:
    return (f"{reason}\nEither\n"
            f"  1. create an API token on kaggle.com (Settings → API → Create New Token), save it as "
            f"~/.kaggle/kaggle.json, `pip install kaggle`, and run this command again; or\n"
            f"  2. download the zip by hand from {KAGGLE_PAGE} (Download button) and run:\n"
            f"     python data_scripts/get_forest.py --from PATH/TO/archive.zip")


def kaggle_download(dataset: str, folder: Path) -> Path:
    """Download the data set's zip with the kaggle package, else the kaggle CLI; return the zip."""
    where = kaggle_credentials()
    if where is None:
        raise SystemExit(no_kaggle_message("error: no Kaggle credentials found."))
    folder.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*.zip")}
    print(f"downloading {dataset} from Kaggle (credentials: {where}) into {folder}")
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        KaggleApi = None
    if KaggleApi is not None:
        api = KaggleApi()
        api.authenticate()
        api.dataset_download_files(dataset, path=str(folder), unzip=False, quiet=is_quiet())
    else:
        executable = shutil.which("kaggle")
        if executable is None:
            raise SystemExit(no_kaggle_message("error: Kaggle credentials found, but neither the kaggle "
                                               "package nor the kaggle command is installed."))
        result = subprocess.run([executable, "datasets", "download", "-d", dataset, "-p", str(folder)])
        if result.returncode != 0:
            raise SystemExit(no_kaggle_message(f"error: `kaggle datasets download -d {dataset}` failed "
                                               f"(exit code {result.returncode})."))
    expected = folder / f"{dataset.split('/')[-1]}.zip"
    if expected.is_file():
        return expected
    changed = [p for p in folder.glob("*.zip") if before.get(p) != p.stat().st_mtime_ns]
    if len(changed) == 1:
        return changed[0]
    raise SystemExit(f"error: the Kaggle download left no {expected.name} in {folder}; "
                     f"download it by hand from {KAGGLE_PAGE} and use --from")


# --------------------------------------------------------------------------------------------
# Normalising
# --------------------------------------------------------------------------------------------

def member_target(name: str) -> str | None:
    """Keep …/images/*, …/masks/* and …/meta_data.csv, whatever folders hold them (nested or flat)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts or parts[-1].startswith("."):
        return None
    if parts[-1] == "meta_data.csv":
        return "meta_data.csv"
    if len(parts) >= 2 and parts[-2] in ("images", "masks"):
        return f"{parts[-2]}/{parts[-1]}"
    return None


def collect_folder(folder: Path, raw: Path) -> None:
    """Copy images/, masks/ and meta_data.csv from an unzipped download (any nesting) into `raw`."""
    for path in sorted(folder.rglob("*")):
        target = member_target(path.relative_to(folder).as_posix()) if path.is_file() else None
        if target:
            (raw / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, raw / target)


def pair_files(raw: Path) -> tuple[pd.DataFrame, list[dict]]:
    """(image, mask) file names from meta_data.csv, or by name; plus problems for missing files."""
    meta = raw / "meta_data.csv"
    if meta.is_file():
        table = pd.read_csv(meta)
        if not {"image", "mask"} <= set(table.columns):
            raise SystemExit(f"error: {meta} has columns {list(table.columns)}, expected image,mask")
        pairs = table[["image", "mask"]].astype(str).drop_duplicates("image")
    else:
        names = sorted(p.name for p in (raw / "images").glob("*_sat_*"))
        pairs = pd.DataFrame({"image": names, "mask": [n.replace("_sat_", "_mask_") for n in names]})
    problems, usable = [], []
    for row in pairs.itertuples(index=False):
        missing = [f"{kind}/{name}" for kind, name in (("images", row.image), ("masks", row.mask))
                   if not (raw / kind / name).is_file()]
        if missing:
            problems.append({"image": row.image, "mask": row.mask, "problem": "missing",
                             "note": f"no {', '.join(missing)}"})
        else:
            usable.append((row.image, row.mask))
    return pd.DataFrame(usable, columns=["image", "mask"]), problems


def threshold_mask(path: Path) -> np.ndarray:
    """A mask as 0/255 uint8: grey level ≥ 128 is forest (JPEG artefacts removed); 0/1 masks read as such."""
    raw, _mode = read_label_raw(path)
    return np.where(mask_levels(raw) >= THRESHOLD, 255, 0).astype(np.uint8)


def normalise_pair(raw: Path, target: Path, image_name: str, mask_name: str) -> dict:
    """Check one pair and write it into `target` (image moved, mask thresholded to PNG)."""
    record = {"image": image_name, "mask": Path(mask_name).with_suffix(".png").name, "problem": "", "note": ""}
    try:
        image = read_image(raw / "images" / image_name)
        mask = threshold_mask(raw / "masks" / mask_name)
    except OSError as error:
        return {**record, "mask": mask_name, "problem": "unreadable", "note": str(error)}
    if mask.shape != image.shape[:2]:
        return {**record, "mask": mask_name, "problem": "size_mismatch",
                "note": f"mask {mask.shape[1]}×{mask.shape[0]}, image {image.shape[1]}×{image.shape[0]}"}
    os.replace(raw / "images" / image_name, target / "images" / image_name)
    Image.fromarray(mask, mode="L").save(target / "masks" / record["mask"], format="PNG")
    record["forest_fraction"] = float((mask > 0).mean())
    return record


def misaligned_frames(folder: Path) -> tuple[set[str], str]:
    """Frames whose mask does not follow the image's edges, by helpers.cleaning's check."""
    try:
        from helpers.cleaning import run_checks
    except ImportError:
        return set(), "misalignment not checked (helpers.cleaning is not available)"
    manifest = kaggle_forest_manifest(folder)
    report = run_checks(folder, manifest)
    flagged = report["misaligned"].to_numpy(bool) if "misaligned" in report else np.zeros(len(manifest), bool)
    return set(manifest["frame"][flagged]), "misaligned masks by the label/image edge agreement of helpers.cleaning"


def install(staged: Path, out: Path) -> None:
    """Replace out/Forest Segmented by the staged folder (old one removed only after the move)."""
    out.mkdir(parents=True, exist_ok=True)
    final = out / FOLDER
    old = None
    if final.exists():
        old = staging_folder(out, FOLDER, "old")
        os.replace(final, old / FOLDER)
    os.replace(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", type=Path, default=data_root() / "forest", help="data set folder (default data/forest)")
    parser.add_argument("--from", dest="from_zip", type=Path, default=None,
                        help="the zip downloaded by hand (or the folder it was unzipped into)")
    parser.add_argument("--dataset", default=KAGGLE_DATASET, help=f"Kaggle data set (default {KAGGLE_DATASET})")
    parser.add_argument("--downloads", type=Path, default=None, help="where the Kaggle zip goes (default OUT/downloads)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def unpack_source(source: Path, raw: Path, quiet: bool) -> None:
    """The zip (verified, then extracted) or the unzipped folder → raw/{images,masks,meta_data.csv}."""
    if source.is_dir():
        collect_folder(source, raw)
    else:
        try:
            verify_zip(source)
            extract(source, raw, member_target, progress=not quiet)
        except CorruptArchiveError as error:
            raise SystemExit(f"error: {error}") from error
    if not (raw / "images").is_dir():
        raise SystemExit(f"error: {source} holds no images/ folder; is it the forest data set ({KAGGLE_PAGE})? "
                         f"If the zip is damaged, delete it and download it again.")


def normalise(work: Path, workers: int, quiet: bool) -> tuple[pd.DataFrame, str]:
    """Pair, check and write every patch into work/Forest Segmented; return the report and how
    misalignment was checked."""
    pairs, problems = pair_files(work / "raw")
    staged = work / FOLDER
    for kind in ("images", "masks"):
        (staged / kind).mkdir(parents=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        records = list(tqdm(pool.map(lambda pair: normalise_pair(work / "raw", staged, *pair),
                                     pairs.itertuples(index=False)),
                            total=len(pairs), desc="forest masks", unit="pair", disable=quiet or is_quiet()))
    good = pd.DataFrame([r for r in records if not r["problem"]], columns=["image", "mask", "forest_fraction"])
    if good.empty:
        raise SystemExit("error: no usable image/mask pair in the download")
    good[["image", "mask"]].to_csv(staged / "meta_data.csv", index=False)
    flagged, how = misaligned_frames(work)
    good["problem"] = np.where([Path(name).stem in flagged for name in good["image"]], "misaligned", "")
    report = pd.concat([good, pd.DataFrame(problems + [r for r in records if r["problem"]])], ignore_index=True)
    return report.reindex(columns=["image", "mask", "forest_fraction", "problem", "note"]), how


def print_summary(report: pd.DataFrame, how: str, out: Path) -> None:
    """What was written, left out and flagged."""
    dropped = report["problem"].isin(["missing", "unreadable", "size_mismatch"])
    misaligned = report.loc[report["problem"] == "misaligned", "image"].tolist()
    print(f"forest: {int((~dropped).sum()):,} image/mask pairs in {out / FOLDER} (masks thresholded at "
          f"{THRESHOLD}, PNG); forest pixels {100 * report['forest_fraction'].mean():.1f}%")
    if dropped.any():
        print(f"  left out {int(dropped.sum())} pair(s): " + "; ".join(
            f"{r.image}: {r.problem} ({r.note})" for r in report[dropped].head(5).itertuples()))
    print(f"  {how}: {len(misaligned)}" + (f" (e.g. {', '.join(misaligned[:5])})" if misaligned else ""))
    print(f"  report: {out / 'forest_report.csv'}")
    print('Next, in a notebook: DATASET = "forest", or load_dataset("forest")')


def main(argv: list[str] | None = None) -> int:
    """Get the zip, check it, normalise the layout and masks, report, and move the result into place."""
    args = parse_args(argv)
    out = args.out.expanduser()
    if args.from_zip is not None:
        source = args.from_zip.expanduser()
        if not source.exists():
            raise SystemExit(f"error: {source} not found")
    else:
        source = kaggle_download(args.dataset, (args.downloads or out / "downloads").expanduser())
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out.parent, out.name, ("preparing",))  # from a run that was killed
    remove_leftovers(out, FOLDER, ("old",))
    work = staging_folder(out.parent, out.name, "preparing")
    try:  # everything happens in `work`; the data folder changes only in install()
        unpack_source(source, work / "raw", args.quiet)
        report, how = normalise(work, args.workers, args.quiet)
        install(work / FOLDER, out)
        with atomic_path(out / "forest_report.csv") as temporary:
            report.to_csv(temporary, index=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_summary(report, how, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
