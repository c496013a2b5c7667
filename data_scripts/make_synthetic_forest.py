"""Generate synthetic aerial forest patches in the Kaggle "Forest Aerial Images" layout.

    python data_scripts/make_synthetic_forest.py                   # 240 patches of 256x256
    python data_scripts/make_synthetic_forest.py --out /tmp/forest --count 12 --size 64

Writes OUT/Forest Segmented/images/<id>_sat_<nn>.jpg, OUT/Forest Segmented/masks/<id>_mask_<nn>.jpg
(JPEG, 0 = not forest, 255 = forest, with compression artefacts) and OUT/Forest Segmented/meta_data.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from helpers.config import data_root  # noqa: E402
from helpers.synthetic import FOREST_FOLDER, generate_forest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate synthetic aerial forest patches in the Kaggle layout.")
    parser.add_argument("--out", type=Path, default=data_root() / "synthetic-forest",
                        help="output folder (default: DATA_ROOT/synthetic-forest, i.e. data/synthetic-forest)")
    parser.add_argument("--count", type=int, default=240, help="number of patches (default 240)")
    parser.add_argument("--size", type=int, default=256, help="patch side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder that is not an earlier output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        table = generate_forest(args.out, args.count, args.size, args.seed, progress=not args.quiet, force=args.force)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sources = table["image"].str.split("_").str[0].nunique()
    print(f"wrote {len(table)} patches ({sources} source images) of {args.size}x{args.size} "
          f"to {args.out / FOREST_FOLDER} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
