"""Training speed and peak memory of the workbook's training path against a plain PyTorch loop.

    .venv/bin/python benchmarks/bench_train.py                 # GPU when there is one, else a small CPU run
    .venv/bin/python benchmarks/bench_train.py --cpu-compile   # also torch.compile on the CPU (minutes more)

One table, one row per configuration: precision (float32, or AMP: bfloat16, float16 with a
GradScaler where bfloat16 is missing), channels_last or not, torch.compile or not, at the full
profile's 400×300 with U-Net base 64 and at 512×512. Each row trains twice on the same random
batches from the same DataLoader:

- "helpers": `helpers.train.fit` with `helpers.models.UNet` (everything a notebook run does per batch:
  target checks, the NaN guard, the batch history, the schedule);
- "plain": a U-Net and a training loop written here in plain PyTorch (the same layers and
  parameter count), the reference: the ratio helpers / plain should be at least 0.95.

Images per second are measured after a warm-up (cuDNN's algorithm search, compilation). Peak
memory is torch.cuda.max_memory_allocated on a GPU, the process's peak resident set on the CPU;
every measurement runs in a fresh process so that its peak is its own. Without a GPU the
benchmark says so and runs small sizes for a few steps (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLASSES = 9
GPU_SIZES = [  # (width, height, U-Net base, batch, timed steps)
    (400, 300, 64, 8, 20),
    (512, 512, 64, 8, 20),
]
CPU_SIZES = [(160, 120, 16, 4, 3), (128, 128, 16, 4, 3)]


# ----------------------------------------------------------------------------- the plain reference


class PlainUNet(nn.Module):
    """The original U-Net in plain PyTorch: the same layers as helpers.models.UNet (transposed up-sampling)."""

    def __init__(self, classes: int = CLASSES, base: int = 64, depth: int = 4):
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.first = self.double_conv(3, widths[0])
        self.downs = nn.ModuleList(self.double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.up_convs = nn.ModuleList(self.double_conv(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], classes, 1)

    @staticmethod
    def double_conv(inputs: int, outputs: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs),
                             nn.ReLU(inplace=True), nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
                             nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.first(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        x = skips.pop()
        for up, conv in zip(self.ups, self.up_convs):
            skip = skips.pop()
            x = up(x)
            dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            x = conv(torch.cat([skip, x], dim=1))
        return self.head(x)


def plain_training(model, loader, device, dtype, channels_last, compile_model, epochs: int) -> list[float]:
    """The reference loop: seconds per epoch, nothing but forward, loss, backward and an Adam step."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_model else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    seconds = []
    for _ in range(epochs):
        synchronize(device)
        started = time.perf_counter()
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            targets = targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(net(images), targets)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return seconds


# ----------------------------------------------------------------------------- one measurement


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def measure(path: str, width: int, height: int, base: int, batch: int, steps: int, amp: bool, channels_last: bool,
            compile_model: bool) -> dict:
    """Images per second (the second epoch of `steps` batches) and peak memory of one path and configuration."""
    from helpers.config import pick_device
    from helpers.models import UNet, count_parameters
    from helpers.optim import make_optimizer
    from helpers.train import autocast_dtype, fit

    device = pick_device("auto")
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    dtype = autocast_dtype(amp, device)
    images = torch.rand(steps * batch, 3, height, width)
    targets = torch.randint(0, CLASSES, (steps * batch, height, width))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, targets), batch_size=batch,
                                         pin_memory=device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if path == "helpers":
        model = UNet(num_classes=CLASSES, base=base)
        history = fit(model, loader, None, nn.CrossEntropyLoss(), make_optimizer("adam", model, lr=1e-4), epochs=2,
                      device=device, amp=amp, channels_last=channels_last, compile=compile_model, progress=False)
        seconds = [row["seconds"] for row in history.epochs]
    else:
        model = PlainUNet(CLASSES, base)
        seconds = plain_training(model, loader, device, dtype, channels_last, compile_model, epochs=2)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mib()
    return {"path": path, "size": f"{width}x{height}", "base": base, "batch": batch,
            "precision": str(dtype or torch.float32).replace("torch.", ""), "channels_last": channels_last,
            "compile": compile_model, "img_s": steps * batch / seconds[-1], "peak_MiB": peak,
            "params_M": count_parameters(model) / 1e6, "device": device.type}


def in_fresh_process(case: dict) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                               check=False)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines()
        return {**case, "error": lines[-1] if lines else f"exit code {completed.returncode}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the table


def cases(on_gpu: bool, amp_on_cpu: bool, compile_on_cpu: bool) -> list[dict]:
    sizes = GPU_SIZES if on_gpu else CPU_SIZES
    precisions = [False, True] if on_gpu or amp_on_cpu else [False]
    compiles = [False, True] if on_gpu or compile_on_cpu else [False]
    return [{"width": w, "height": h, "base": base, "batch": batch, "steps": steps, "amp": amp,
             "channels_last": channels_last, "compile_model": compiled}
            for (w, h, base, batch, steps), amp, channels_last, compiled
            in itertools.product(sizes, precisions, (False, True), compiles)]


def print_table(rows: list[tuple[dict, dict]]) -> None:
    header = (f"{'size':>8} {'base':>4} {'batch':>5} {'precision':>9} {'ch.last':>7} {'compile':>7} "
              f"{'helpers img/s':>13} {'plain img/s':>11} {'ratio':>5} {'helpers peak':>12} {'plain peak':>10}")
    print(header)
    print("-" * len(header))
    for ours, plain in rows:
        error = ours.get("error") or plain.get("error")
        if error:
            print(f"{ours['width']}x{ours['height']:<4} error: {error}")
            continue
        print(f"{ours['size']:>8} {ours['base']:>4} {ours['batch']:>5} {ours['precision']:>9} "
              f"{'yes' if ours['channels_last'] else 'no':>7} {'yes' if ours['compile'] else 'no':>7} "
              f"{ours['img_s']:>13.2f} {plain['img_s']:>11.2f} {ours['img_s'] / plain['img_s']:>5.2f} "
              f"{ours['peak_MiB']:>12.0f} {plain['peak_MiB']:>10.0f}")
    good = [(ours, plain) for ours, plain in rows if "error" not in ours and "error" not in plain]
    if good:
        params = {f"{row['params_M']:.2f}M" for pair in good for row in pair}
        worst = min(ours["img_s"] / plain["img_s"] for ours, plain in good)
        print(f"\nparameters, helpers and plain U-Net: {', '.join(sorted(params))}; lowest ratio helpers / plain: "
              f"{worst:.2f} (target ≥ 0.95)")
    print("img/s: training images per second in the second epoch. Peak memory in MiB: "
          + ("torch.cuda.max_memory_allocated." if good and good[0][0]["device"] == "cuda" else
             "the process's peak resident set (torch and the data included)."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-compile", action="store_true", help="also torch.compile on the CPU (slow to compile)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        case = json.loads(args.case)
        print(json.dumps(measure(**case)))
        return
    from helpers.train import cpu_has_bf16

    on_gpu = torch.cuda.is_available()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          + (f"GPU: {torch.cuda.get_device_name()}" if on_gpu else
             "no GPU found: a small CPU run (sizes 160x120 and 128x128, base 16, 3 steps; AMP only where the CPU "
             "computes bfloat16 natively, compile only with --cpu-compile)") + "\n")
    rows = []
    for case in cases(on_gpu, cpu_has_bf16(), args.cpu_compile):
        rows.append((in_fresh_process({"path": "helpers", **case}), in_fresh_process({"path": "plain", **case})))
    print_table(rows)


if __name__ == "__main__":
    main()
