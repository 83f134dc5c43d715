"""What every benchmark prints with its numbers: the machine (CPU model first: these VMs differ 2x between
models), and the table appended to a markdown file."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The model name with the CPU family and model numbers: VMs often report a bare "AMD EPYC", and the
    numbers tell the generation (family 25 model 17: Zen 4)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def machine() -> str:
    """'CPU model, arch, N CPU cores, torch X, T threads' for the Machine: line of a results table."""
    import torch

    return (
        f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def publish(table: str, path: str | None) -> None:
    """Print the table; with a path, append it to that markdown file after a blank line."""
    print(table)
    if path:
        with open(path, "a") as f:
            f.write("\n" + table.rstrip("\n") + "\n")
