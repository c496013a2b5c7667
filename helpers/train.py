"""The training engine: `fit` with checkpoints and exact resume, `evaluate`, `predict`, model files.

`fit` trains for a number of epochs and writes, after every epoch, `run_dir/last.pt` (everything
needed to continue: model, optimizer, scheduler, AMP scaler, history, random-number states) and
`run_dir/best.pt` whenever the monitored validation metric improves. A run that is stopped and
started again with `resume=True` continues from `last.pt` and, on the CPU, ends with the same
losses as a run that was never stopped.

How the data order is made exact on resume: the random state of every generator that decides
the order of the batches is saved at the end of each epoch and put back on resume. That is the
DataLoader's own `torch.Generator` (what `helpers.datasets.make_loader` passes, shared with its
RandomSampler) and, for a loader built without one, torch's global generator, from which the
sampler then draws. The shuffle order of epoch k+1 therefore only depends on the state after
epoch k, whether that state came from memory or from `last.pt`. Augmentation drawn in the main
process (num_workers=0) or in workers started each epoch follows the same states; persistent
workers keep random states of their own that no checkpoint can hold (a note says so on resume).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm.auto import tqdm

from helpers import distributed
from helpers.classes import ClassMap, classes_of, get_class_map
from helpers.config import is_quiet, pick_device
from helpers.metrics import ConfusionMatrix
from helpers.optim import Schedule, as_schedule, current_lr

EPOCH_COLUMNS = ["epoch", "train_loss", "val_loss", "pixel_accuracy", "miou", "lr", "seconds", "skipped"]
BATCH_COLUMNS = ["step", "epoch", "loss", "lr"]
MONITORS = ("miou", "pixel_accuracy", "val_loss", "train_loss")
MODEL_FORMAT = "unet-workbook-model"
CHECKPOINT_FORMAT = "unet-workbook-checkpoint"
DIVERGENCE_FACTOR = 10.0  # an epoch's mean training loss this many times the loss at the start: diverged


# ----------------------------------------------------------------------------- history


@dataclass
class History:
    """What happened during `fit`: one dict per epoch and one per batch, plus the best epoch.

    `epochs` rows hold epoch (1-based), train_loss, val_loss, pixel_accuracy, miou (NaN without a
    validation loader), lr (at the start of the epoch), seconds and skipped (non-finite batches).
    `batches` rows hold step (1-based, over the whole run), epoch, loss and lr of that batch.
    """

    epochs: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)
    skipped_batches: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    monitor: str = "miou"
    stopped_early: bool = False
    averaged: dict | None = None  # the averaged weights (fit's average_from): epochs and validation scores

    def to_frame(self) -> pd.DataFrame:
        """The per-epoch table."""
        return pd.DataFrame(self.epochs, columns=EPOCH_COLUMNS)

    def batches_frame(self) -> pd.DataFrame:
        """The per-batch table."""
        return pd.DataFrame(self.batches, columns=BATCH_COLUMNS)

    def save_csv(self, path: str | Path, batches_path: str | Path | None = None) -> Path:
        """Write the epoch table to `path` and the batch table to `batches_path`.

        `batches_path` defaults to `batches.csv` beside `path`.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        batches_path = path.parent / "batches.csv" if batches_path is None else Path(batches_path)
        _atomic_write_csv(self.to_frame(), path)
        _atomic_write_csv(self.batches_frame(), batches_path)
        return path

    def to_dict(self) -> dict:
        """Plain python values only, so a checkpoint holding it loads with weights_only=True."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, state: dict) -> History:
        """Rebuild a History from `to_dict()`."""
        return cls(**state)


def load_history(path: str | Path) -> History:
    """The History stored in a run folder's `last.pt` (or in the checkpoint file `path`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    checkpoint = _load_file(path)
    if not isinstance(checkpoint, dict) or "history" not in checkpoint:
        raise ValueError(f"{path} is not a training checkpoint (no history); use a run folder's last.pt")
    return History.from_dict(checkpoint["history"])


# ----------------------------------------------------------------------------- run folders

RUN_CONFIG_FILE = "run.json"


def config_digest(config: dict, length: int = 10) -> str:
    """A short, stable fingerprint of a plain-value config: the same settings give the same name."""
    text = json.dumps(_plain(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def claim_run_dir(folder: str | Path, config: dict, advice: str) -> Path:
    """Make `folder` the home of the run described by `config`, or refuse if it holds another run.

    The first call writes `run.json` (the config, atomically); later calls compare with it. A
    folder that belongs to other settings raises ValueError with the differing fields only and
    `advice` (say, which notebook parameter to change).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_CONFIG_FILE
    config = _plain(config)
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} is not readable ({error}): {advice}.") from error
        differs = config_differences(stored, config)
        if differs:
            raise ValueError(f"{folder} holds a run with other settings: {advice}. It differs in "
                             f"{'; '.join(differs)}")
        return folder
    if (folder / "last.pt").exists():
        raise ValueError(f"{folder} holds a checkpoint without {RUN_CONFIG_FILE}, so its settings are unknown: "
                         f"{advice}.")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(config, indent=1, sort_keys=True))
    os.replace(temporary, path)
    return folder


def checkpoint_progress(folder: str | Path) -> tuple[int, bool]:
    """(epochs trained, finished early) of the run in `folder`; (0, False) when it holds no checkpoint."""
    path = Path(folder) / "last.pt"
    if not path.exists():
        return 0, False
    history = load_history(path)
    return len(history.epochs), history.stopped_early


# ----------------------------------------------------------------------------- fit


@dataclass
class _Counters:
    """Training state that is neither model nor optimizer: kept in the checkpoint too."""

    epochs_since_best: int = 0
    bad_in_row: int = 0


def fit(
    model: nn.Module,
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader | None,
    loss: nn.Module | Callable,
    optimizer: torch.optim.Optimizer,
    scheduler: Schedule | None = None,
    *,
    epochs: int,
    device: str | torch.device = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = True,
    class_map: ClassMap | str | int | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    amp: bool | str = False,
    channels_last: bool = False,
    grad_clip: float | None = None,
    early_stopping: int | None = None,
    monitor: str = "miou",
    max_bad_batches: int = 5,
    progress: bool | None = None,
    config: dict | None = None,
    average_from: int | None = None,
    snapshots_from: int | None = None,
    keep_snapshots: int | None = None,
    compile: bool = False,
    preview_frames: int = 3,
) -> History:
    """Train `model` for `epochs` epochs, validating after each; return the History.

    The scheduler (from `helpers.optim.make_scheduler`) is stepped by its own rule: per batch,
    per epoch, or per epoch on the validation metric. With `run_dir`, `last.pt`, `best.pt`,
    `history.csv` and `batches.csv` are written after every epoch, and `resume=True` continues
    from `last.pt`. A batch whose loss is NaN or inf is skipped; `max_bad_batches` of them in a
    row stop training with advice. `early_stopping=k` stops after k epochs without improvement of
    `monitor` ("miou", "pixel_accuracy", "val_loss" or "train_loss"). `amp=True` uses bf16 (or
    fp16 with a GradScaler) on CUDA and bf16 on CPUs that compute it natively; `amp="auto"` does so
    wherever it pays and stays in float32 elsewhere (see `autocast_dtype`). `loss` is any callable (logits, target) -> scalar; targets
    may be class indices N×H×W or one-hot N×C×H×W (metrics then use their argmax).
    `config` (plain values) is stored in the checkpoints: a resume whose config, optimizer class,
    scheduler or monitor differs is refused. Resuming restores the optimizer's own state, its
    learning rate included; to change hyper-parameters, start again (resume=False) or use
    another run_dir.
    `average_from=k` also keeps the mean of the weights after each epoch from epoch k on
    (stochastic weight averaging, `torch.optim.swa_utils`): a model between the points that a
    cycling learning rate visits. At the end its batch-norm statistics are recomputed on the
    training data, its validation scores go to `history.averaged`, and it is written to
    `run_dir/averaged.pt`.
    `snapshots_from=k` writes the model after each epoch from epoch k on to
    `run_dir/snapshots/epoch_NNN.pt` (see `load_snapshots`): the members of a snapshot ensemble,
    whose averaged predictions vary less from epoch to epoch than any single one.
    `keep_snapshots=n` keeps only the newest n of them (a rolling window: with early stopping the
    last n epochs that were run, wherever the run stops).
    `compile=True` trains through `torch.compile(model)` (faster on GPUs after a first slow epoch);
    the files hold the plain model's weights either way.
    Under torchrun (`helpers.distributed`) the model trains wrapped in DistributedDataParallel:
    give it loaders built with `make_loader(..., shard=True)`; losses and metrics are summed over
    the processes (every process holds the same history) and only the main process writes files.
    With tensorboard installed, `run_dir/tensorboard` receives the scalars of every epoch and the
    predictions on the first `preview_frames` validation frames, in the class map's colours.
    Called again on a finished run (all epochs done, or stopped early), `fit` trains nothing and
    returns the stored history, the averaged weights' scores included.
    The classes come from the training data set's class map (`train_loader.dataset.class_map`), or
    from `class_map` (or `num_classes` and `ignore_index`): the validation metrics use its number
    of classes and ignore index, and every file fit writes stores the class map and the image size
    (`model.class_map`, `model.image_size`), so `load_model` and `predict` need nothing else.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if average_from is not None and average_from < 1:
        raise ValueError(f"average_from must be an epoch number >= 1 (or None), got {average_from}")
    if snapshots_from is not None and (snapshots_from < 1 or run_dir is None):
        raise ValueError(f"snapshots_from must be an epoch number >= 1 and needs a run_dir, got {snapshots_from} "
                         f"with run_dir={run_dir}")
    if keep_snapshots is not None and (keep_snapshots < 1 or snapshots_from is None):
        raise ValueError(f"keep_snapshots must be >= 1 and goes with snapshots_from, got {keep_snapshots}")
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    schedule = as_schedule(scheduler)
    quiet = (is_quiet() if progress is None else not progress) or not distributed.is_main()
    class_map, num_classes, ignore_index = resolve_classes(class_map, num_classes, ignore_index, train_loader)
    remember_data(model, class_map, train_loader)
    monitor = _check_monitor(monitor, val_loader, quiet)
    _check_schedule(schedule, val_loader, train_loader, epochs)

    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if isinstance(loss, nn.Module):
        loss.to(device)
    amp_dtype = _amp_dtype(amp, device)
    net = _training_module(model, device, compile)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    averaged = AveragedModel(model) if average_from is not None else None

    run_dir = Path(run_dir) if run_dir is not None else None
    setup = {
        "optimizer": type(optimizer).__name__,
        "scheduler": schedule.name,
        "monitor": monitor,
        "config": _plain(_without_epochs(config)),
        "average_from": average_from,
    }
    history, counters, start_epoch = History(monitor=monitor), _Counters(), 0
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        last = run_dir / "last.pt"
        if resume and last.exists():
            checkpoint = _load_checkpoint(last)
            _check_resume(checkpoint, setup, last)
            load_weights(model, checkpoint["model"], last, checkpoint.get("model_config"))
            _load_optimizer(optimizer, checkpoint["optimizer"], last)
            schedule.load_state_dict(checkpoint["scheduler"])
            if scaler is not None and checkpoint["scaler"]:
                scaler.load_state_dict(checkpoint["scaler"])
            history = History.from_dict(checkpoint["history"])
            if averaged is not None and checkpoint.get("averaged"):
                averaged.load_state_dict(checkpoint["averaged"])
            counters = _Counters(**checkpoint["counters"])
            start_epoch = int(checkpoint["epoch"])
            set_rng_state(_rng_of_this_process(checkpoint), train_loader)
            _note(f"resuming from {last} after epoch {start_epoch}", quiet)
            if getattr(train_loader, "persistent_workers", False) and train_loader.num_workers > 0:
                _note("note: persistent DataLoader workers keep random states that a checkpoint cannot hold, "
                      "so augmentation after this resume may differ from an uninterrupted run "
                      "(num_workers=0 makes resume exact)", quiet)

    finished_before = start_epoch >= epochs or history.stopped_early
    if snapshots_from is not None and distributed.is_main():
        _remove_snapshots_after(run_dir, start_epoch)
    writer = None if finished_before or not distributed.is_main() else _tensorboard_writer(run_dir)
    shown = val_loader if val_loader is not None else train_loader
    preview = _preview_batch(shown, preview_frames) if writer is not None else None
    writes = run_dir is not None and distributed.is_main()
    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            if history.stopped_early:
                break
            started = time.perf_counter()
            distributed.set_epoch(train_loader, epoch)
            record = _train_one_epoch(
                net, train_loader, loss, optimizer, schedule, scaler, amp_dtype, device,
                channels_last, grad_clip, max_bad_batches, history, counters, epoch, quiet, model,
            )
            _check_divergence(record, history)  # before anything is saved from this epoch
            distributed.share_buffers(model)  # every process evaluates and saves the main one's statistics
            if val_loader is not None:
                metrics = _evaluate(model, val_loader, num_classes, device, loss, ignore_index, amp_dtype, channels_last)
                record.update(val_loss=metrics["loss"], pixel_accuracy=metrics["pixel_accuracy"], miou=metrics["miou"])
            record["seconds"] = time.perf_counter() - started
            history.epochs.append(_plain(record))
            schedule.step("epoch", metric=record.get(schedule.monitor) if schedule.monitor else None)
            _update_best(model, history, counters, record, monitor, early_stopping, run_dir if writes else None,
                         config)
            if averaged is not None and epoch >= average_from:
                averaged.update_parameters(model)
            if snapshots_from is not None and epoch >= snapshots_from and writes:
                save_model(model, snapshot_path(run_dir, epoch), epoch=epoch, config=_plain(config),
                           **{key: record[key] for key in ("val_loss", "pixel_accuracy", "miou") if key in record})
                if keep_snapshots is not None:
                    _remove_snapshots_before(run_dir, epoch - keep_snapshots + 1)
            states = distributed.gather_objects(rng_state(train_loader)) if run_dir is not None else None
            if writes:
                _save_checkpoint(run_dir, model, optimizer, schedule, scaler, history, counters, epoch,
                                 setup, config, train_loader, averaged, states)
                history.save_csv(run_dir / "history.csv")
            _log_tensorboard(writer, record, model, preview, class_map, device, channels_last)
            distributed.barrier()  # the files of this epoch are written before any process goes on
            _note(_epoch_summary(record, epochs), quiet)
    finally:
        if writer is not None:
            writer.close()
    if finished_before:
        _note(f"{run_dir / 'last.pt'} holds a finished run ({start_epoch} epochs"
              + (", stopped early" if history.stopped_early else "") + "): nothing to train", quiet)
        stored = run_dir / "averaged.pt"
        if averaged is not None and stored.exists():
            history.averaged = _load_file(stored)["extra"].get("averaged")
            return history
    if averaged is not None and int(averaged.n_averaged) > 0:
        history.averaged = _finish_average(averaged, average_from, train_loader, val_loader, loss, num_classes,
                                           ignore_index, device, channels_last, run_dir, config)
        _note(f"averaged weights of epochs {history.averaged['from_epoch']}–{history.averaged['to_epoch']}: " + ", ".join(
            f"{key} {history.averaged[key]:.4f}" for key in ("val_loss", "pixel_accuracy", "miou")
            if key in history.averaged), quiet)
    return history


def _finish_average(averaged, average_from, train_loader, val_loader, loss_fn, num_classes, ignore_index, device,
                    channels_last, run_dir, config) -> dict:
    """Batch-norm statistics for the averaged weights, their validation scores, and averaged.pt.

    The statistics come from one pass over the training frames in order; torch's random state is
    restored afterwards, so this pass changes nothing for a run that continues or resumes.
    """
    frames = torch.utils.data.DataLoader(train_loader.dataset, batch_size=train_loader.batch_size)
    with torch.random.fork_rng(devices=[]):
        update_bn((move_batch(batch, device, channels_last)[0] for batch in frames), averaged)
    epochs_averaged = int(averaged.n_averaged)
    summary = {"from_epoch": int(average_from), "to_epoch": int(average_from) + epochs_averaged - 1,
               "epochs_averaged": epochs_averaged}
    if val_loader is not None:
        metrics = _evaluate(averaged.module, val_loader, num_classes, device, loss_fn, ignore_index, None,
                            channels_last)
        summary.update(val_loss=metrics["loss"], pixel_accuracy=metrics["pixel_accuracy"], miou=metrics["miou"])
    if run_dir is not None and distributed.is_main():
        save_model(averaged.module, run_dir / "averaged.pt", averaged=_plain(summary), config=_plain(config))
    distributed.barrier()
    return summary


def snapshot_path(run_dir: str | Path, epoch: int) -> Path:
    """Where `fit(..., snapshots_from=k)` writes the model of `epoch`."""
    return Path(run_dir) / "snapshots" / f"epoch_{epoch:03d}.pt"


def _remove_snapshots_before(run_dir: Path, epoch: int) -> None:
    """Delete snapshots of epochs before `epoch`: they fell out of the rolling window."""
    for path in sorted((run_dir / "snapshots").glob("epoch_*.pt")):
        if int(path.stem.split("_")[1]) < epoch:
            path.unlink()


def _remove_snapshots_after(run_dir: Path, epoch: int) -> None:
    """Delete snapshots of epochs after `epoch`: they belong to an earlier run, not to this one."""
    for path in sorted((run_dir / "snapshots").glob("epoch_*.pt")):
        if int(path.stem.split("_")[1]) > epoch:
            path.unlink()


def load_snapshots(run_dir: str | Path, epochs: Sequence[int] | None = None,
                   map_location: str | torch.device = "cpu") -> nn.Module:
    """The snapshot ensemble of `epochs` (default: every snapshot in run_dir) as one model.

    Its output is the log of the members' mean class probabilities, so `evaluate`, `predict`,
    `save_model` and `load_model` treat it like any other model.
    """
    from helpers.models import Ensemble

    folder = Path(run_dir) / "snapshots"
    if epochs is None:
        paths = sorted(folder.glob("epoch_*.pt"))
    else:
        paths = [snapshot_path(run_dir, epoch) for epoch in epochs]
    missing = [str(path) for path in paths if not path.exists()]
    if not paths or missing:
        raise FileNotFoundError(f"no snapshot at {', '.join(missing) or folder / 'epoch_*.pt'}: "
                                "train with fit(..., run_dir=..., snapshots_from=k) first")
    members = [load_model(path, map_location) for path in paths]
    ensemble = Ensemble(members).eval()
    ensemble.checkpoint_extra = {"epochs": [int(member.checkpoint_extra["epoch"]) for member in members]}
    ensemble.class_map, ensemble.image_size = members[0].class_map, members[0].image_size
    return ensemble


def _train_one_epoch(
    model, loader, loss_fn, optimizer, schedule, scaler, amp_dtype, device, channels_last,
    grad_clip, max_bad_batches, history, counters, epoch, quiet, plain_model=None,
) -> dict:
    """One pass over the training loader; returns the epoch's record (train_loss, lr, skipped).

    `model` is what trains (maybe compiled or wrapped in DistributedDataParallel), `plain_model`
    the module itself. Under torchrun every batch's loss is the mean over the processes, and a
    batch is skipped on every process when its loss is not finite on one.
    """
    plain_model = model if plain_model is None else plain_model
    model.train()
    total, count, skipped, float32_loss, inputs_finite = 0.0, 0, 0, None, True
    record = {"epoch": epoch, "train_loss": math.nan, "val_loss": math.nan, "pixel_accuracy": math.nan,
              "miou": math.nan, "lr": current_lr(optimizer)}
    running = _running_statistics(plain_model)
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=quiet)
    for batch in bar:
        images, targets = move_batch(batch, device, channels_last)
        lr = current_lr(optimizer)
        optimizer.zero_grad(set_to_none=True)
        saved = _copies(running)  # the forward pass below updates them, whether or not the batch is kept
        with _oom_advice(images):
            with _autocast(device, amp_dtype):
                logits = model(images)
                check_targets(targets, max(2, logits.shape[1]), loader, loss_fn)
                batch_loss = loss_fn(logits, targets)
            value, finite = _loss_over_processes(batch_loss)
            if finite:
                finite = _backward_and_step(model, batch_loss, optimizer, scaler, grad_clip)
        history.batches.append({"step": len(history.batches) + 1, "epoch": epoch, "loss": value, "lr": lr})
        if not finite:
            optimizer.zero_grad(set_to_none=True)
            _copy_back(running, saved)  # a NaN running average would stay NaN and poison evaluation mode
            skipped += 1
            history.skipped_batches += 1
            counters.bad_in_row += 1
            if amp_dtype is not None:
                float32_loss = _float32_loss(plain_model, loss_fn, images, targets)
            inputs_finite = not images.is_floating_point() or bool(torch.isfinite(images).all())
            if counters.bad_in_row >= max_bad_batches:
                raise RuntimeError(_nan_advice(counters.bad_in_row, epoch, len(history.batches), value,
                                               amp_dtype=amp_dtype, float32_loss=float32_loss,
                                               inputs_finite=inputs_finite))
            continue
        counters.bad_in_row = 0
        total += float(batch_loss.detach()) * images.shape[0]
        count += images.shape[0]
        schedule.step("batch")
        bar.set_postfix(loss=f"{total / count:.4f}")
    if not count:  # nothing was learnt in this epoch: its scores would be those of the weights before it
        if not skipped:
            raise ValueError("the training loader gave no batch: check the split, max_images and drop_last")
        raise RuntimeError(_nan_advice(skipped, epoch, len(history.batches), value, whole_epoch=True,
                                       amp_dtype=amp_dtype, float32_loss=float32_loss, inputs_finite=inputs_finite))
    total, count = (float(v) for v in distributed.sum_over_processes(torch.tensor([total, float(count)],
                                                                                      dtype=torch.float64)))
    record["train_loss"] = total / count
    record["skipped"] = skipped
    return record


def _check_divergence(record: dict, history: History) -> None:
    """Stop a run whose mean training loss rose DIVERGENCE_FACTOR times above the loss at the start.

    The start is the first finite batch loss of the run, or 1 when it is smaller (a fine-tuned
    model may start near 0, and a rise from 0.01 to 0.2 is no divergence).
    """
    start = next((batch["loss"] for batch in history.batches if math.isfinite(batch["loss"])), None)
    loss = record["train_loss"]
    if start is not None and loss > DIVERGENCE_FACTOR * max(start, 1.0):
        raise RuntimeError(
            f"training stopped: the mean training loss of epoch {record['epoch']} was {loss:.4g}, more than "
            f"{DIVERGENCE_FACTOR:g}x the loss at the start ({start:.4g}, counted as at least 1): the run diverged, "
            f"and nothing of this epoch was saved. {_ADVICE}"
        )


def check_targets(targets: torch.Tensor, classes: int, loader=None, loss_fn=None,
                  ignore_index: int | None = None) -> None:
    """ValueError naming the class map and the values found when integer targets hold no class of the model.

    A target must be a class index below `classes` (the model's outputs), or the ignore index (of
    `ignore_index`, the loss, or the data set's class map). One-hot (float) targets are not checked.
    """
    if targets.is_floating_point():
        return
    class_map = getattr(getattr(loader, "dataset", None), "class_map", None)
    ignored = {value for value in (ignore_index, getattr(loss_fn, "ignore_index", None),  # -100: torch's "none"
                                   getattr(class_map, "ignore_index", None)) if value is not None and value >= 0}
    bad = targets >= classes
    for value in ignored:
        bad &= targets != value
    if not bool(bad.any()):
        return
    values = torch.unique(targets[bad]).tolist()
    shown = ", ".join(str(v) for v in values[:8]) + (" …" if len(values) > 8 else "")
    source = (f" The data set's class map {class_map.name!r} has {class_map.num_classes} classes"
              f"{f' (ignore index {class_map.ignore_index})' if class_map.ignore_index is not None else ''}."
              if class_map is not None else "")
    raise ValueError(
        f"the targets hold class values {shown}, but the model predicts {classes} classes (0 to {classes - 1}"
        f"{', plus the ignore index ' + ', '.join(map(str, sorted(ignored))) if ignored else ''}).{source} Build the "
        f"model with num_classes equal to the class map's number of classes, or load the labels with the class "
        f"map the model was built for (load_dataset(..., classes=...))."
    )


def _backward_and_step(model, batch_loss, optimizer, scaler, grad_clip) -> bool:
    """Back-propagate and step; False (no step) when clipping finds a non-finite gradient norm."""
    if scaler is not None:
        scaler.scale(batch_loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)  # the scaler itself skips steps with inf gradients
        scaler.update()
        return True
    batch_loss.backward()
    if grad_clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if not torch.isfinite(norm):
            return False
    optimizer.step()
    return True


def _update_best(model, history, counters, record, monitor, early_stopping, run_dir, config) -> None:
    """Track the best epoch by `monitor`, write best.pt when it improves, decide early stopping."""
    value, best = record[monitor], history.best_value
    if best is None:
        better = math.isfinite(value)
    else:
        better = value < best if "loss" in monitor else value > best
    if better:
        history.best_epoch, history.best_value = record["epoch"], float(value)
        counters.epochs_since_best = 0
        if run_dir is not None:
            save_model(model, run_dir / "best.pt", epoch=record["epoch"], monitor=monitor, value=float(value),
                       config=_plain(config))
    else:
        counters.epochs_since_best += 1
    if early_stopping is not None and counters.epochs_since_best >= early_stopping:
        history.stopped_early = True


def _check_monitor(monitor: str, val_loader, quiet: bool) -> str:
    """Validate the monitored key; without a validation loader only train_loss can be monitored."""
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if val_loader is None and monitor != "train_loss":
        _note(f"note: no val_loader, so the best epoch and early stopping follow train_loss, not {monitor}", quiet)
        return "train_loss"
    return monitor


def _check_schedule(schedule: Schedule, val_loader, train_loader, epochs: int) -> None:
    """Fail early when the schedule cannot run: a metric schedule needs validation, OneCycle enough steps."""
    if schedule.step_on == "metric" and schedule.monitor != "train_loss" and val_loader is None:
        raise ValueError(f"the {schedule.name!r} schedule reacts to {schedule.monitor!r}: pass a val_loader")
    if schedule.total_steps is not None:
        with contextlib.suppress(TypeError):
            needed = epochs * len(train_loader)
            if needed > schedule.total_steps:
                raise ValueError(
                    f"the {schedule.name!r} schedule was built for {schedule.total_steps} batch steps but "
                    f"fit will run up to {needed}: build it with epochs={epochs}, "
                    f"steps_per_epoch=len(train_loader)={len(train_loader)}"
                )


def _check_resume(checkpoint: dict, setup: dict, path: Path) -> None:
    """Refuse to continue a checkpoint written by a different optimizer, scheduler, monitor or config.

    The message lists only the fields that differ (nested config keys as dotted names).
    """
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint of this workbook; delete it or use another run_dir")
    saved = dict(checkpoint.get("setup", {}))
    if saved.get("config") is None or setup["config"] is None:
        saved["config"] = setup["config"]  # a run without a config is not compared on it
    differs = config_differences(saved, setup)
    if differs:
        raise ValueError(
            f"{path} belongs to a different run ({'; '.join(differs)}). Pass resume=False to start again "
            "(it overwrites the checkpoint) or choose another run_dir."
        )


def config_differences(before: dict, now: dict, prefix: str = "", limit: int = 6) -> list[str]:
    """The fields in which two nested configs differ, as "key: old there, new now" (at most `limit`).

    Long values (lists of frame ids, say) are shortened, so a message stays one line.
    """
    lines: list[str] = []
    for key in sorted(set(before) | set(now), key=str):
        old, new = before.get(key), now.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            lines += config_differences(old, new, prefix=f"{name}.", limit=limit)
        elif old != new:
            lines.append(f"{name}: {_shorten(old)} there, {_shorten(new)} now")
    if len(lines) > limit:
        lines = lines[:limit] + [f"and {len(lines) - limit} more"]
    return lines


def _shorten(value, width: int = 40) -> str:
    text = repr(value)
    if isinstance(value, (list, tuple)) and len(text) > width:
        return f"[{len(value)} values]"
    return text if len(text) <= width else text[: width - 1] + "…"


def _without_epochs(config: dict | None) -> dict | None:
    """The config without "epochs", so a finished run can be extended by asking for more epochs."""
    return None if config is None else {key: value for key, value in config.items() if key != "epochs"}


_ADVICE = ("Try: a lower learning rate (10x smaller), gradient clipping (grad_clip=1.0), checking the labels "
           "(every target must be a class index below num_classes or the ignore index), and amp=False if fp16 "
           "mixed precision is on.")


_INPUT_ADVICE = ("The last of these batches holds NaN or inf in its input images (torch.isfinite(images) is False "
                 "somewhere): the data is the cause, not the optimizer. Check the normalisation statistics (a standard "
                 "deviation of 0 gives (x - mean) / 0) and the files the batch came from.")


def _nan_advice(count: int, epoch: int, step: int, value: float, whole_epoch: bool = False,
               amp_dtype: torch.dtype | None = None, float32_loss: float | None = None,
               inputs_finite: bool = True) -> str:
    """Why training stopped on non-finite losses, and what to try; input images that hold NaN or inf are named first."""
    if whole_epoch:
        where = f"in every one of the {count} batches of epoch {epoch}" if count > 1 else f"in the only batch of epoch {epoch}"
    else:
        where = (f"for {count} batches in a row" if count > 1 else "for 1 batch") + f" (epoch {epoch}, step {step})"
    cause = ""
    if amp_dtype is not None and float32_loss is not None:
        precision = str(amp_dtype).replace("torch.", "")
        cause = (f" The last of these batches, run again in float32, gives a finite loss ({float32_loss:.4g}): mixed "
                 f"precision ({precision}) is the cause. Train with amp=False (--amp off), or keep AMP with a lower "
                 f"learning rate or grad_clip=1.0." if math.isfinite(float32_loss) else
                 f" The last of these batches gives a non-finite loss in float32 too: mixed precision ({precision}) "
                 f"is not the cause.")
    if not inputs_finite:
        return f"training stopped: the loss was {value} (not finite) {where}. {_INPUT_ADVICE}"
    return f"training stopped: the loss was {value} (not finite) {where}.{cause} {_ADVICE}"


def _float32_loss(model, loss_fn, images, targets) -> float:
    """The loss of one batch without autocast and without gradients: tells whether AMP made it non-finite.

    The model stays in training mode (the same computation as the failed step); its batch-norm
    statistics are put back afterwards, so this second look changes nothing.
    """
    buffers = list(model.buffers())
    saved = _copies(buffers)
    try:
        with torch.no_grad():
            return float(loss_fn(model(images), targets))
    finally:
        _copy_back(buffers, saved)


def _running_statistics(model: nn.Module) -> list[torch.Tensor]:
    """The buffers a forward pass in training mode changes: the running mean, variance and batch count of
    every normalisation layer that tracks them (batch norm; instance norm with track_running_stats)."""
    return [buffer for module in model.modules() if getattr(module, "track_running_stats", False)
            for buffer in module.buffers(recurse=False)]


def _copies(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies of `tensors`, to put back with `_copy_back`."""
    return [tensor.detach().clone() for tensor in tensors]


def _copy_back(tensors: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
    """Write the copies of `_copies` back into the tensors, in place."""
    with torch.no_grad():
        for tensor, copy in zip(tensors, saved):
            tensor.copy_(copy)


def _loss_over_processes(batch_loss: torch.Tensor) -> tuple[float, bool]:
    """(the batch loss, finite?): alone its own value; under torchrun the mean over the processes, and
    finite only when it is finite on every one (so that all of them step, or all skip)."""
    value = batch_loss.detach().float()
    if not distributed.is_distributed():
        return float(value), bool(torch.isfinite(value))
    finite = torch.isfinite(value)
    both = torch.stack([torch.where(finite, value, torch.zeros_like(value)), (~finite).float()])
    both = distributed.sum_over_processes(both)
    if float(both[1]) > 0:
        return math.nan, False
    return float(both[0]) / distributed.world_size(), True


@contextlib.contextmanager
def _oom_advice(images: torch.Tensor):
    """Re-raise CUDA out-of-memory with what to change."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        n, _, height, width = images.shape
        raise torch.cuda.OutOfMemoryError(
            f"the GPU ran out of memory on a batch of {n} images of {width}x{height}. Try a smaller "
            f"batch size (e.g. {max(1, n // 2)}), a smaller image size (the profile's image_size), "
            f"amp=True (half-precision activations) or a narrower model (smaller base). ({error})"
        ) from error


# ----------------------------------------------------------------------------- devices and AMP


def _amp_dtype(amp: bool | str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `fit(amp=...)` (see `autocast_dtype`), with a note when amp=True cannot act."""
    dtype = autocast_dtype(amp, device)
    if amp is True and dtype is None:
        print(f"note: amp=True needs a GPU or a CPU with native bfloat16; training in float32 on {device.type}")
    return dtype


def autocast_dtype(amp: bool | str, device: str | torch.device) -> torch.dtype | None:
    """What mixed precision `fit` uses: None (float32), or bf16 on GPUs that have it, else fp16.

    `amp="auto"` uses it on CUDA GPUs only, so that CPU runs give the same numbers everywhere.
    `amp=True` also asks for bf16 on a CPU that computes it natively (AVX512-BF16 or AMX): about
    1.7x faster there, with other last digits (and, in our runs, a slightly lower mIoU).
    """
    if amp not in (True, False, "auto"):
        raise ValueError(f"amp must be True, False or 'auto', got {amp!r}")
    device = torch.device(device)
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp is True and device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX): autocast then speeds convolutions up."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def move_batch(batch, device: torch.device, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Move an (images, targets) batch to `device` (images channels_last when asked)."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("each batch must be a pair (images, targets), as SegmentationDataset gives")
    images, targets = batch
    non_blocking = device.type == "cuda"
    images = images.to(device, non_blocking=non_blocking)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=non_blocking)


# ----------------------------------------------------------------------------- evaluate and predict


def logits_to_classes(logits: torch.Tensor) -> torch.Tensor:
    """Class map N×H×W from logits N×C×H×W (argmax), or from one binary channel (logit > 0)."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def targets_to_classes(targets: torch.Tensor) -> torch.Tensor:
    """Class map N×H×W from int targets, one-hot float targets N×C×H×W (argmax) or binary masks."""
    if not targets.is_floating_point():
        return targets.long()
    if targets.dim() == 4:
        return (targets[:, 0] > 0.5).long() if targets.shape[1] == 1 else targets.argmax(dim=1)
    return (targets > 0.5).long()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    class_map: ClassMap | str | int | None = None,
    device: str | torch.device = "cpu",
    loss: nn.Module | None = None,
    ignore_index: int | None = None,
    *,
    num_classes: int | None = None,
) -> dict:
    """Metrics over a whole loader from one accumulated ConfusionMatrix.

    Returns ConfusionMatrix.compute()'s keys (pixel_accuracy, iou, miou, dice, class_accuracy),
    "loss" (mean per image, NaN without `loss`) and "confusion" (C×C numpy array, rows = target).
    The classes and the ignore index come from `class_map` (a map, its name, or a number of
    classes; `num_classes=` works too), else from the loader's data set, else from the model's
    class map, else from its output channels (2 for a single binary channel).
    """
    _, num_classes, ignore_index = resolve_classes(class_map, num_classes, ignore_index, loader, model)
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    model.to(device)
    if isinstance(loss, nn.Module):
        loss.to(device)
    return _evaluate(model, loader, num_classes, device, loss, ignore_index, None, False)


def _evaluate(model, loader, num_classes, device, loss_fn, ignore_index, amp_dtype, channels_last) -> dict:
    was_training = model.training
    model.eval()
    matrix, total, count = None, 0.0, 0
    try:
        with torch.no_grad():
            for batch in loader:
                images, targets = move_batch(batch, device, channels_last)
                with _oom_advice(images), _autocast(device, amp_dtype):
                    logits = model(images)
                    check_targets(targets, max(2, logits.shape[1]), loader, loss_fn, ignore_index)  # the model's classes
                    if loss_fn is not None:
                        total += float(loss_fn(logits, targets)) * images.shape[0]
                count += images.shape[0]
                if matrix is None:
                    classes = num_classes or (logits.shape[1] if logits.shape[1] > 1 else 2)
                    matrix = ConfusionMatrix(classes, ignore_index=ignore_index)
                matrix.update(logits_to_classes(logits), targets_to_classes(targets))
    finally:
        model.train(was_training)
    if distributed.is_sharded(loader):  # each process saw its share of the frames: add them up
        matrix, total, count = _sum_shares(matrix, total, count, num_classes, ignore_index, device)
    if matrix is None:
        raise ValueError("the evaluation loader is empty: check the split and max_images")
    result = matrix.compute()
    result["loss"] = total / count if loss_fn is not None else math.nan
    result["confusion"] = matrix.matrix.cpu().numpy()
    return result


def _sum_shares(matrix, total, count, num_classes, ignore_index, device):
    """The confusion matrix, loss total and frame count summed over the processes of a sharded evaluation."""
    if matrix is None:  # this process got no frame (fewer frames than processes)
        matrix = ConfusionMatrix(num_classes or 2, ignore_index=ignore_index)
    counts = distributed.sum_over_processes(matrix.matrix)
    total, count = (float(v) for v in distributed.sum_over_processes(torch.tensor([total, float(count)],
                                                                                  dtype=torch.float64)))
    summed = ConfusionMatrix.from_counts(counts.cpu())
    summed.ignore_index = ignore_index
    return (summed if count else None), total, int(count)


@torch.no_grad()
def predict(
    model: nn.Module,
    images: torch.Tensor | Sequence[torch.Tensor] | str | Path | Sequence[str | Path],
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    *,
    out: str | Path | None = None,
    size: tuple[int, int] | None = None,
    class_map: ClassMap | str | None = None,
) -> torch.Tensor | pd.DataFrame:
    """Class maps (LongTensor N×H×W on the CPU) for images N×3×H×W; one image 3×H×W gives H×W.

    Given a folder (or image files) instead, segments every image in it and writes, into `out`,
    `<name>_mask.png` (a palette PNG: pixel value = class, painted in the label colours) and
    `<name>_overlay.png` (the classes in their display colours over the photo); returns a table
    of what was written. Images are resized to `size` (default: the size the model was trained
    at, `model.image_size`) for the model, and the classes back to the photo's size. The class
    map defaults to the one the model was trained for (`load_model` restores it).
    """
    if isinstance(images, (str, Path)) or (isinstance(images, (list, tuple)) and images
                                           and isinstance(images[0], (str, Path))):
        return predict_files(model, images, out, device=device, size=size, class_map=class_map)
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    if not isinstance(images, torch.Tensor):
        images = torch.stack(list(images))
    single = images.dim() == 3
    if single:
        images = images.unsqueeze(0)
    was_training = model.training
    model.to(device).eval()
    try:
        outputs = [logits_to_classes(model(chunk.to(device))).cpu() for chunk in images.split(batch_size)]
    finally:
        model.train(was_training)
    classes = torch.cat(outputs)
    return classes[0] if single else classes


PREDICTABLE = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def predict_files(model: nn.Module, images: str | Path | Sequence[str | Path], out: str | Path | None,
                  device: str | torch.device = "cpu", size: tuple[int, int] | None = None,
                  class_map: ClassMap | str | None = None) -> pd.DataFrame:
    """Segment image files (a folder, or a list of files) and write coloured masks and overlays into `out`.

    See `predict`. Files that cannot be read are listed with the reason and skipped. Each file is
    written under a temporary name and renamed, so `out` never holds half a picture.
    """
    import cv2
    from PIL import Image

    from helpers.files import atomic_path
    from helpers.readers import read_image
    from helpers.viz import overlay

    if out is None:
        raise ValueError("predict on image files writes masks and overlays: pass out=FOLDER (a new folder, "
                         "e.g. runs/predictions)")
    class_map = get_class_map(class_map) if class_map is not None else getattr(model, "class_map", None)
    if class_map is None:
        raise ValueError("this model does not say which classes it predicts (a file written before models "
                         "stored their class map): pass class_map=, e.g. the data set's train_set.class_map")
    size = size or getattr(model, "image_size", None)
    if isinstance(images, (str, Path)) and Path(images).is_dir():
        files = sorted(path for path in Path(images).expanduser().iterdir()
                       if path.suffix.lower() in PREDICTABLE and not path.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"no image ({', '.join(PREDICTABLE)}) in {images}")
    else:
        files = [Path(images)] if isinstance(images, (str, Path)) else [Path(file) for file in images]
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    palette = [value for colour in class_map.class_colours for value in colour]
    rows = []
    for file in tqdm(files, desc="segmenting", unit="image", disable=is_quiet()):
        try:
            photo = read_image(file)
        except OSError as error:
            rows.append({"image": str(file), "mask": "", "overlay": "", "problem": str(error)})
            continue
        height, width = photo.shape[:2]
        scaled = photo if size is None else cv2.resize(photo, tuple(size), interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(np.ascontiguousarray(scaled)).permute(2, 0, 1).float().div(255)
        classes = predict(model, tensor, device=device).numpy().astype(np.uint8)
        classes = cv2.resize(classes, (width, height), interpolation=cv2.INTER_NEAREST)
        mask_path, overlay_path = out / f"{file.stem}_mask.png", out / f"{file.stem}_overlay.png"
        mask = Image.fromarray(classes)
        mask.putpalette(palette)  # an 8-bit grey image with a palette becomes a palette PNG, values kept
        with atomic_path(mask_path) as temporary:
            mask.save(temporary, format="PNG")
        with atomic_path(overlay_path) as temporary:
            Image.fromarray(overlay(photo, classes, class_map)).save(temporary, format="PNG")
        shares = np.bincount(classes.ravel(), minlength=class_map.num_classes) / classes.size
        main = ", ".join(f"{class_map.class_names[i]} {shares[i]:.0%}" for i in np.argsort(-shares)[:3] if shares[i])
        rows.append({"image": str(file), "mask": str(mask_path), "overlay": str(overlay_path), "problem": "",
                     "classes": main})
    return pd.DataFrame(rows, columns=["image", "mask", "overlay", "classes", "problem"])


# ----------------------------------------------------------------------------- the classes a model is for


def resolve_classes(class_map=None, num_classes: int | None = None, ignore_index: int | None = None,
                    loader=None, model: nn.Module | None = None) -> tuple[ClassMap | None, int | None, int | None]:
    """(class map or None, number of classes, ignore index): from `class_map` (a map, its name or a
    number), else `num_classes`, else the loader's data set's class map, else the model's."""
    given = class_map if class_map is not None else num_classes
    if given is None:
        given = getattr(getattr(loader, "dataset", None), "class_map", None) or getattr(model, "class_map", None)
    count, ignore = classes_of(given, ignore_index)
    return (get_class_map(given) if isinstance(given, (ClassMap, str)) else None), count, ignore


def remember_data(model: nn.Module, class_map: ClassMap | None, loader=None) -> None:
    """Note on the model the class map and image size (W, H) it is trained for; save_model and fit store them."""
    if class_map is not None:
        model.class_map = class_map
    size = getattr(getattr(loader, "dataset", None), "size", None)
    if size is not None:
        model.image_size = tuple(int(v) for v in size)


def data_fields(model: nn.Module, class_map: ClassMap | str | None = None) -> dict:
    """The class map and image size a model file stores (plain values), from `class_map` or the model."""
    class_map = get_class_map(class_map) if class_map is not None else getattr(model, "class_map", None)
    size = getattr(model, "image_size", None)
    return {"class_map": class_map.to_dict() if class_map is not None else None,
            "image_size": list(size) if size is not None else None}


# ----------------------------------------------------------------------------- model files


def save_model(model: nn.Module, path: str | Path, class_map: ClassMap | str | None = None, **extra) -> Path:
    """Write the weights, `model.config` (to rebuild it), the class map and image size it was trained
    for (`class_map`, else `model.class_map`; `model.image_size`) and `extra` plain values to `path`."""
    config = getattr(model, "config", None)
    payload = {
        "format": MODEL_FORMAT,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "config": _plain(dict(config)) if config else None,
        "extra": _plain(extra),
        **data_fields(model, class_map),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(payload, path)
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by `save_model` (or a fit checkpoint) and load its weights; eval mode.

    The saved extra values are attached as `model.checkpoint_extra`, the class map it was trained
    for as `model.class_map` and the image size as `model.image_size` (None in older files).
    """
    path = Path(path)
    checkpoint = _load_file(path, map_location)
    kind = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if kind == MODEL_FORMAT:
        state, config, extra = checkpoint["state_dict"], checkpoint["config"], checkpoint["extra"]
    elif kind == CHECKPOINT_FORMAT:
        state, config, extra = checkpoint["model"], checkpoint["model_config"], {"epoch": checkpoint["epoch"]}
    else:
        raise ValueError(f"{path} is not a model file of this workbook: it holds {describe_contents(checkpoint)}. "
                         f"Write models with save_model (or fit, which writes best.pt and last.pt)")
    if not config:
        raise ValueError(
            f"{path} holds weights but no model config (the model had no .config). Build the same "
            "model yourself and call model.load_state_dict(torch.load(path, weights_only=True)['state_dict'])"
        )
    from helpers.models import build_model

    model = build_model(config, load_pretrained=False)
    load_weights(model, state, path, config, advice="Its weights do not fit the config saved with them: the file "
                 "is damaged or was edited. Write it again with save_model.")
    model.to(map_location).eval()
    model.checkpoint_extra = extra
    saved_map = checkpoint.get("class_map")
    model.class_map = ClassMap.from_dict(saved_map) if saved_map else None
    model.image_size = tuple(checkpoint["image_size"]) if checkpoint.get("image_size") else None
    return model


def _save_checkpoint(run_dir, model, optimizer, schedule, scaler, history, counters, epoch, setup, config,
                     train_loader, averaged=None, states=None) -> None:
    config_of_model = getattr(model, "config", None)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "model_config": _plain(dict(config_of_model)) if config_of_model else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": schedule.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "history": history.to_dict(),
        "counters": asdict(counters),
        "rng": states[0] if states else rng_state(train_loader),
        "rng_by_process": states[1:] if states and len(states) > 1 else [],
        "setup": setup,
        "config": _plain(config),
        "averaged": averaged.state_dict() if averaged is not None else None,
        **data_fields(model),
    }
    _atomic_save(checkpoint, run_dir / "last.pt")


def _atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a killed run never leaves half a file."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    frame.to_csv(temporary, index=False)
    os.replace(temporary, path)


def describe_load_error(error: BaseException) -> str:
    """Why torch.load failed, in a few words; never the advice to load with weights_only=False."""
    text = str(error)
    if "weights_only" in text or "Weights only load failed" in text:
        return ("it holds Python objects other than tensors and plain values, which are never loaded "
                "here because loading them could run code from the file")
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"it is truncated, damaged or not a torch file ({first})"


def _load_file(path: Path, map_location: str | torch.device = "cpu"):
    """torch.load with weights_only=True, with errors that name the file."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train first (fit with run_dir) or check the path")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise RuntimeError(f"could not read {path}: {describe_load_error(error)}. Delete it and train again "
                           f"(or restore the file from a copy).") from error


def describe_contents(obj) -> str:
    """What a loaded file holds, in words: a training checkpoint, a model file, a state_dict, …"""
    if isinstance(obj, dict):
        kind = obj.get("format")
        if kind == CHECKPOINT_FORMAT:
            return "a training checkpoint (fit's last.pt)"
        if kind == MODEL_FORMAT:
            return "a model file (save_model, e.g. best.pt)"
        if obj and all(isinstance(value, torch.Tensor) for value in obj.values()):
            return f"a bare state_dict of {len(obj)} tensors (model.state_dict())"
        return f"a dict with the keys {sorted(map(str, obj))[:6]}"
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    return f"a {type(obj).__name__}"


def _load_checkpoint(path: Path) -> dict:
    """fit's last.pt, or ValueError saying what the file holds instead."""
    checkpoint = _load_file(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint of this workbook: it holds {describe_contents(checkpoint)}. "
                         f"Pass resume=False to start again (it overwrites the file) or choose another run_dir.")
    return checkpoint


def _shape(tensor) -> str:
    if not isinstance(tensor, torch.Tensor):
        return f"a {type(tensor).__name__}"
    return "×".join(str(size) for size in tensor.shape) or "scalar"


RESUME_ADVICE = ("Build the same model as the run that wrote it, or start again with resume=False (it overwrites "
                 "the checkpoint) or another run_dir.")


def load_weights(model: nn.Module, state: dict, path: Path, saved_config: dict | None = None,
                 advice: str = RESUME_ADVICE) -> None:
    """model.load_state_dict(state), or ValueError naming the file, the tensors whose names or shapes differ
    and `advice` (what to do)."""
    own = model.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds {describe_contents(state)} where the model's weights should be")
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    differ = [key for key in own if key in state and own[key].shape != getattr(state[key], "shape", None)]
    if not (missing or unexpected or differ):
        model.load_state_dict(state)
        return
    details = [f"{key}: {_shape(state[key])} there, {_shape(own[key])} here" for key in differ[:2]]
    details += [f"{len(missing)} tensors missing there (e.g. {missing[0]})"] if missing else []
    details += [f"{len(unexpected)} tensors not in this model (e.g. {unexpected[0]})"] if unexpected else []
    built = f" It was written for a model with config {saved_config}." if saved_config else ""
    raise ValueError(f"{path} holds the weights of a model of another shape ({'; '.join(details)}).{built} {advice}")


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict, path: Path) -> None:
    """optimizer.load_state_dict(state), or ValueError naming the file when its parameter groups differ."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path} holds the state of an optimizer over other parameters ({error}). Build the model and "
                         f"optimizer as in the run that wrote it, or start again with resume=False or another "
                         f"run_dir.") from error


def _plain(value):
    """Numpy scalars and arrays, tuples and paths turned into plain python values (recursively)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# ----------------------------------------------------------------------------- random states


def loader_generators(loader) -> list[torch.Generator]:
    """The distinct torch.Generators that decide a DataLoader's order (loader's and sampler's)."""
    owners = [loader, getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    found: list[torch.Generator] = []
    for owner in owners:
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not seen for seen in found):
            found.append(generator)
    return found


def first_batch_indices(loader) -> list[int]:
    """The data-set indices of the first batch the loader's next pass yields, leaving its generators untouched.

    Two training runs that print the same indices start from the same batch order. Like iterating the
    DataLoader, it first draws the workers' base seed from the loader's generator, then reads the sampler.
    """
    generators = loader_generators(loader)
    saved = [generator.get_state() for generator in generators]
    try:
        if isinstance(loader.generator, torch.Generator):
            torch.empty((), dtype=torch.int64).random_(generator=loader.generator)  # as DataLoader.__iter__ does
        batch = next(iter(loader.batch_sampler))
    finally:
        for generator, state in zip(generators, saved):
            generator.set_state(state)
    return [int(item[0]) if isinstance(item, (tuple, list)) else int(item) for item in batch]


def rng_state(loader=None) -> dict:
    """Python, numpy, torch (CPU and CUDA) and loader generator states, as weights_only-safe values."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {"name": name, "keys": keys.tolist(), "pos": int(position), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": [generator.get_state() for generator in loader_generators(loader)] if loader is not None else [],
    }


def set_rng_state(state: dict, loader=None) -> None:
    """Put back the states written by `rng_state`."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], np.asarray(numpy["keys"], dtype=np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if loader is not None:
        generators = loader_generators(loader)
        if len(generators) != len(state["loader"]):
            raise ValueError(
                f"the training loader has {len(generators)} random generator(s) but the checkpoint saved "
                f"{len(state['loader'])}: build the loader as in the first run (same shuffle and generator)"
            )
        for generator, saved in zip(generators, state["loader"]):
            generator.set_state(saved)


# ----------------------------------------------------------------------------- reporting


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        tqdm.write(message)


def _epoch_summary(record: dict, epochs: int) -> str:
    return (
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, val loss {record['val_loss']:.4f}, "
        f"pixel acc {record['pixel_accuracy']:.3f}, mIoU {record['miou']:.3f}, lr {record['lr']:.2e}, "
        f"{record['seconds']:.1f}s"
        + (f", {record['skipped']} skipped" if record["skipped"] else "")
    )


def _tensorboard_writer(run_dir: Path | None):
    """A SummaryWriter in run_dir/tensorboard when tensorboard is installed, else None."""
    if run_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _preview_batch(loader, frames: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The first `frames` (image, target) pairs of a loader's data set, for the predictions TensorBoard shows."""
    dataset = getattr(loader, "dataset", None)
    if dataset is None or frames < 1 or len(dataset) == 0:
        return None
    pairs = [dataset[index] for index in range(min(frames, len(dataset)))]
    return torch.stack([pair[0] for pair in pairs]), torch.stack([torch.as_tensor(pair[1]) for pair in pairs])


def preview_image(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, class_map: ClassMap | None,
                  device: torch.device | str = "cpu", channels_last: bool = False) -> np.ndarray:
    """One picture of frames stacked top to bottom, each as image | target | prediction (H×W×3 uint8).

    Classes are painted in the class map's display colours (the plots' colours); ignored pixels white.
    """
    from helpers.encoding import index_to_rgb

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            shown, _ = move_batch((images, targets), torch.device(device), channels_last)
            predictions = logits_to_classes(model(shown).float()).cpu().numpy()
    finally:
        model.train(was_training)
    truths = targets_to_classes(targets).numpy()
    photos = (images.permute(0, 2, 3, 1).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    scale = 255 // max(1, int(max(truths.max(), predictions.max())))

    def paint(classes: np.ndarray) -> np.ndarray:
        if class_map is None:  # classes without colours: grey levels
            return np.repeat((np.clip(classes, 0, 255) * scale).astype(np.uint8)[..., None], 3, axis=-1)
        return index_to_rgb(classes, class_map)

    rows = [np.concatenate([photo, paint(truth), paint(prediction)], axis=1)
            for photo, truth, prediction in zip(photos, truths, predictions)]
    return np.concatenate(rows, axis=0)


def _log_tensorboard(writer, record: dict, model=None, preview=None, class_map=None, device="cpu",
                     channels_last: bool = False) -> None:
    """The epoch's scalars and, with `preview` frames, the model's predictions on them."""
    if writer is None:
        return
    for key in ("train_loss", "val_loss", "pixel_accuracy", "miou", "lr"):
        if math.isfinite(record[key]):
            writer.add_scalar(key, record[key], record["epoch"])
    if model is not None and preview is not None and preview[0].dim() == 4 and preview[0].shape[1] == 3:
        picture = preview_image(model, *preview, class_map, device, channels_last)
        writer.add_image("predictions (image | target | prediction)", picture, record["epoch"], dataformats="HWC")
    writer.flush()


def _training_module(model: nn.Module, device: torch.device, compile: bool) -> nn.Module:
    """What trains: the model, wrapped in DistributedDataParallel under torchrun, compiled when asked."""
    net = model
    if distributed.is_distributed():
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    return torch.compile(net) if compile else net


def _rng_of_this_process(checkpoint: dict) -> dict:
    """The random states this process saved: its own when the run had as many processes, else the main one's."""
    others = checkpoint.get("rng_by_process") or []
    if distributed.is_distributed() and len(others) + 1 == distributed.world_size() and distributed.rank() > 0:
        return others[distributed.rank() - 1]
    return checkpoint["rng"]


if __name__ == "__main__":  # python -m helpers.train …: notebook 07's final run as a command (helpers.final_run)
    from helpers.final_run import main

    raise SystemExit(main())
