"""Where the time of notebook 07's quick run goes, measured with the torch profiler.

    .venv/bin/python benchmarks/bench_quick_profile.py              # 20 training steps, the quick profile
    .venv/bin/python benchmarks/bench_quick_profile.py --steps 40 --threads 1

It builds what notebook 07 trains in the quick profile (the synthetic streets at 160×120, U-Net
base 16, channels-last, Adam, cross-entropy + Dice with median-frequency weights, batches of 8)
and profiles, phase by phase: loading a batch (decoded frames come from the cache, so this is the
DataLoader's own cost), the forward pass, the loss, the backward pass and the optimizer step, one
evaluation of the pseudo-test split (what `fit` does after every epoch) and the prediction of the
final checkpoint ensemble on the test split. The second table scales each phase to a whole 07
run of 40 epochs, the third lists the operators that take the most time. Needs `make data`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.config import get_profile  # noqa: E402
from helpers.datasets import build_manifest, class_counts, make_loader, split_by_sequence  # noqa: E402
from helpers.final_run import final_splits  # noqa: E402
from helpers.models import Ensemble, UNet  # noqa: E402
from helpers.recipe import Recipe  # noqa: E402
from helpers.train import evaluate  # noqa: E402

PHASES = ("data loading", "forward", "loss", "backward", "optimizer step")


def profile_training(steps: int, ensemble_size: int) -> tuple[dict[str, float], dict[str, float], object]:
    """Seconds per training phase and step, per evaluation pass and per ensemble prediction; the profiler."""
    quick = get_profile("quick")
    splits = final_splits("synthetic-streets", quick, split_by_sequence(build_manifest("synthetic-streets")))
    recipe = Recipe(optimizer="adam", lr=3e-3, schedule="onecycle", loss="ce+dice",
                    class_weights="median_frequency", batch_size=quick.batch_size, epochs=quick.epochs)
    torch.manual_seed(0)
    model = UNet(num_classes=9, base=quick.base).to(memory_format=torch.channels_last)
    loader = make_loader(splits.train_set, recipe.batch_size, shuffle=True, seed=0)
    optimizer, _ = recipe.build(model, steps_per_epoch=len(loader))
    loss_fn = recipe.make_loss(splits.train_set.class_map, class_counts(splits.train_set))
    monitor = make_loader(splits.monitor_set, recipe.batch_size, shuffle=False)
    test = make_loader(splits.test_set, recipe.batch_size, shuffle=False)
    batches = iter(loader)
    next(batches)  # the first batch starts the loader: not part of a step
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            with record_function("data loading"):
                try:
                    images, targets = next(batches)
                except StopIteration:
                    batches = iter(loader)
                    images, targets = next(batches)
            with record_function("forward"):
                logits = model(images.contiguous(memory_format=torch.channels_last))
            with record_function("loss"):
                loss = loss_fn(logits, targets)
            with record_function("backward"):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            with record_function("optimizer step"):
                optimizer.step()
        with record_function("evaluation (pseudo-test)"):
            evaluate(model, monitor, num_classes=9)
        with record_function("ensemble prediction (test)"):
            evaluate(Ensemble([model] * ensemble_size), test, num_classes=9)
    totals = {event.key: event.cpu_time_total / 1e6 for event in profiler.key_averages()}
    per_step = {phase: totals.get(phase, 0.0) / steps for phase in PHASES}
    once = {"evaluation (pseudo-test)": totals["evaluation (pseudo-test)"],
            "ensemble prediction (test)": totals["ensemble prediction (test)"],
            "steps per epoch": len(loader), "monitor frames": len(splits.monitor_set),
            "test frames": len(splits.test_set)}
    return per_step, once, profiler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps profiled")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--epochs", type=int, default=get_profile("quick").epochs, help="epochs of the run scaled to")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    per_step, once, profiler = profile_training(args.steps, ensemble_size=max(1, args.epochs // 4))
    step = sum(per_step.values())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.steps} steps profiled\n")
    print("| phase | ms per step | share of a step |\n| --- | --- | --- |")
    for phase, seconds in per_step.items():
        print(f"| {phase} | {1000 * seconds:.1f} | {seconds / step:.0%} |")
    print(f"| whole step | {1000 * step:.1f} | 100% |\n")
    training = step * once["steps per epoch"] * args.epochs
    evaluation = once["evaluation (pseudo-test)"] * args.epochs
    run = {"training steps": training, "evaluation after each epoch": evaluation,
           "ensemble prediction on test": once["ensemble prediction (test)"]}
    total = sum(run.values())
    print(f"A whole 07 run scaled from these: {args.epochs} epochs × {once['steps per epoch']} steps, "
          f"{once['monitor frames']} pseudo-test and {once['test frames']} test frames\n")
    print("| part of the run | seconds | share |\n| --- | --- | --- |")
    for part, seconds in run.items():
        print(f"| {part} | {seconds:.0f} | {seconds / total:.0%} |")
    print(f"| all | {total:.0f} | 100% |\n")
    print("Operators that take the most time (self CPU time, all phases):")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    print(f"({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
