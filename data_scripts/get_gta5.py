"""Download the Playing for Data (GTA5) data set, or take parts downloaded by hand, and extract it.

Richter, Vineet, Roth and Koltun, "Playing for Data: Ground Truth from Computer Games", ECCV 2016
(https://download.visinf.tu-darmstadt.de/data/from_games/): 24,966 frames of 1914×1052 from the
game GTA V, in 10 parts of 2,500 frames. Part NN is two archives, NN_images.zip (≈ 5.8 GB) and
NN_labels.zip (palette PNGs, a few hundred MB); code/read_mapping.zip holds the official
train/val/test split (mapping/split.mat). For research and educational use only.

The result is the layout of the whole workbook (as for synthetic-streets):

    data/gta5/images/00001.png   RGB
    data/gta5/labels/00001.png   8-bit palette PNG, index = Cityscapes labelId
    data/gta5/split.mat          trainIds / valIds / testIds (1-based frame numbers)
    data/gta5/downloads/         the archives, checksums.json, extracted.json (what each archive wrote)

Examples:

    python data_scripts/get_gta5.py --parts 1                 # part 01 only: ≈ 6 GB download
    python data_scripts/get_gta5.py --parts 1,2 --delete-zips # free the archives after extraction
    python data_scripts/get_gta5.py --parts all               # everything: ≈ 60 GB download
    python data_scripts/get_gta5.py --parts 1 --from ~/Downloads   # archives downloaded by hand

Then: python data_scripts/prepare_gta5.py --data data/gta5 --profile quick
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

try:
    import helpers  # noqa: F401  (installed with `pip install -e .`, as `make` does)
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.config import data_root  # noqa: E402
from helpers.download import (  # noqa: E402
    CorruptArchiveError,
    DownloadError,
    download,
    extract,
    forget_checksum,
    remote_size,
    verify_zip,
)
from helpers.files import atomic_write_text, remove_leftovers  # noqa: E402
from helpers.files import human_size as human  # noqa: E402

BASE_URL = "https://download.visinf.tu-darmstadt.de/data/from_games"
PARTS = tuple(range(1, 11))
FRAMES_PER_PART = 2500
APPROX_BYTES = {"images": 5.8e9, "labels": 0.4e9, "read_mapping": 1e5}  # when the server does not say
FRAME_FILE = re.compile(r"^\d{5}\.png$")


def parse_parts(text: str) -> list[int]:
    """'1', '1,2', '01,03', '1-3' or 'all' → sorted part numbers in 1..10."""
    if text.strip().lower() == "all":
        return list(PARTS)
    parts: set[int] = set()
    for piece in text.split(","):
        piece = piece.strip()
        bounds = piece.split("-")
        if not piece or len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            raise ValueError(f"--parts: cannot read {piece!r}; use e.g. 1 or 1,2 or 1-3 or all")
        low, high = int(bounds[0]), int(bounds[-1])
        parts.update(range(low, high + 1))
    wrong = sorted(p for p in parts if p not in PARTS)
    if wrong or not parts:
        raise ValueError(f"--parts: the data set has parts 1 to 10, got {wrong or text!r}")
    return sorted(parts)


def archive_names(parts: list[int]) -> list[str]:
    """NN_images.zip and NN_labels.zip of each part."""
    return [f"{part:02d}_{kind}.zip" for part in parts for kind in ("images", "labels")]


def archive_url(base_url: str, name: str) -> str:
    """Where an archive lives: data/NN_kind.zip, or code/read_mapping.zip."""
    folder = "code" if name == "read_mapping.zip" else "data"
    return f"{base_url.rstrip('/')}/{folder}/{name}"


def frame_target(kind: str):
    """Member filter for extract(): any …/NNNNN.png → kind/NNNNN.png (with or without a top folder)."""
    def target(name: str) -> str | None:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{kind}/{base}" if FRAME_FILE.match(base) else None
    return target


def split_target(name: str) -> str | None:
    """Member filter for read_mapping.zip: keep mapping/split.mat only, as split.mat."""
    return "split.mat" if name.replace("\\", "/").rsplit("/", 1)[-1] == "split.mat" else None


def free_bytes(folder: Path) -> int:
    """Free disk space where `folder` is (or will be) created."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


def plan_downloads(names: list[str], base_url: str, downloads: Path) -> dict[str, int]:
    """Bytes still to fetch per archive (server's size, or an estimate), minus what is already here."""
    remaining = {}
    for name in names:
        dest = downloads / name
        if dest.exists():
            remaining[name] = 0
            continue
        kind = "read_mapping" if name == "read_mapping.zip" else name[3:-4]
        size = remote_size(archive_url(base_url, name)) or int(APPROX_BYTES[kind])
        part = dest.with_name(dest.name + ".part")
        remaining[name] = max(0, size - (part.stat().st_size if part.exists() else 0))
    return remaining


def check_disk(out: Path, remaining: dict[str, int], present: int, delete_zips: bool, ignore: bool) -> None:
    """Print the disk needed and stop with advice when the free space is clearly too small.

    Archives of PNGs hardly compress, so the extracted files take about what the archives take.
    With --delete-zips each archive goes once extracted: the peak is the largest one on top.
    """
    download_bytes = sum(remaining.values())
    extracted = download_bytes + present
    peak = extracted + (max(remaining.values(), default=0) if delete_zips else download_bytes)
    free = free_bytes(out)
    print(f"disk needed: {human(peak)} ({human(download_bytes)} to download, about {human(extracted)} extracted"
          f"{', archives deleted as they are extracted' if delete_zips else ''}); free in {out}: {human(free)}")
    if peak > free and not ignore:
        raise SystemExit(f"not enough free disk space in {out}: {human(peak)} needed, {human(free)} free. "
                         f"Free some space, take fewer parts (--parts 1), add --delete-zips, put the data "
                         f"elsewhere (--out DIR, then DATA_ROOT=DIR in the notebooks) or pass --ignore-disk-check.")


def fetch_archive(name: str, args: argparse.Namespace, downloads: Path) -> Path | None:
    """Download one archive (resume, retry, size and checksum checks); None for a missing split file."""
    url = archive_url(args.base_url, name)
    print(f"{name}: {url}")
    try:
        return download(url, downloads / name, retries=args.retries, timeout=args.timeout,
                        progress=not args.quiet, backoff=args.retry_pause)
    except DownloadError as error:
        if name == "read_mapping.zip":
            print(f"warning: {error}\nwithout split.mat, prepare_gta5.py uses a sequence-aware split")
            return None
        raise SystemExit(f"error: {error}") from error


def find_archives(names: list[str], folder: Path) -> dict[str, Path]:
    """Archives downloaded by hand in `folder`; stop naming the missing ones and where to get them."""
    folder = folder.expanduser()
    found = {name: folder / name for name in names if (folder / name).is_file()}
    missing = [name for name in names if name not in found and name != "read_mapping.zip"]
    if missing:
        urls = "\n  ".join(archive_url(BASE_URL, name) for name in missing)
        raise SystemExit(f"missing in {folder}: {', '.join(missing)}. Download them from:\n  {urls}\n"
                         f"or run without --from to download them.")
    if "read_mapping.zip" in names and "read_mapping.zip" not in found:
        print(f"note: no read_mapping.zip in {folder}; prepare_gta5.py will use a sequence-aware split. "
              f"For the official split get {archive_url(BASE_URL, 'read_mapping.zip')}")
    return found


def read_extracted(downloads: Path) -> dict[str, list[str]]:
    """extracted.json of the download folder: archive name → the files it put into the data folder."""
    path = downloads / "extracted.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def already_extracted(name: str, out: Path, downloads: Path) -> bool:
    """Whether every file `name` once extracted is still there (then it is neither fetched nor extracted)."""
    files = read_extracted(downloads).get(name)
    return bool(files) and all((out / file).is_file() for file in files)


def remember_extracted(name: str, written: list[Path], out: Path, downloads: Path) -> None:
    """Record the files an archive put into `out`, so a second run can skip it."""
    records = read_extracted(downloads)
    records[name] = sorted(path.relative_to(out).as_posix() for path in written)
    atomic_write_text(downloads / "extracted.json", json.dumps(records))


def unpack(name: str, archive: Path, out: Path, quiet: bool) -> list[Path]:
    """Verify one archive and extract it into `out`; return the number of files written."""
    try:
        verify_zip(archive)
        member_filter = split_target if name == "read_mapping.zip" else frame_target(name[3:-4])
        written = extract(archive, out, member_filter, progress=not quiet)
    except CorruptArchiveError as error:
        forget_checksum(archive)  # its checksum must not vouch for a damaged file
        raise SystemExit(f"error: {error}") from error
    if not written:
        raise SystemExit(f"error: {archive} holds no {'split.mat' if name == 'read_mapping.zip' else 'NNNNN.png'} "
                         f"files: is it the right archive? Delete it and download it again.")
    return written


def check_pairs(out: Path) -> tuple[int, list[str], list[str]]:
    """Frames with both image and label; frames missing a label; labels missing an image."""
    images = {p.stem for p in (out / "images").glob("*.png")}
    labels = {p.stem for p in (out / "labels").glob("*.png")}
    return len(images & labels), sorted(images - labels), sorted(labels - images)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Download (or take from a folder) the Playing for Data / GTA5 parts and extract them "
                    "to images/NNNNN.png and labels/NNNNN.png. Part 01 alone is about 5.8 GB of images "
                    "plus a few hundred MB of labels (about 2,500 frames); all 10 parts are about 60 GB. "
                    "Extraction needs about as much again unless --delete-zips.",
        epilog="Next: python data_scripts/prepare_gta5.py --data DIR --profile quick")
    parser.add_argument("--parts", default="1", help="parts to get: 1 (default), 1,2, 1-3 or all (each ≈ 6 GB)")
    parser.add_argument("--out", type=Path, default=data_root() / "gta5", help="data set folder (default data/gta5)")
    parser.add_argument("--from", dest="from_dir", type=Path, default=None,
                        help="folder holding NN_images.zip / NN_labels.zip (and read_mapping.zip) downloaded "
                             "by hand; nothing is downloaded")
    parser.add_argument("--downloads", type=Path, default=None, help="archive folder (default OUT/downloads)")
    parser.add_argument("--base-url", default=BASE_URL, help=f"site to download from (default {BASE_URL})")
    parser.add_argument("--no-split", action="store_true", help="do not fetch read_mapping.zip (split.mat)")
    parser.add_argument("--delete-zips", action="store_true",
                        help="delete each downloaded archive once it is extracted (halves the disk needed)")
    parser.add_argument("--retries", type=int, default=5, help="retries per archive after a failed transfer")
    parser.add_argument("--retry-pause", type=float, default=2.0,
                        help="seconds before the first retry, doubled at each further one (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")
    parser.add_argument("--ignore-disk-check", action="store_true", help="download even if the disk looks too full")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Get the requested parts and split.mat into --out; print what was written and what to run next."""
    args = parse_args(argv)
    try:
        parts = parse_parts(args.parts)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from error
    out = Path(args.out).expanduser()
    names = archive_names(parts) + ([] if args.no_split else ["read_mapping.zip"])
    print(f"GTA5 parts {', '.join(f'{p:02d}' for p in parts)} (≈ {len(parts) * FRAMES_PER_PART:,} frames) → {out}")
    downloads = (args.downloads or out / "downloads").expanduser()
    remove_leftovers(out.parent, out.name, ("extracting",))  # from a run that was killed
    done = [name for name in names if already_extracted(name, out, downloads)]
    for name in done:
        print(f"{name}: already extracted into {out} (delete its files or {downloads / 'extracted.json'} to redo)")
    names = [name for name in names if name not in done]
    if args.from_dir is not None:
        found = find_archives(names, args.from_dir)
        names = [name for name in names if name in found]
        check_disk(out, {}, sum(found[name].stat().st_size for name in names), False, args.ignore_disk_check)
    else:
        remaining = plan_downloads(names, args.base_url, downloads)
        present = sum((downloads / n).stat().st_size for n in names if (downloads / n).exists())
        check_disk(out, remaining, present, args.delete_zips, args.ignore_disk_check)
    for name in names:  # one archive at a time: get it, check it, extract it, (delete it)
        archive = found[name] if args.from_dir is not None else fetch_archive(name, args, downloads)
        if archive is None:
            continue
        written = unpack(name, archive, out, args.quiet)
        remember_extracted(name, written, out, downloads)
        print(f"{name}: {len(written):,} file(s) extracted")
        if args.delete_zips and args.from_dir is None:
            archive.unlink()
    frames, no_label, no_image = check_pairs(out)
    print(f"{out}: {frames:,} frames with image and label")
    if no_label or no_image:
        print(f"warning: {len(no_label)} image(s) without a label (e.g. {no_label[:3]}), {len(no_image)} "
              f"label(s) without an image (e.g. {no_image[:3]}): get the matching NN_images.zip / "
              f"NN_labels.zip part; prepare_gta5.py leaves unpaired frames out.")
    split = "split.mat (official train/val/test)" if (out / "split.mat").is_file() else "no split.mat"
    print(f"{split}. Next: python data_scripts/prepare_gta5.py --data {out} --profile quick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
