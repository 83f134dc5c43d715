"""The pipeline's two pixel ends: an input image for image-to-video, and decoded video to what callers get.

Both generation paths (`__call__` and `stream`) go through these, so an image is read, resized and scaled
one way, and a decoded video is clamped and laid out one way (diffusers' conventions, for parity).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from sanavideo.checks import GenerationSize
from sanavideo.pixels import to_uint8, to_unit
from sanavideo.video_io import load_image, to_uint8_frames

OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def prepare_image(image: Any, height: int, width: int) -> torch.Tensor:
    """Image (path, PIL, uint8 array (H, W, 3), or tensor (3, H, W) in [-1, 1]) -> (1, 3, 1, H, W) in [-1, 1]."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"an image tensor must be (3, H, W) in [-1, 1], got {tuple(image.shape)}")
        pixels = image.float()[None]
        if pixels.shape[-2:] != (height, width):  # (1, 3, h, w) -> (1, 3, H, W)
            pixels = torch.nn.functional.interpolate(pixels, size=(height, width), mode="bilinear")
        return pixels[:, :, None]  # (1, 3, H, W) -> (1, 3, 1, H, W)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    pil = load_image(image)
    if pil.size != (width, height):
        pil = pil.resize((width, height), resample=Image.LANCZOS)  # diffusers' VaeImageProcessor default
    # diffusers' VaeImageProcessor scaling (x / 255 * 2 - 1), kept for parity with its image-to-video
    pixels = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0)  # (H, W, 3) in [0, 1]
    pixels = pixels.permute(2, 0, 1)[None] * 2.0 - 1.0  # (H, W, 3) -> (1, 3, H, W) in [-1, 1]
    return pixels[:, :, None]  # (1, 3, H, W) -> (1, 3, 1, H, W)


def resize_and_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a video `(B, C, T, h, w)` to cover `height x width` (bilinear), then center-crop to it."""
    batch, channels, frames, h, w = video.shape
    ratio = max(height / h, width / w)
    new_h, new_w = int(h * ratio), int(w * ratio)
    # (B, C, T, h, w) -> (B*T, C, h, w)
    flat = video.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, h, w)
    flat = torch.nn.functional.interpolate(flat, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    flat = flat[:, :, top : top + height, left : left + width]
    return flat.reshape(batch, frames, channels, height, width).permute(0, 2, 1, 3, 4)  # -> (B, C, T, H, W)


def video_output(video: torch.Tensor, size: GenerationSize, output_type: str) -> Any:
    """Decoded `(B, 3, T, H, W)` in [-1, 1] at the generated size -> the requested size and `output_type`:
    "pt" (B, T, 3, H, W) in [0, 1], "np" (B, T, H, W, 3) in [0, 1], "pil" lists (B) of lists (T) of images."""
    video = video.float()
    if (size.gen_height, size.gen_width) != (size.height, size.width):
        video = resize_and_crop(video, size.height, size.width)
    video = to_unit(video).permute(0, 2, 1, 3, 4).cpu()  # (B, 3, T, H, W) -> (B, T, 3, H, W)
    if output_type == "pt":
        return video
    array = video.permute(0, 1, 3, 4, 2).numpy()  # (B, T, 3, H, W) -> (B, T, H, W, 3)
    if output_type == "np":
        return array
    return [[Image.fromarray(f) for f in to_uint8_frames(clip)] for clip in array]


def chunk_to_frames(video: torch.Tensor) -> np.ndarray:
    """One streamed chunk, decoded `(3, T, H, W)` in [-1, 1] -> uint8 frames `(T, H, W, 3)`."""
    return to_uint8(video.float()).permute(1, 2, 3, 0).cpu().numpy()  # (3, T, H, W) -> (T, H, W, 3)
