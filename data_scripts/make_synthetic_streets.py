"""Generate the synthetic street scenes in the Playing for Data (GTA5) layout.

    python data_scripts/make_synthetic_streets.py                  # 40 sequences × 20 frames, 480x264
    python data_scripts/make_synthetic_streets.py --out /tmp/streets --sequences 4 --size 160x88

Writes OUT/images/00001.png (RGB), OUT/labels/00001.png (palette PNG, index = Cityscapes labelId)
and OUT/meta.csv (frame, sequence, scene, weather, defect). The same arguments give the same bytes.
Frames are written into a hidden folder beside OUT, moved into place only when all are done.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from helpers.config import data_root  # noqa: E402
from helpers.synthetic import generate_streets  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    """"480x264" → (480, 264)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 480x264 (width x height), got {text!r}") from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate synthetic street scenes in the GTA5 layout.")
    parser.add_argument("--out", type=Path, default=data_root() / "synthetic-streets",
                        help="output folder (default: DATA_ROOT/synthetic-streets, i.e. data/synthetic-streets)")
    parser.add_argument("--sequences", type=int, default=40, help="number of sequences (default 40)")
    parser.add_argument("--frames-per-sequence", type=int, default=20, help="frames per sequence (default 20)")
    parser.add_argument("--size", type=parse_size, default=(480, 264), help="WxH (default 480x264)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--defect-rate", type=float, default=0.04, help="fraction of frames with a defect (default 0.04)")
    parser.add_argument("--weather-rate", type=float, default=0.3, help="fraction of sequences with rain or fog (default 0.3)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder that is not an earlier output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        meta = generate_streets(args.out, args.sequences, args.frames_per_sequence, args.size, args.seed,
                                args.defect_rate, args.weather_rate, progress=not args.quiet, force=args.force)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    per_sequence = meta.drop_duplicates("sequence")
    width, height = args.size
    print(f"wrote {len(meta)} frames ({args.sequences} sequences × {args.frames_per_sequence}) "
          f"at {width}x{height} to {args.out} in {seconds:.1f} s")
    print("scenes (sequences):  " + ", ".join(f"{k} {v}" for k, v in per_sequence["scene"].value_counts().sort_index().items()))
    print("weather (sequences): " + ", ".join(f"{k} {v}" for k, v in per_sequence["weather"].value_counts().sort_index().items()))
    print("defects (frames):    " + ", ".join(f"{k} {v}" for k, v in meta["defect"].value_counts().sort_index().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
