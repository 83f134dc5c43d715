"""Atomic writes: a killed writer's temporary file is removed by the next writer of that target, and writing
many files into one folder stays linear (the folder is listed once per process, not once per file)."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from sanavideo import fsutil
from sanavideo.fsutil import atomic_save_tensors


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_dead_writers_temp_file_is_removed_and_live_ones_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_TEMP_CANDIDATES", {})  # as a fresh process
    dead = tmp_path / f".item.safetensors.{_dead_pid()}.abcdefgh.tmp.safetensors"
    live = tmp_path / f".item.safetensors.{os.getppid()}.abcdefgh.tmp.safetensors"
    other = tmp_path / f".other.safetensors.{_dead_pid()}.abcdefgh.tmp.safetensors"
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    atomic_save_tensors({"a": torch.zeros(2)}, tmp_path / "item.safetensors")
    assert not dead.exists() and live.exists() and other.exists()  # only this target's dead writers' files
    atomic_save_tensors({"a": torch.zeros(2)}, tmp_path / "other.safetensors")
    assert not other.exists()


def test_many_writes_into_one_folder_list_it_once(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_TEMP_CANDIDATES", {})
    listings = []
    real_scandir = os.scandir

    def counting_scandir(path="."):
        listings.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(fsutil.os, "scandir", counting_scandir)
    for i in range(20):
        atomic_save_tensors({"a": torch.zeros(2)}, tmp_path / f"{i}.safetensors")
    assert len(listings) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.safetensors" for i in range(20))


def test_a_replaced_folder_keeps_other_files_only_when_asked(tmp_path):
    from sanavideo.fsutil import atomic_folder

    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_text("old weights")
    (target / "README.md").write_text("the user's notes")
    (target / "extra").mkdir()
    (target / "extra" / "a.txt").write_text("a")
    with atomic_folder(target, keep_others=True) as tmp:
        (tmp / "weights.bin").write_text("new weights")
    assert (target / "weights.bin").read_text() == "new weights"
    assert (target / "README.md").read_text() == "the user's notes" and (target / "extra" / "a.txt").is_file()
    with atomic_folder(target) as tmp:  # a fresh export: nothing stale carried over
        (tmp / "weights.bin").write_text("newer")
    assert sorted(p.name for p in target.iterdir()) == ["weights.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary left
