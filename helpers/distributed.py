"""Training on several processes (GPUs) with DistributedDataParallel: who am I, shards, sums.

`torchrun --nproc_per_node=N -m helpers.train …` starts N processes that each train on their own
share of every epoch's frames; DistributedDataParallel averages their gradients after every
backward pass, so they all hold the same weights. What the rest of the workbook needs to know:

- `start()` joins the process group that torchrun describes in the environment (nccl on GPUs,
  gloo on CPUs) and gives each process its own GPU; without torchrun it does nothing;
- `rank()`, `world_size()`, `is_main()`: which process this is; only the main one writes files;
- `ShardSampler`: the frames of an evaluation split dealt out over the processes without repeats
  (DistributedSampler pads with repeated frames, which would count them twice in the metrics);
- `sum_over_processes(tensor)`: the sum of a tensor over every process (the confusion matrix);
- `share_buffers(model)`: batch-norm statistics of the main process copied to the others, so that
  every process evaluates and saves the same model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's number (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True in the process that writes checkpoints, reports and logs."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set WORLD_SIZE > 1 in the environment."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str = "auto") -> torch.device:
    """Join torchrun's process group when there is one; the device this process trains on.

    On CUDA each process takes the GPU of its LOCAL_RANK and the nccl backend; on the CPU gloo.
    """
    from helpers.config import pick_device

    chosen = pick_device(device)
    if not launched_by_torchrun() or dist.is_initialized():
        return chosen
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(chosen)
    dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return chosen


def stop() -> None:
    """Leave the process group (when this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process reaches this point (nothing to wait for alone)."""
    if is_distributed():
        dist.barrier()


def sum_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over every process (the tensor itself alone).

    gloo sums CPU tensors and nccl GPU tensors: the sum is taken on the device the backend needs
    and returned on the tensor's own device.
    """
    if not is_distributed():
        return tensor
    backend_device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
        else torch.device("cpu")
    total = tensor.detach().to(backend_device).clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(tensor.device)


def gather_objects(value) -> list:
    """`value` of every process, in rank order (a list of one alone)."""
    if not is_distributed():
        return [value]
    values = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def share_buffers(model: nn.Module) -> None:
    """Copy the main process's buffers (batch-norm running statistics) to every process."""
    if not is_distributed():
        return
    for buffer in model.buffers():
        if dist.get_backend() == "nccl" or buffer.device.type == "cpu":
            dist.broadcast(buffer.data, src=0)
        else:
            copy = buffer.data.cpu()
            dist.broadcast(copy, src=0)
            buffer.data.copy_(copy)


class ShardSampler(Sampler):
    """Frames rank, rank + N, rank + 2N, … of a data set in order: every frame on exactly one process."""

    def __init__(self, dataset, num_replicas: int | None = None, rank_: int | None = None):
        self.length = len(dataset)
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.rank = rank() if rank_ is None else rank_

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.num_replicas))


def is_sharded(loader) -> bool:
    """True when `loader` gives this process only its share of the frames (metrics must be summed)."""
    sampler = getattr(loader, "sampler", None)
    inner = getattr(sampler, "sampler", None)  # SeededSampler wraps the sampler that decides the order
    shards = (ShardSampler, torch.utils.data.DistributedSampler)
    return is_distributed() and (isinstance(sampler, shards) or isinstance(inner, shards))


def set_epoch(loader, epoch: int) -> None:
    """Tell a DistributedSampler which epoch starts, so every epoch has its own order (the same on every process)."""
    sampler = getattr(loader, "sampler", None)
    for candidate in (sampler, getattr(sampler, "sampler", None)):
        if isinstance(candidate, torch.utils.data.DistributedSampler):
            candidate.set_epoch(epoch)
