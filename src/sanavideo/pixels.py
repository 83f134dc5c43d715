"""One rule for pixel values: uint8 0..255 <-> float [-1, 1] (what the VAEs take and give) -> [0, 1] (outputs).

Images given to the pipeline go in as diffusers' `VaeImageProcessor` takes them (x / 255 * 2 - 1, in
`sanavideo.media.prepare_image`), for parity with its image-to-video pipeline.
"""

from __future__ import annotations

import torch


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    """uint8 (or float 0..255) pixels -> float32 in [-1, 1], same layout."""
    return x.float() / 127.5 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped (diffusers' video post-processing)."""
    return (x / 2 + 0.5).clamp(0, 1)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8 0..255, clamped and rounded, same layout."""
    return (to_unit(x.float()) * 255).round().to(torch.uint8)
