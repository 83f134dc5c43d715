"""Checks of one generation request, all before any work: its arguments, its size (with diffusers'
resolution bins and the latent shape it gives) and the memory it needs.

A wrong request fails here in milliseconds with the actual and the expected values, not minutes later inside
the model (`SanaVideoPipeline.check_size`, `check_memory`, the start of `__call__`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# diffusers' resolution bins (height, width) by aspect ratio h/w, for the 480p (sample_size 30) and
# 720p (sample_size 22) models. Other models generate at the requested size.
ASPECT_RATIO_480_BIN: dict[float, tuple[int, int]] = {
    0.5: (448, 896),
    0.57: (480, 832),
    0.68: (528, 768),
    0.78: (560, 720),
    1.0: (624, 624),
    1.13: (672, 592),
    1.29: (720, 560),
    1.46: (768, 528),
    1.67: (816, 496),
    1.75: (832, 480),
    2.0: (896, 448),
}
ASPECT_RATIO_720_BIN: dict[float, tuple[int, int]] = {
    0.5: (672, 1344),
    0.57: (704, 1280),
    0.68: (800, 1152),
    0.78: (832, 1088),
    1.0: (960, 960),
    1.13: (1024, 896),
    1.29: (1088, 832),
    1.46: (1152, 800),
    1.67: (1248, 736),
    1.75: (1280, 704),
    2.0: (1344, 672),
}
RESOLUTION_BINS = {30: ASPECT_RATIO_480_BIN, 22: ASPECT_RATIO_720_BIN}


@dataclass(frozen=True)
class GenerationSize:
    """Checked sizes of one request: pixels requested, pixels generated (after binning), latent shape."""

    height: int
    width: int
    frames: int
    gen_height: int
    gen_width: int
    latent_shape: tuple[int, int, int, int]  # (C, F', H', W')


def whole(name: str, value) -> int:
    """An integer size argument; 5.7 or "5" is an error, not silently 5."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        and not (isinstance(value, float) and value.is_integer())
    ):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def check_arguments(
    output_type: str,
    output_types: tuple[str, ...],
    guidance_scale: float,
    steps: int,
    prompt: Any,
    embeds: Any,
) -> None:
    """The scalar arguments of `__call__`: a known output type, guidance >= 1, a step, one prompt source."""
    if output_type not in output_types:
        raise ValueError(f"output_type must be one of {output_types}, got {output_type!r}")
    if guidance_scale < 1.0:
        raise ValueError(f"guidance_scale must be >= 1 (1 disables guidance), got {guidance_scale}")
    if steps < 1:
        raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
    if (prompt is None) == (embeds is None):
        raise ValueError("pass exactly one of prompt and prompt_embeds")


def check_rollout(chunk_frames: Any, sampler: Any, latents: Any, generator: Any) -> None:
    """Arguments that chunk-by-chunk sampling (`rollout`) cannot honour, refused rather than ignored."""
    if chunk_frames is None:
        raise ValueError(
            "rollout samples chunk by chunk and needs chunk_frames (the argument or the model's option)"
        )
    if sampler is not None:
        raise ValueError(
            f"rollout uses the stream's Euler re-noising steps; sampler={sampler!r} needs rollout=False"
        )
    if latents is not None:
        raise ValueError("rollout draws each chunk's noise as it goes; latents= needs rollout=False")
    if isinstance(generator, list) and len(generator) != 1:
        raise ValueError(f"rollout draws from one generator, got a list of {len(generator)}")


def generation_size(
    height: int, width: int, frames: int, vae: Any, config: Any, use_resolution_binning: bool = True
) -> GenerationSize:
    """Validate a request against the VAE's strides (`vae`: a `VideoVAE`) and the transformer's patch
    (`config`: its `ModelConfig`); errors name actual and expected values. A transformer whose `sample_size`
    has diffusers' bins generates at the nearest bin."""
    height, width, frames = whole("height", height), whole("width", width), whole("frames", frames)
    t_stride, s_stride = vae.temporal_stride, vae.spatial_stride
    if frames < 1 or (frames - 1) % t_stride:
        lower = max(1, (frames - 1) // t_stride * t_stride + 1)
        raise ValueError(
            f"frames must be {t_stride}k+1 for this VAE (temporal stride {t_stride}), got {frames}; "
            f"nearest valid: {lower} or {lower + t_stride}"
        )
    gen_height, gen_width = height, width
    bins = RESOLUTION_BINS.get(getattr(config, "sample_size", None))
    if use_resolution_binning and bins is not None:
        ratio = min(bins, key=lambda r: abs(r - height / width))
        gen_height, gen_width = bins[ratio]
    patch_t, patch_h, patch_w = config.patch_size
    multiple_h, multiple_w = s_stride * patch_h, s_stride * patch_w
    if gen_height % multiple_h or gen_width % multiple_w or gen_height <= 0 or gen_width <= 0:
        raise ValueError(
            f"height and width must be positive multiples of the VAE stride x patch = {multiple_h} x "
            f"{multiple_w}, got {gen_height}x{gen_width}"
        )
    latent_frames = (frames - 1) // t_stride + 1
    if latent_frames % patch_t:
        raise ValueError(f"{latent_frames} latent frames are not a multiple of the temporal patch {patch_t}")
    latent_shape = (vae.latent_channels, latent_frames, gen_height // s_stride, gen_width // s_stride)
    return GenerationSize(height, width, frames, gen_height, gen_width, latent_shape)


def memory_estimate(size: GenerationSize, config: Any, batch: int = 1, cfg: bool = True) -> int:
    """Rough peak bytes of one `__call__`: transformer activations (about 16 float32 values per token and
    hidden unit, doubled under CFG) plus the decoded video in float32, three copies (decode, [0, 1], output).
    Both grow linearly with the frames; `stream` instead stays constant."""
    _, f, h, w = size.latent_shape
    pt, ph, pw = config.patch_size
    tokens = (f // pt) * (h // ph) * (w // pw)
    activations = batch * (2 if cfg else 1) * tokens * int(config.hidden_size) * 4 * 16
    video = batch * size.frames * size.gen_height * size.gen_width * 3 * 4 * 3
    return activations + video


def available_memory(device: torch.device) -> int | None:
    """Free bytes on `device` (CUDA: free device memory; CPU: available pages), None where unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu" and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def check_memory(size: GenerationSize, need: int, device: torch.device) -> None:
    """Refuse, before any work, a request whose estimate `need` exceeds the memory available on `device`."""
    available = available_memory(device)
    if available is not None and need > available:
        raise ValueError(
            f"{size.frames} frames at {size.gen_height}x{size.gen_width} need about {need / 2**30:.1f} GiB, "
            f"but {available / 2**30:.1f} GiB are available on {device}; use fewer frames, or stream long "
            "videos (`stream()`, `generate --stream`) at constant memory"
        )
