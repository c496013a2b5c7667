"""Get Oxford-IIIT Pet or Pascal VOC 2012 through torchvision, in the layout torchvision (and the workbook) reads.

* oxford-pet: torchvision.datasets.OxfordIIITPet (Parkhi et al. 2012), 7,349 photos of 37 breeds of
  cats and dogs with trimaps (1 = pet, 2 = background, 3 = the uncertain border, ignored when
  training). images.tar.gz and annotations.tar.gz, about 800 MB, into OUT/oxford-iiit-pet/.
* voc: torchvision.datasets.VOCSegmentation (Everingham et al. 2010), the 2,913 segmented images of
  VOC 2012 (20 classes and background; 255 marks the borders around objects, ignored).
  VOCtrainval_11-May-2012.tar, about 2 GB, into OUT/VOCdevkit/VOC2012/.

torchvision downloads the archives and checks their MD5 sums. Without a network, download the
archives by hand (the addresses are printed when the download fails) and pass their folder with
--from: they are copied where torchvision looks, verified and extracted without a connection.
A data set already in place is not downloaded again.

Examples:

    python data_scripts/get_torchvision_data.py oxford-pet                 # into data/oxford-pet
    python data_scripts/get_torchvision_data.py voc --from ~/Downloads     # VOCtrainval_11-May-2012.tar there

Then: DATASET = "oxford-pet" or "voc" in a notebook.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

try:
    import helpers  # noqa: F401  (installed with `pip install -e .`, as `make` does)
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.config import data_root  # noqa: E402
from helpers.dataset_registry import DatasetMissingError, dataset_dir, get_spec  # noqa: E402
from helpers.datasets import build_manifest  # noqa: E402

SOURCES = {
    "oxford-pet": {"kind": "OxfordIIITPet", "arguments": {"split": "trainval", "target_types": "segmentation"},
                   "archives": {"images.tar.gz": "oxford-iiit-pet", "annotations.tar.gz": "oxford-iiit-pet"},
                   "site": "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"},
    "voc": {"kind": "VOCSegmentation", "arguments": {"year": "2012", "image_set": "trainval"},
            "archives": {"VOCtrainval_11-May-2012.tar": "."},
            "site": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/"},
}


def place_archives(name: str, source: Path, out: Path) -> None:
    """Copy archives downloaded by hand to where torchvision looks for them (it then verifies their MD5)."""
    for archive, folder in SOURCES[name]["archives"].items():
        found = source.expanduser() / archive
        if not found.is_file():
            raise SystemExit(f"error: {found} not found; download it from {SOURCES[name]['site']}{archive}")
        target = out / folder / archive
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(found, target)


def fetch(name: str, out: Path) -> None:
    """Let torchvision download (or verify and extract) the archives into `out`."""
    import torchvision.datasets

    source = SOURCES[name]
    try:
        getattr(torchvision.datasets, source["kind"])(str(out), download=True, **source["arguments"])
    except (OSError, RuntimeError) as error:  # no network, a proxy, a changed address, a damaged archive
        archives = ", ".join(f"{source['site']}{archive}" for archive in source["archives"])
        raise SystemExit(f"error: torchvision could not get {name} ({error}).\nDownload {archives} by hand and run: "
                         f"python data_scripts/get_torchvision_data.py {name} --from FOLDER --out {out}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("dataset", choices=sorted(SOURCES), help="which data set")
    parser.add_argument("--out", type=Path, default=None, help="data set folder (default data/<dataset>)")
    parser.add_argument("--from", dest="from_dir", type=Path, default=None,
                        help="folder holding the archives downloaded by hand")
    args = parser.parse_args(argv)
    spec = get_spec(args.dataset)
    out = (args.out or data_root() / spec.folder).expanduser()
    try:
        folder = dataset_dir(spec, out)
        print(f"{args.dataset}: already in {folder}; nothing to download")
    except DatasetMissingError:
        if args.from_dir is not None:
            place_archives(args.dataset, args.from_dir, out)
        fetch(args.dataset, out)
        folder = dataset_dir(spec, out)
    manifest = build_manifest(spec, folder)
    counts = manifest["split"].value_counts()
    print(f"{args.dataset}: {len(manifest):,} images with a mask in {folder}; split "
          + " · ".join(f"{split} {int(counts.get(split, 0)):,}" for split in ("train", "val", "pseudo_test", "test"))
          + f" (test = torchvision's {'test' if args.dataset == 'oxford-pet' else 'val'} images)")
    print(f"Next, in a notebook: DATASET = \"{args.dataset}\" (CLASSES = None: {spec.default_class_map(folder).name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
