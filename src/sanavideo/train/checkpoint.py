"""Atomic training checkpoints: OUTPUT/checkpoints/step-XXXXXXXX/ plus a `latest` pointer.

A checkpoint is written into a hidden temporary folder, flushed to disk, then renamed into place, and only
then does `latest` (itself replaced atomically) point at it; a run killed while saving leaves the previous
checkpoint and pointer intact. Files of one checkpoint:

    model.safetensors        transformer weights (the trainable ones only under LoRA), unwrapped key names
    ema.safetensors          EMA of the trainable parameters (if EMA is on)
    text_encoder.safetensors the trained text encoder (text_encoder.trainable)
    null_caption.safetensors the fixed null caption used for caption dropout
    optimizer.pt             full (gathered) optimizer state, keyed by parameter name
    rng.pt                   torch / CUDA / python / numpy RNG states of rank 0
    trainer_state.json       step, data position, scheduler state, world size, the run config (written last)
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "trainer_state.json"


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for f in path.iterdir():
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def save_torch(obj, path: Path) -> None:
    torch.save(obj, path)


def write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, indent=1))


def write_checkpoint(output_dir: str | Path, step: int, writers: dict[str, Callable[[Path], None]],
                     state: dict, keep: int) -> Path:
    """Write one checkpoint atomically. `writers` maps a file name to a function writing that file."""
    root = checkpoint_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    tmp.mkdir()
    for name, write in writers.items():
        write(tmp / name)
    write_json(state, tmp / STATE_FILE)
    _fsync_tree(tmp)
    if final.exists():  # the same step saved again (e.g. after a resume): swap it out
        old = root / f".tmp-old-{step:08d}-{os.getpid()}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)
    _fsync_dir(root)
    pointer_tmp = root / f".tmp-latest-{os.getpid()}"
    pointer_tmp.write_text(final.name + "\n")
    os.replace(pointer_tmp, root / "latest")
    _fsync_dir(root)
    complete = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).is_file())
    for old in complete[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(spec: str, output_dir: str | Path) -> Path | None:
    """`auto`: the latest complete checkpoint of output_dir (None if there is none); else a folder path."""
    if spec != "auto":
        path = Path(spec)
        if not (path / STATE_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a checkpoint folder (no {STATE_FILE})")
        return path
    root = checkpoint_root(output_dir)
    pointer = root / "latest"
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if (path / STATE_FILE).is_file():
            return path
    complete = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).is_file()) if root.is_dir() else []
    return complete[-1] if complete else None


def read_state(path: Path) -> dict:
    return json.loads((path / STATE_FILE).read_text())


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
