"""Download ADE20K's scene-parsing benchmark (ADEChallengeData2016.zip), or take the zip you have, and extract it.

Zhou, Zhao, Puig, Fidler, Barriuso and Torralba, "Scene Parsing through ADE20K Dataset", CVPR 2017
(http://sceneparsing.csail.mit.edu): 20,210 training and 2,000 validation photos of every kind of
scene, each with an annotation PNG whose pixel values are 0–150 (0 = "other", 1–150 the classes
of objectInfo150.csv, most frequent first). About 920 MB.

The result, in the official layout the workbook reads (DATASET = "ade20k"):

    data/ade20k/ADEChallengeData2016/images/training/ADE_train_00000001.jpg
    data/ade20k/ADEChallengeData2016/annotations/training/ADE_train_00000001.png
    data/ade20k/ADEChallengeData2016/images/validation/…, annotations/validation/…
    data/ade20k/ADEChallengeData2016/objectInfo150.csv
    data/ade20k/downloads/ADEChallengeData2016.zip    (and checksums.json; --delete-zip removes the zip)

The download resumes after an interruption, is retried, has its size checked, and its sha256 is
recorded on the first complete download and verified after (or checked against --sha256). The
archive is CRC-checked and extracted through a hidden folder, so a damaged zip writes nothing.
The workbook splits the training images at random into train, val and pseudo_test (there are no
sequences of near-duplicate frames in ADE20K) and keeps the official validation images as test.

Examples:

    python data_scripts/get_ade20k.py                                   # download and extract
    python data_scripts/get_ade20k.py --from ~/Downloads/ADEChallengeData2016.zip
    python data_scripts/get_ade20k.py --check-labels                    # also read every annotation

Then: DATASET = "ade20k" in a notebook, with CLASSES = "ade150" (the default) or "ade100".
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

try:
    import helpers  # noqa: F401  (installed with `pip install -e .`, as `make` does)
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.classes import ADE20K_NAMES  # noqa: E402
from helpers.config import data_root, is_quiet  # noqa: E402
from helpers.dataset_registry import ADE20K_FOLDER  # noqa: E402
from helpers.download import (  # noqa: E402
    CorruptArchiveError,
    DownloadError,
    download,
    extract,
    forget_checksum,
    verify_zip,
)
from helpers.files import remove_leftovers  # noqa: E402
from helpers.readers import describe_counts, read_label_raw  # noqa: E402

URL = "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"
ARCHIVE = "ADEChallengeData2016.zip"
SUBSETS = ("training", "validation")
MEMBER = re.compile(r"^(?:.*/)?(images/(?:training|validation)/[^/]+\.jpg|annotations/(?:training|validation)/"
                    r"[^/]+\.png|objectInfo150\.csv|sceneCategories\.txt)$")


def member_target(name: str) -> str | None:
    """Where an archive member goes: ADEChallengeData2016/<path inside it>, or None (README, macOS files …)."""
    name = name.replace("\\", "/")
    if "__MACOSX" in name or name.rsplit("/", 1)[-1].startswith("._"):
        return None
    match = MEMBER.match(name)
    return f"{ADE20K_FOLDER}/{match.group(1)}" if match else None


def get_archive(args: argparse.Namespace) -> Path:
    """The zip: the file given with --from, or a download (resumed, retried, size and checksum checked)."""
    if args.from_file is not None:
        archive = args.from_file.expanduser()
        if archive.is_dir():
            archive = archive / ARCHIVE
        if not archive.is_file():
            raise SystemExit(f"error: {archive} not found. Download {URL} by hand, or run without --from.")
        return archive
    downloads = (args.downloads or args.out / "downloads").expanduser()
    print(f"{ARCHIVE}: {args.url} (about 920 MB)")
    try:
        return download(args.url, downloads / ARCHIVE, sha256=args.sha256, retries=args.retries, timeout=args.timeout,
                        progress=not args.quiet, backoff=args.retry_pause)
    except DownloadError as error:
        raise SystemExit(f"error: {error}\nOr download {URL} by hand and run: python data_scripts/get_ade20k.py "
                         f"--from PATH/TO/{ARCHIVE}") from error


def read_object_info(path: Path) -> list[str]:
    """The class names of objectInfo150.csv (Idx,Ratio,Train,Val,Name), checked to be Idx 1–150 in order."""
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        indices = [int(row["Idx"]) for row in rows]
        names = [row["Name"].strip() for row in rows]
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise SystemExit(f"error: {path} is not the objectInfo150.csv of ADEChallengeData2016 ({error}); "
                         f"delete {path.parent} and extract the archive again") from error
    if indices != list(range(1, len(ADE20K_NAMES) + 1)):
        raise SystemExit(f"error: {path} lists {len(rows)} classes, not Idx 1 to {len(ADE20K_NAMES)} in order")
    return names


def pairs(root: Path) -> dict[str, tuple[int, list[str], list[str]]]:
    """Per subset: (images with an annotation, images without, annotations without an image)."""
    found = {}
    for subset in SUBSETS:
        images = {p.stem for p in (root / "images" / subset).glob("*.jpg")}
        labels = {p.stem for p in (root / "annotations" / subset).glob("*.png")}
        found[subset] = (len(images & labels), sorted(images - labels), sorted(labels - images))
    return found


def check_labels(root: Path, workers: int, quiet: bool) -> dict[str, str]:
    """{annotation: problem} for annotations that cannot be read or hold values above 150."""
    files = sorted((root / "annotations").glob("*/*.png"))

    def problem(path: Path) -> str | None:
        try:
            values = read_label_raw(path)[0]
        except OSError as error:
            return str(error)
        if values.ndim != 2:
            return "a colour image, not class values"
        high = values > len(ADE20K_NAMES)
        if high.any():
            found, counts = np.unique(values[high], return_counts=True)
            return describe_counts(dict(zip(found.tolist(), counts.tolist())), "values above 150:")
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(tqdm(pool.map(problem, files), total=len(files), desc="checking annotations", unit="file",
                            disable=quiet))
    return {str(path.relative_to(root)): text for path, text in zip(files, results) if text}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", type=Path, default=data_root() / "ade20k", help="data set folder (default data/ade20k)")
    parser.add_argument("--from", dest="from_file", type=Path, default=None,
                        help=f"{ARCHIVE} downloaded by hand (or the folder holding it); nothing is downloaded")
    parser.add_argument("--downloads", type=Path, default=None, help="archive folder (default OUT/downloads)")
    parser.add_argument("--url", default=URL, help=f"where to download from (default {URL})")
    parser.add_argument("--sha256", default=None, help="expected sha256 of the zip (else recorded on first download)")
    parser.add_argument("--delete-zip", action="store_true", help="delete the downloaded zip once extracted")
    parser.add_argument("--check-labels", action="store_true", help="read every annotation and report bad values")
    parser.add_argument("--retries", type=int, default=5, help="retries after a failed transfer")
    parser.add_argument("--retry-pause", type=float, default=2.0, help="seconds before the first retry, then doubled")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")
    parser.add_argument("--workers", type=int, default=8, help="threads for --check-labels")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.out = args.out.expanduser()
    return args


def main(argv: list[str] | None = None) -> int:
    """Get the archive, extract the official layout into --out, check it, and say what to do next."""
    args = parse_args(argv)
    quiet = args.quiet or is_quiet()
    remove_leftovers(args.out.parent, args.out.name, ("extracting",))  # from a run that was killed
    archive = get_archive(args)
    try:
        verify_zip(archive)
        written = extract(archive, args.out, member_target, progress=not quiet)
    except CorruptArchiveError as error:
        if args.from_file is None:
            forget_checksum(archive)  # its checksum must not vouch for a damaged file
        raise SystemExit(f"error: {error}") from error
    root = args.out / ADE20K_FOLDER
    if not (root / "objectInfo150.csv").is_file() or not written:
        raise SystemExit(f"error: {archive} holds no {ADE20K_FOLDER}/objectInfo150.csv with images/ and annotations/: "
                         f"is it the scene-parsing archive ({URL})?")
    names = read_object_info(root / "objectInfo150.csv")
    print(f"{archive.name}: {len(written):,} files extracted into {root}; {len(names)} classes, from "
          f"{names[0]!r} (most frequent) to {names[-1]!r}")
    found = pairs(root)
    for subset, (matched, lonely_images, lonely_labels) in found.items():
        print(f"  {subset}: {matched:,} images with an annotation"
              + (f"; {len(lonely_images)} without (left out), e.g. {lonely_images[:3]}" if lonely_images else "")
              + (f"; {len(lonely_labels)} annotations without an image, e.g. {lonely_labels[:3]}" if lonely_labels else ""))
    if not found["training"][0]:
        raise SystemExit(f"error: no training image with an annotation in {root}")
    if args.check_labels:
        problems = check_labels(root, args.workers, quiet)
        for file, text in list(problems.items())[:10]:
            print(f"  {file}: {text}")
        print(f"  annotations checked: {len(problems)} with a problem (their pixels of unknown values are ignored "
              f"when loading, and notebook 01 drops those frames)" if problems else "  annotations checked: all fine")
    if args.delete_zip and args.from_file is None:
        archive.unlink()
    print(f"Next, in a notebook: DATASET = \"ade20k\" (CLASSES = \"ade150\", or \"ade100\" for the 100 most "
          f"frequent classes); the validation images are the test split. Data folder: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
