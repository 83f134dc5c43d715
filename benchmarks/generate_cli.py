"""What a newcomer waits for: wall time and peak memory of the README's first command, `sanavideo generate
PROMPT` on the embedded default model (33 frames, its 20 steps with guidance), start-up included, on CPU.

Each run is a fresh process (`python -m sanavideo generate ...`, output to a temp folder); its wall time is
taken around the process and its peak RSS from `os.wait4`. A second set of runs measures the start-up alone
(a fresh process that imports the pipeline and loads the model, no sampling). Reports the median of
`--repeats` runs and their range.

    python benchmarks/generate_cli.py [--prompt "a red circle moves right"] [--repeats 3]
        [--model FOLDER] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, publish


def startup_code(model: str | None) -> str:
    """A fresh process's start-up: import the pipeline and load the model (the embedded default: None)."""
    where = "" if model is None else repr(str(Path(model).resolve()))
    return f"from sanavideo.pipeline import SanaVideoPipeline\nSanaVideoPipeline.from_pretrained({where})\n"


def timed_process(argv: list[str], cwd: str) -> tuple[float, float]:
    """Run argv to completion; (wall seconds, peak RSS in MB) of that process."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child never blocks on a full pipe
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            stderr = err.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def summary(values: list[float], unit: str, digits: int) -> str:
    return (
        f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompt", default="a red circle moves right")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="a model folder (default: the embedded model)")
    p.add_argument("--write", default=None, help="append a results table to this markdown file")
    a = p.parse_args()
    import torch

    from sanavideo.device import inference_dtype

    dtype = str(inference_dtype(torch.device("cpu"))).removeprefix("torch.")
    runs, starts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            out = str(Path(tmp) / f"clip{i}.mp4")
            model = [] if a.model is None else ["--model", str(Path(a.model).resolve())]
            runs.append(
                timed_process(
                    [sys.executable, "-m", "sanavideo", "generate", a.prompt, "-o", out, *model], tmp
                )
            )
            if not Path(out).is_file():
                raise RuntimeError(f"generate wrote no {out}")
            starts.append(timed_process([sys.executable, "-c", startup_code(a.model)], tmp))
    table = (
        f"### `sanavideo generate`, start-up included, CPU ({datetime.date.today().isoformat()})\n\n"
        f"Machine: {machine()}. "
        f'`python -m sanavideo generate "{a.prompt}"` with {"the embedded model" if a.model is None else a.model}\'s defaults (33 frames at 64x64, '
        "its sampler and guidance, mp4 written; the transformer and text encoder in the command's default dtype on "
        f"this CPU, {dtype}), each run a fresh process; start-up = a fresh process that "
        "imports the pipeline and loads the model. Median of "
        f"{a.repeats} runs (range). Script: `benchmarks/generate_cli.py`.\n\n"
        "| measure | wall time | peak RSS |\n|---|---|---|\n"
        f"| whole command | {summary([w for w, _ in runs], 's', 2)} | {summary([m for _, m in runs], 'MB', 0)} |\n"
        f"| start-up (import + load) | {summary([w for w, _ in starts], 's', 2)} | "
        f"{summary([m for _, m in starts], 'MB', 0)} |\n"
    )
    publish(table, a.write)


if __name__ == "__main__":
    main()
