"""Device choice, one rule for every command: "auto" is CUDA when there is a GPU, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """`auto` / None, or a torch device string; refuses unknown names and CUDA where there is none."""
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {spec!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but no CUDA GPU is available here; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: there are only {torch.cuda.device_count()} CUDA devices")
    elif device.type not in ("cpu", "mps"):
        raise ValueError(f"device {spec!r} is not supported; expected auto, cpu, cuda or cuda:N")
    return device
