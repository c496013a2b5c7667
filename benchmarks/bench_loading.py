"""Loading speed of the default data set at 160×120: decoding PNGs vs reading the uint8 cache.

Also times a DataLoader with 0 and 2 workers, from the cache with and without augmentation,
which is what `helpers.datasets.fit_num_workers` is based on. Data set folder: the first
argument, else data/synthetic-streets (make data). Quick: the first 400 frames.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("WORKBOOK_QUIET", "1")

import torch  # noqa: E402

from helpers.datasets import (  # noqa: E402
    DatasetMissingError,
    SegmentationDataset,
    build_manifest,
    dataset_dir,
    make_loader,
)

SIZE = (160, 120)
FRAMES = 400
BATCH = 16


def items_per_second(dataset: SegmentationDataset, count: int) -> float:
    """Items fetched one by one (as a loader without workers does), per second."""
    start = time.perf_counter()
    for index in range(count):
        dataset[index % len(dataset)]
    return count / (time.perf_counter() - start)


def loader_per_second(dataset: SegmentationDataset, workers: int, batches: int) -> float:
    """Images per second through a DataLoader (worker start-up included, as in one epoch)."""
    loader = make_loader(dataset, BATCH, shuffle=True, seed=0, num_workers=workers, device="cpu")
    start = time.perf_counter()
    seen = 0
    for images, _ in loader:
        seen += len(images)
        if seen >= batches * BATCH:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    try:
        root = dataset_dir("synthetic-streets", sys.argv[1] if len(sys.argv) > 1 else None)
    except DatasetMissingError as error:
        print(f"skipped: {error}")
        return
    torch.set_num_threads(1)
    manifest = build_manifest("synthetic-streets", root).iloc[:FRAMES]
    os.environ["WORKBOOK_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")  # a cold cache, thrown away
    warnings.simplefilter("ignore")  # the injected defects are reported; not the point here

    start = time.perf_counter()
    cached = SegmentationDataset(manifest, root, "gta9", SIZE, cache=True, progress=False)
    build = time.perf_counter() - start
    from_png = SegmentationDataset(manifest, root, "gta9", SIZE, cache=False, progress=False)
    augmented = SegmentationDataset(manifest, root, "gta9", SIZE, cache=True, augment=True, progress=False)
    cache_mb = sum(Path(p).stat().st_size for p in cached.cache_files) / 2**20

    print(f"data set: {root} ({len(cached)} usable frames of {len(manifest)}), size {SIZE[0]}×{SIZE[1]}, "
          f"{os.cpu_count()} CPU cores")
    print(f"cache built once in {build:.1f} s ({len(cached) / build:.0f} frames/s, threads), {cache_mb:.1f} MB\n")
    rows = [
        ("decode PNG + resize + class map", items_per_second(from_png, 200)),
        ("uint8 cache (memmap)", items_per_second(cached, 2000)),
        ("uint8 cache + augmentation", items_per_second(augmented, 500)),
    ]
    print(f"{'one item at a time':34s} {'images/s':>10s}")
    for name, rate in rows:
        print(f"{name:34s} {rate:10.0f}")
    print(f"\ncache vs PNG: {rows[1][1] / rows[0][1]:.0f}× faster\n")

    print(f"{'DataLoader, batch ' + str(BATCH):34s} {'workers':>8s} {'images/s':>10s}")
    for name, dataset, batches in (("cache", cached, 20), ("cache + augmentation", augmented, 20),
                                   ("PNG", from_png, 8)):
        for workers in (0, 2):
            print(f"{name:34s} {workers:8d} {loader_per_second(dataset, workers, batches):10.0f}")


if __name__ == "__main__":
    main()
