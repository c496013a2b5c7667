"""fit and evaluate on two processes (DistributedDataParallel, gloo on the CPU, loopback), against one process."""

import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from helpers import distributed
from helpers.datasets import make_loader
from helpers.models import UNet
from helpers.optim import make_optimizer
from helpers.train import _evaluate, fit, load_history, load_model

CLASSES = 3


def toy_data(count: int, seed: int) -> TensorDataset:
    """Random 12×12 images; a pixel's class is its brightest channel."""
    images = torch.rand(count, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
    return TensorDataset(images, images.argmax(dim=1))


def toy_run(folder, epochs: int):
    """A fresh model, optimizer and loaders (as after a restart) trained up to `epochs` in `folder`."""
    torch.manual_seed(0)
    model = UNet(num_classes=CLASSES, base=4, depth=1)
    optimizer = make_optimizer("adam", model, lr=1e-2)
    train = make_loader(toy_data(16, 0), batch_size=4 // distributed.world_size(), shuffle=True, seed=0,
                        num_workers=0, shard=True)
    val = make_loader(toy_data(7, 1), batch_size=2, shuffle=False, num_workers=0, shard=True)
    return fit(model, train, val, nn.CrossEntropyLoss(), optimizer, epochs=epochs, run_dir=folder, progress=False,
               num_classes=CLASSES, config={"toy": True}, average_from=2, snapshots_from=2, keep_snapshots=2)


def fixed_model_scores() -> dict:
    """The scores of one fixed model on 7 frames: 4 on one process, 3 on the other when sharded."""
    torch.manual_seed(1)
    model = UNet(num_classes=CLASSES, base=4, depth=1)
    loader = make_loader(toy_data(7, 1), batch_size=2, shuffle=False, num_workers=0, shard=True)
    scores = _evaluate(model, loader, CLASSES, torch.device("cpu"), nn.CrossEntropyLoss(), None, None, False)
    return {"confusion": torch.as_tensor(scores["confusion"]), "loss": scores["loss"], "miou": scores["miou"],
            "sharded": distributed.is_sharded(loader), "frames": len(loader.sampler)}


def worker(rank: int, port: int, folder: str, steps: list) -> None:
    """One of two processes: join the group, do `steps` (scores, or train in a folder up to some epochs)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        for step, argument in steps:
            if step == "scores":
                torch.save(fixed_model_scores(), f"{folder}/scores_{rank}.pt")
            else:
                toy_run(f"{folder}/{step}", argument)
    finally:
        dist.destroy_process_group()


def on_two_processes(folder, steps: list, timeout: float = 120) -> None:
    """Run `worker` on two processes and wait for both (an error in one fails the test)."""
    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.start_processes(worker, args=(port, str(folder), steps), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise TimeoutError(f"the two processes did not finish in {timeout} s")


def test_two_processes_score_and_resume_like_one(tmp_path):
    on_two_processes(tmp_path, [("scores", None), ("straight", 3), ("interrupted", 2), ("interrupted", 3),
                                ("handed_over", 2)])

    # the same model scores the same on 7 frames split 4 + 3 over two processes as on one process
    alone, first, second = fixed_model_scores(), torch.load(tmp_path / "scores_0.pt"), torch.load(tmp_path / "scores_1.pt")
    assert (first["frames"], second["frames"]) == (4, 3) and first["sharded"] and not alone["sharded"]
    assert (first["confusion"] == alone["confusion"]).all() and (second["confusion"] == alone["confusion"]).all()
    assert first["loss"] == second["loss"] and abs(first["loss"] - alone["loss"]) < 1e-6
    assert first["miou"] == alone["miou"]

    # two processes, stopped after epoch 2 and resumed: the same epochs as a run never stopped
    straight, resumed = load_history(tmp_path / "straight"), load_history(tmp_path / "interrupted")
    assert [row["epoch"] for row in resumed.epochs] == [1, 2, 3]
    for key in ("train_loss", "val_loss", "miou"):
        assert [row[key] for row in resumed.epochs] == [row[key] for row in straight.epochs], key
    assert [row["loss"] for row in resumed.batches] == [row["loss"] for row in straight.batches]
    assert len(straight.batches) == 3 * 4  # 16 frames, 8 per process, 2 per batch: 4 steps an epoch
    checkpoint = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    assert len(checkpoint["rng_by_process"]) == 1  # the second process's random states travel too
    assert not any(key.startswith("module.") for key in checkpoint["model"])  # the plain model's weights
    averaged = [load_model(tmp_path / run / "averaged.pt").checkpoint_extra["averaged"]
                for run in ("straight", "interrupted")]
    assert averaged[0] == averaged[1] and averaged[0]["epochs_averaged"] == 2  # scored over both processes
    assert sorted(path.name for path in (tmp_path / "straight" / "snapshots").iterdir()) == ["epoch_002.pt",
                                                                                           "epoch_003.pt"]

    # a two-process checkpoint continues on one process, and that one on two processes again
    toy_run(tmp_path / "handed_over", 3)
    on_two_processes(tmp_path, [("handed_over", 4)])
    handed = load_history(tmp_path / "handed_over")
    assert [row["epoch"] for row in handed.epochs] == [1, 2, 3, 4]
    assert [row["train_loss"] for row in handed.epochs[:2]] == [row["train_loss"] for row in straight.epochs[:2]]
