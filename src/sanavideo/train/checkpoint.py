"""Atomic training checkpoints: OUTPUT/checkpoints/step-XXXXXXXX/ plus a `latest` pointer.

A checkpoint is written into a hidden temporary folder, flushed to disk, then renamed into place, and only
then does `latest` (itself replaced atomically) point at it; a run killed while saving leaves the previous
checkpoint and pointer intact. Files of one checkpoint:

    model.safetensors        transformer weights (the trainable ones only under LoRA), unwrapped key names
    ema.safetensors          EMA of the trainable parameters (if EMA is on)
    text_encoder.safetensors the trained text encoder (text_encoder.trainable)
    null_caption.safetensors the fixed null caption used for caption dropout
    optimizer.pt             full (gathered) optimizer state, keyed by parameter name
    rng.safetensors          torch / CUDA / python / numpy RNG states of rank 0, as plain tensors
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

from sanavideo.fsutil import load_safetensors, publish_folder  # noqa: F401  (load_safetensors: re-exported)

STATE_FILE = "trainer_state.json"
RNG_FILE = "rng.safetensors"


def split_ema(ema: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """An `ema.safetensors` state (keys `transformer.*`, `text_encoder.*`) -> (transformer, text encoder) weights
    under their modules' own key names."""
    parts: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] = ({}, {})
    for key, value in ema.items():
        for part, prefix in zip(parts, ("transformer.", "text_encoder.")):
            if key.startswith(prefix):
                part[key.removeprefix(prefix)] = value
    return parts


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
    """Flush every file of a folder to disk."""
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


def write_checkpoint(
    output_dir: str | Path, step: int, writers: dict[str, Callable[[Path], None]], state: dict, keep: int
) -> Path:
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
    publish_folder(tmp, final)  # umask modes; a step saved again (e.g. after a resume) is swapped out
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


def save_rng_state(path: Path) -> None:
    """Write the torch / CUDA / python / numpy RNG states as plain tensors (safetensors; nothing to unpickle)."""
    from safetensors.torch import save_file

    py_version, py_words, py_gauss = random.getstate()
    np_name, np_words, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        "torch": torch.get_rng_state(),
        "python": torch.tensor(py_words, dtype=torch.int64),  # 624 words + position, each < 2**32
        "numpy": torch.from_numpy(np.asarray(np_words, dtype=np.int64)),
    }
    if torch.cuda.is_available():
        tensors["cuda"] = torch.stack(torch.cuda.get_rng_state_all())  # (devices, state bytes)
    metadata = {
        "python_version": str(py_version),
        "python_gauss": repr(py_gauss),  # None or a float
        "numpy": json.dumps([np_name, int(np_pos), int(np_has_gauss), float(np_gauss)]),
    }
    save_file(tensors, str(path), metadata=metadata)


def load_rng_state(path: Path) -> None:
    """Restore the RNG states written by `save_rng_state`."""
    import ast

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    missing = {"torch", "python", "numpy"} - tensors.keys() or {
        "python_version",
        "python_gauss",
        "numpy",
    } - meta.keys()
    if missing:
        raise ValueError(f"{path} is not an RNG state file: missing {sorted(missing)}")
    torch.set_rng_state(tensors["torch"])
    gauss = ast.literal_eval(meta["python_gauss"])  # literal only: None or a float
    random.setstate((int(meta["python_version"]), tuple(tensors["python"].tolist()), gauss))
    np_name, np_pos, np_has_gauss, np_gauss = json.loads(meta["numpy"])
    np.random.set_state((np_name, tensors["numpy"].numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    cuda = tensors.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(cuda))
