"""Every file we write gets the umask's mode (0644 under 022), and an overwritten file keeps its mode.

Temporary files come from `mkstemp` (0600) and safetensors writes 0600; an output must not keep that.
"""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.cli import main
from sanavideo.fsutil import atomic_path, atomic_save_tensors, atomic_write_json
from sanavideo.video_io import VideoWriter

FAST = ["--frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--device", "cpu"]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_writers_use_the_umask_and_keep_an_existing_mode(tmp_path, umask_022):
    atomic_write_json({"a": 1}, tmp_path / "a.json")
    atomic_save_tensors({"x": torch.zeros(2)}, tmp_path / "t.safetensors")
    assert _mode(tmp_path / "a.json") == _mode(tmp_path / "t.safetensors") == 0o644
    os.chmod(tmp_path / "a.json", 0o640)
    with atomic_path(tmp_path / "a.json") as tmp:
        tmp.write_text("{}")
    assert _mode(tmp_path / "a.json") == 0o640 and (tmp_path / "a.json").read_text() == "{}"
    os.umask(0o027)
    atomic_write_json({}, tmp_path / "b.json")
    assert _mode(tmp_path / "b.json") == 0o640


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".png"])
def test_videos_are_0644(tmp_path, umask_022, suffix):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    with VideoWriter(tmp_path / f"v{suffix}", fps=8) as writer:
        writer.append(frames)
    written = sorted(tmp_path.iterdir())
    assert written and all(_mode(p) == 0o644 for p in written), [(p.name, oct(_mode(p))) for p in written]


def test_generate_and_training_checkpoints(tiny_folders, tmp_path, umask_022):  # noqa: F811
    from sanavideo.train import checkpoint as ckpt

    model = tmp_path / "model"
    shutil.copytree(tiny_folders["euler"], model)
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"old")
    os.chmod(out, 0o664)
    assert main(["generate", "a red circle", "-o", str(out), "--model", str(model), *FAST]) == 0
    assert _mode(out) == 0o664 and out.stat().st_size > 3

    writers = {
        "model.safetensors": lambda p: ckpt.save_safetensors({"w": torch.ones(2)}, p),
        ckpt.RNG_FILE: ckpt.save_rng_state,
    }
    folder = ckpt.write_checkpoint(tmp_path / "run", 1, writers, {"step": 1}, keep=2)
    assert {p.name: _mode(p) for p in folder.iterdir()} == {
        "model.safetensors": 0o644,
        ckpt.RNG_FILE: 0o644,
        ckpt.STATE_FILE: 0o644,
    }
    assert json.loads((folder / ckpt.STATE_FILE).read_text()) == {"step": 1}
