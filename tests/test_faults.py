"""A `generate --stream` killed by SIGTERM removes its temporary file; one killed by SIGKILL leaves it, and the
next run of the same command removes it. Either way the output is the old file or a complete new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

STREAM = ["-m", "sanavideo", "generate", "a red circle bounces around", "--stream", "--frames", "961"]


def _start(out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, *STREAM, "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


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

    done = subprocess.run([sys.executable, "-m", "sanavideo", "generate", "a red circle", "--frames", "5",
                           "--steps", "2", "-o", str(out)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob(".out.mp4.*")) == []  # the killed run's temporary file is gone
    assert out.stat().st_size > 1000
