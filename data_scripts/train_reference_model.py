"""Train the reference model that notebooks 07 and 09 show beside the reader's own run.

    python data_scripts/train_reference_model.py                      # data/synthetic-streets, quick size
    python data_scripts/train_reference_model.py --epochs 100 --out models/reference-unet-quick.pt

It runs notebook 01's cleaning checks and sequence split (seed 0), then trains the quick profile's
U-Net on the same frames as notebook 07 (train + val, the profile's cap, 07's augmentation, which
the model records field by field) for 100 epochs by default (twice the quick profile's 50 in notebook 07), with
Adam and a OneCycle schedule, cross-entropy plus soft Dice with median-frequency class weights. The
last epoch's weights are stored in half precision (about 4 MB) together with the recipe, the
sequences it trained on and its scores on the pseudo-test and test splits, so that
`helpers.train.load_model` rebuilds it anywhere; `helpers.reference` reads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import torch  # noqa: E402

from helpers.cleaning import clean_manifest, run_checks  # noqa: E402
from helpers.config import REPO_ROOT, data_root, get_profile, seed_everything  # noqa: E402
from helpers.datasets import (  # noqa: E402
    build_manifest,
    class_counts,
    dataset_dir,
    get_spec,
    make_loader,
    split_by_sequence,
)
from helpers.final_run import FINAL_AUGMENT, final_splits  # noqa: E402
from helpers.models import UNet  # noqa: E402
from helpers.recipe import Recipe  # noqa: E402
from helpers.train import evaluate, fit, save_model  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "models" / "reference-unet-quick.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="synthetic-streets")
    parser.add_argument("--data", type=Path, default=None, help="data root (default: data/ or $WORKBOOK_DATA)")
    parser.add_argument("--profile", default="quick", help="image size and U-Net width of this profile")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's peak learning rate of the OneCycle schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="checkpoint folder (default: runs/reference)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    profile = get_profile(args.profile)
    if args.data:
        os.environ["WORKBOOK_DATA"] = str(args.data)  # final_splits reads the data root from there
    root = args.data or data_root()
    folder = dataset_dir(args.dataset, root)
    report = run_checks(folder, build_manifest(args.dataset, root), dataset=args.dataset)
    table = split_by_sequence(clean_manifest(report), seed=0, keep_test=not get_spec(args.dataset).sequences)
    splits = final_splits(args.dataset, profile, table, augment=True)  # what notebook 07 trains on, augmented
    train_set, monitor_set, test_set = splits.train_set, splits.monitor_set, splits.test_set
    class_map = train_set.class_map
    recipe = Recipe(optimizer="adam", lr=args.lr, schedule="onecycle", loss="ce+dice",
                    class_weights="median_frequency", batch_size=profile.batch_size, epochs=args.epochs)
    print(f"{len(train_set)} training frames; {recipe.describe()}")

    seed_everything(args.seed)
    model = UNet(num_classes=class_map.num_classes, base=profile.base)
    loader = make_loader(train_set, recipe.batch_size, shuffle=True, seed=args.seed)
    monitor = make_loader(monitor_set, recipe.batch_size, shuffle=False)
    optimizer, schedule = recipe.build(model, steps_per_epoch=len(loader))
    loss = recipe.make_loss(class_map, class_counts(train_set))
    work = args.work or REPO_ROOT / "runs" / "reference"
    history = fit(model, loader, monitor, loss, optimizer, schedule, epochs=recipe.epochs, run_dir=work, channels_last=True,
                  config={"recipe": recipe.to_dict(), "seed": args.seed})
    model = model.to(memory_format=torch.contiguous_format).eval()
    scores = {name: evaluate(model, make_loader(split, recipe.batch_size, shuffle=False))
              for name, split in (("pseudo_test", monitor_set), ("test", test_set))}
    model.half()  # half-precision storage: about 4 MB; load_model copies the weights back into float32
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, args.out, recipe=recipe.to_dict(), dataset=args.dataset, profile=profile.name,
               image_size=list(profile.image_size), class_names=list(class_map.class_names),
               train_frames=len(train_set), epochs=recipe.epochs, seed=args.seed, augment=dataclasses.asdict(FINAL_AUGMENT),
               train_sequences=sorted({str(v) for v in train_set.manifest["sequence"]}),
               test_miou=scores["test"]["miou"], pseudo_test_miou=scores["pseudo_test"]["miou"],
               trained_on=time.strftime("%Y-%m-%d"),
               seconds=round(sum(epoch["seconds"] for epoch in history.epochs)))  # all epochs, resumed or not
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): test mIoU {scores['test']['miou']:.3f}, "
          f"pseudo-test mIoU {scores['pseudo_test']['miou']:.3f}, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
