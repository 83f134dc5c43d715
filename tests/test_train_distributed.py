"""Two ranks (gloo, FSDP2) give the same parameters as one rank with the same global batch, and the
checkpoint they write loads into a single process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from sanavideo.config import PRESETS
from sanavideo.model import SanaVideoTransformer
from sanavideo.train import TrainArgs, train
from sanavideo.train import checkpoint as ckpt


def run_args(out: Path, batch_size: int, **extra) -> TrainArgs:
    data = {
        "output_dir": str(out),
        "max_steps": 4,
        "log_every": 2,
        "checkpoint_every": 0,
        "export": False,
        "device": "cpu",
        "seed": 7,
        "data": {"synthetic": {"num_samples": 16, "num_classes": 4}, "batch_size": batch_size},
        "objective": {"i2v_prob": 0.5, "caption_dropout": 0.25},
        "optim": {"lr": 1e-3, "warmup_steps": 2, "grad_clip": 0.5, "ema_decay": 0.5, "grad_accum": 1},
    }
    data.update(extra)
    return TrainArgs.from_dict(data)


def _worker(rank: int, world: int, port: int, out: str, extra: dict | None = None) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)  # ranks start from different global RNG states
    train(run_args(Path(out), batch_size=2, **(extra or {})))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_fsdp_match_one_rank(tmp_path):
    torch.set_num_threads(1)
    single = train(run_args(tmp_path / "one", batch_size=4))
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    two = ckpt.find_checkpoint("auto", tmp_path / "two")
    assert two is not None and ckpt.read_state(two)["world_size"] == 2
    for name in ("model.safetensors", "ema.safetensors"):
        a = ckpt.load_safetensors(Path(single.checkpoint) / name)
        b = ckpt.load_safetensors(two / name)
        assert a.keys() == b.keys()
        for key in a:
            rel = (a[key] - b[key]).norm() / a[key].norm().clamp_min(1e-12)
            assert rel < 1e-4, (name, key, float(rel))
    # the gathered checkpoint is a plain full state dict: it loads into one process, strictly
    model = SanaVideoTransformer(PRESETS["tiny"])
    model.load_state_dict(ckpt.load_safetensors(two / "model.safetensors"))
    # and a single process can resume it (optimizer state included)
    resumed = train(run_args(tmp_path / "two", batch_size=4, max_steps=5, resume="auto"))
    assert resumed.start_step == 4 and resumed.steps == 5


@pytest.mark.slow
def test_lora_from_init_from_two_ranks_match_one_rank(tmp_path):
    """LoRA on top of a pretrained model: the adapters start identically on every rank (seeded from the run's
    seed), so two ranks end where one rank does."""
    torch.set_num_threads(1)
    torch.manual_seed(5)
    SanaVideoTransformer(PRESETS["tiny"]).save_pretrained(tmp_path / "base")
    extra = {"model": {"init_from": str(tmp_path / "base")}, "lora": {"rank": 4}}
    single = train(run_args(tmp_path / "one", batch_size=4, **extra))
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two"), extra), nprocs=2, join=True)
    a = ckpt.load_safetensors(Path(single.checkpoint) / "model.safetensors")
    b = ckpt.load_safetensors(ckpt.find_checkpoint("auto", tmp_path / "two") / "model.safetensors")
    assert a.keys() == b.keys() and all("lora_" in k for k in a)
    for key in a:
        rel = (a[key] - b[key]).norm() / a[key].norm().clamp_min(1e-12)
        assert rel < 1e-4, (key, float(rel))
