"""Device and dtype choice, one rule for every command: "auto" is CUDA when there is a GPU, else the CPU; the
transformer and text encoder run in bfloat16 where it is native (`native_bf16`), else in float32."""

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


# CPU features with bfloat16 arithmetic (torch.cpu's private probes; absent ones count as False)
_BF16_CPU_PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matmuls and convolutions run natively, so faster than float32: on CUDA, and on CPUs with
    AVX512-BF16 or AMX. A CPU with AVX512 alone passes PyTorch's oneDNN bf16 check but emulates bf16 there,
    slower than float32, so it answers False."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in _BF16_CPU_PROBES)


def inference_dtype(device: torch.device) -> torch.dtype:
    """Default dtype of the transformer and text encoder when generating: bfloat16 where it is native, else
    float32 (the VAE always decodes in float32). On the 2-core AMD EPYC VM (AVX512-BF16) the embedded model's
    streaming forward runs 1.3-1.4x faster in bfloat16 (docs/benchmarks.md)."""
    return torch.bfloat16 if native_bf16(device) else torch.float32


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """A command's `--dtype`: None (or "auto") is `inference_dtype(device)`, else the named torch dtype."""
    if name is None or name == "auto":
        return inference_dtype(device)
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; expected auto, float32, bfloat16 or float16")
    return dtype
