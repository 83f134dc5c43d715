"""A `generate --stream` killed by SIGTERM removes its temporary file; one killed by SIGKILL leaves it, and the
next run of the same command removes it. Either way the output is the old file or a complete new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from test_data_video import clips, encoders  # noqa: F401  (fixtures)
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

STREAM = ["-m", "sanavideo", "generate", "a red circle bounces around", "--stream", "--frames", "961"]


def _start(out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, *STREAM, "-o", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait_for_temp(folder, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        temps = [p for p in folder.glob(".out.mp4.*.tmp.mp4") if p.stat().st_size > 0]
        if temps:
            return temps
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    raise AssertionError("the stream wrote nothing in time")


@pytest.mark.slow
def test_killed_streams_leave_the_old_output_and_no_temp_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the old video")

    proc = _start(out)
    _wait_for_temp(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.glob(".out.mp4.*")) == [] and out.read_bytes() == b"the old video"

    proc = _start(out)
    stale = _wait_for_temp(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=60)
    assert all(p.exists() for p in stale) and out.read_bytes() == b"the old video"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sanavideo",
            "generate",
            "a red circle",
            "--frames",
            "5",
            "--steps",
            "2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob(".out.mp4.*")) == []  # the killed run's temporary file is gone
    assert out.stat().st_size > 1000


# -- convert, precompute and train, stopped while they publish their output ---------------------------------
# Each command runs in a child process whose atomic writer stops just before it renames the finished temporary
# file or folder onto the target named HOLD_AT; the test then sends the signal. So the signal lands inside the
# window that matters every time, not by chance.
HOLD = """
import os, sys, time
import sanavideo.fsutil as f
def hold(publish):
    def held(tmp, target, *options):
        if os.path.basename(str(target)) == os.environ["HOLD_AT"]:
            print("HOLDING", flush=True)
            time.sleep(600)
        publish(tmp, target, *options)
    return held
f.publish, f.publish_folder = hold(f.publish), hold(f.publish_folder)
from sanavideo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _held_run(argv: list[str], hold_at: str, sig: int) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", HOLD_AT=hold_at)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.strip() == "HOLDING":
            break
    else:
        raise AssertionError(f"never reached {hold_at}: {proc.stderr.read()}")
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def _run(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sanavideo", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stderr


def _snapshot(path) -> dict:
    """Relative path -> bytes of every file under `path` (or of the file itself)."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _temps(folder) -> list:
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


def _check_kills(argv: list[str], target, hold_at: str) -> None:
    """An existing output survives SIGTERM (no temporary left) and SIGKILL (whose temporary the next run of
    the same command removes, writing a complete output)."""
    _run(argv)
    old = _snapshot(target)
    assert _held_run(argv, hold_at, signal.SIGTERM) == 128 + signal.SIGTERM
    assert _snapshot(target) == old and _temps(target.parent) == []
    assert _held_run(argv, hold_at, signal.SIGKILL) == -signal.SIGKILL
    assert _snapshot(target) == old and _temps(target.parent) != []  # the killed writer's leftovers
    _run(argv)
    assert _temps(target.parent) == [] and _snapshot(target).keys() == old.keys()


@pytest.mark.slow
def test_convert_killed_while_publishing(tiny_folders, tmp_path):
    out = tmp_path / "out" / "converted"  # a folder (--to diffusers); precompute below covers a single file
    _check_kills(
        ["convert", str(tiny_folders["euler"] / "transformer"), str(out), "--to", "diffusers"],
        out,
        "converted",
    )


@pytest.mark.slow
def test_precompute_killed_while_publishing(clips, encoders, tmp_path):  # noqa: F811
    out = tmp_path / "cache"
    argv = [
        "precompute",
        str(clips),
        "--encoders",
        str(encoders),
        "-o",
        str(out),
        "--num-frames",
        "9",
        "--resolution",
        "32",
        "--max-text-length",
        "12",
        "--chi",
        "none",
        "--device",
        "cpu",
    ]
    _check_kills(argv, out / "index.json", "index.json")


@pytest.mark.slow
def test_train_killed_while_exporting(tmp_path):
    from test_train_loop import make_args

    from sanavideo.train.args import save_args

    out = tmp_path / "run"
    save_args(make_args(out, max_steps=2, log_every=1, export=True), tmp_path / "train.yaml")
    _check_kills(["train", "--config", str(tmp_path / "train.yaml")], out / "final", "final")
