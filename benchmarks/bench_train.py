"""Training and inference speed and peak memory of the U-Net at the workbook's two sizes.

    .venv/bin/python benchmarks/bench_train.py            # CPU, and CUDA when present
    .venv/bin/python benchmarks/bench_train.py --only 16  # just base 16 at 160x120

Each configuration runs in a fresh process so that its peak memory is its own: on the CPU the
resident set before the model is built and its peak (resource.getrusage) after inference and
after training; on CUDA torch.cuda.max_memory_allocated for inference and training separately.
A training step is forward, cross-entropy, backward and an Adam step on random images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.models import UNet, count_parameters  # noqa: E402

MODELS = {  # base: (image size W×H, CPU batch, CUDA batch)
    16: ((160, 120), 4, 16),
    64: ((400, 300), 1, 4),
}


def rss_mib() -> float:
    """Current resident set size (Linux /proc; falls back to the peak elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return peak_rss_mib()


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(base: int, device_name: str, amp: bool, channels_last: bool, iters: int) -> dict:
    """Images/s for training and inference, and peak memory, for one configuration."""
    (width, height), cpu_batch, cuda_batch = MODELS[base]
    device = torch.device(device_name)
    batch = cuda_batch if device.type == "cuda" else cpu_batch
    before = rss_mib()
    torch.manual_seed(0)
    model = UNet(num_classes=9, base=base).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    images = torch.rand(batch, 3, height, width, device=device).contiguous(memory_format=memory_format)
    targets = torch.randint(0, 9, (batch, height, width), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    dtype = None
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(images), targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def peak() -> float:
        return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mib()

    # inference first: on the CPU the peak RSS only grows, so this order gives both peaks
    model.eval()
    with torch.no_grad():
        with autocast():
            model(images)  # warm-up: allocations, cuDNN algorithm choice
        synchronize(device)
        started = time.perf_counter()
        for _ in range(iters):
            with autocast():
                model(images)
        synchronize(device)
    infer_rate = iters * batch / (time.perf_counter() - started)
    infer_peak = peak()

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model.train()
    train_step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(iters):
        train_step()
    synchronize(device)
    train_rate = iters * batch / (time.perf_counter() - started)
    train_peak = peak()
    return {
        "model": f"UNet base {base}", "size": f"{width}x{height}", "params_M": count_parameters(model) / 1e6,
        "device": device.type, "amp": str(dtype).replace("torch.", "") if dtype else "off",
        "channels_last": channels_last, "batch": batch, "train_img_s": train_rate, "infer_img_s": infer_rate,
        "train_peak_MiB": train_peak, "infer_peak_MiB": infer_peak,
        "before_MiB": before if device.type == "cpu" else 0.0,
    }


def configurations(only: int | None, device: str) -> list[dict]:
    bases = [only] if only else list(MODELS)
    cases = []
    if device in ("all", "cpu"):
        cases += [{"base": base, "device_name": "cpu", "amp": False, "channels_last": False,
                   "iters": 3 if base == 16 else 2} for base in bases]
    if device in ("all", "cuda") and torch.cuda.is_available():
        cases += [{"base": base, "device_name": "cuda", "amp": amp, "channels_last": channels_last, "iters": 20}
                  for base in bases for amp in (False, True) for channels_last in (False, True)]
    return cases


def run_in_fresh_process(case: dict) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        return {"model": f"UNet base {case['base']}", "device": case["device_name"], "error":
                completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    header = (f"{'model':<13} {'size':>8} {'params':>7} {'device':>6} {'amp':>8} {'ch.last':>7} {'batch':>5} "
              f"{'train img/s':>11} {'infer img/s':>11} {'before':>8} {'infer peak':>10} {'train peak':>10}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<13} {'':>8} {'':>7} {row['device']:>6}  error: {row['error']}")
            continue
        print(f"{row['model']:<13} {row['size']:>8} {row['params_M']:>6.2f}M {row['device']:>6} {row['amp']:>8} "
              f"{'yes' if row['channels_last'] else 'no':>7} {row['batch']:>5} {row['train_img_s']:>11.2f} "
              f"{row['infer_img_s']:>11.2f} {row['before_MiB']:>8.0f} {row['infer_peak_MiB']:>10.0f} "
              f"{row['train_peak_MiB']:>10.0f}")
    print("\nMemory in MiB. CPU: the process's resident set before the model was built and its peak after "
          "inference and after training (torch included). CUDA: torch.cuda.max_memory_allocated during "
          "inference and during training.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, choices=sorted(MODELS), help="just one U-Net width")
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure(**json.loads(args.case))))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}\n")
    rows = []
    for case in configurations(args.only, args.device):
        rows.append(run_in_fresh_process(case))
    print_table(rows)


if __name__ == "__main__":
    main()
