"""Profiles, devices, seeds and folders: the settings every notebook starts from.

A profile sizes the whole workbook at once: `smoke` for tests (seconds), `quick` for a laptop
CPU (minutes, the default) and `full` for a GPU at the size of the original course reports.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """Everything that scales with the machine: image size, model width, data and epochs."""

    name: str
    image_size: tuple[int, int]  # (width, height) fed to the network
    base: int  # U-Net width of the first block
    max_train_images: int | None  # None = all
    max_eval_images: int | None  # cap for val / pseudo-test / test
    batch_size: int
    epochs: int  # final training (notebook 07)
    compare_epochs: int  # each run of the optimizer / scheduler grid (06); twice it for the ablation (08)
    overfit_steps: int  # notebook 04
    lr_test_iters: int  # notebook 05
    seeds: int  # repeats where noise is measured
    num_workers: int | None = None  # None = fitted to the machine

    def __post_init__(self):
        object.__setattr__(self, "image_size", check_image_size(self.image_size))


def check_image_size(size, name: str = "image_size") -> tuple[int, int]:
    """`size` as (width, height) of positive ints; ValueError naming `name` for anything else (a 0, one number …)."""
    try:
        width, height = size
        valid = all(float(v) == int(v) and int(v) > 0 and not isinstance(v, bool) for v in (width, height))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{name} must be two positive whole numbers (width, height), e.g. (160, 120); got {size!r}")
    return int(width), int(height)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", (64, 48), 8, 24, 16, 8, 2, 2, 60, 20, 2),
    "quick": Profile("quick", (160, 120), 16, 480, 96, 8, 50, 6, 150, 100, 3),
    "full": Profile("full", (400, 300), 64, None, None, 4, 40, 10, 300, 300, 3),
}

DEFAULT_PROFILE = "quick"


def get_profile(name: str | None = None, **overrides) -> Profile:
    """Return profile `name` (default: env WORKBOOK_PROFILE or "quick"), fields overridden.

    Overrides whose value is None are ignored, so a notebook can pass its knobs straight on.
    """
    name = name or os.environ.get("WORKBOOK_PROFILE", DEFAULT_PROFILE)
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    known = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown profile field(s) {unknown}; known fields: {sorted(known)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    if "image_size" in given:
        given["image_size"] = tuple(given["image_size"])
    return dataclasses.replace(PROFILES[name], **given)


def pick_device(name: str = "auto") -> torch.device:
    """Resolve "auto" to cuda, then mps, then cpu; check that an explicit choice exists."""
    name = str(name).lower()
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if name == "auto":
        name = next(dev for dev in ("cuda", "mps", "cpu") if available[dev])
    kind = name.split(":")[0]
    if kind not in available:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    if not available[kind]:
        raise RuntimeError(f"device {name!r} is not available on this machine; use DEVICE='auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch (CPU and CUDA); make cuDNN deterministic.

    Returns a torch.Generator seeded the same way, for DataLoader shuffling.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    return make_generator(seed)


def make_generator(seed: int = 0) -> torch.Generator:
    """A torch.Generator for a DataLoader, so shuffling order depends on the seed only."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: seed numpy and random in each worker from torch's seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def data_root() -> Path:
    """Folder holding the data sets: env WORKBOOK_DATA, default <repo>/data."""
    return Path(os.environ.get("WORKBOOK_DATA", REPO_ROOT / "data")).expanduser()


def runs_root() -> Path:
    """Folder holding run outputs: env WORKBOOK_RUNS, default <repo>/runs."""
    return Path(os.environ.get("WORKBOOK_RUNS", REPO_ROOT / "runs")).expanduser()


def is_quiet() -> bool:
    """True under CI, papermill or WORKBOOK_QUIET=1: progress bars stay silent."""
    return any(os.environ.get(var) for var in ("CI", "WORKBOOK_QUIET", "PAPERMILL_EXECUTION"))
