"""Adapters around the library components the pipeline uses: video VAEs and text encoders."""

from sanavideo.adapters.text import (
    DEFAULT_NEGATIVE_PROMPT,
    IMAGE_CHI,
    VIDEO_CHI,
    PromptFormat,
    TextEncoder,
    TokenizedPrompts,
    add_motion_score,
    load_text_encoder,
    resolve_chi,
)
from sanavideo.adapters.vae import LTX2VAE, VideoVAE, WanVAE, load_vae, wrap_vae

__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "IMAGE_CHI",
    "LTX2VAE",
    "VIDEO_CHI",
    "PromptFormat",
    "TextEncoder",
    "TokenizedPrompts",
    "VideoVAE",
    "WanVAE",
    "add_motion_score",
    "load_text_encoder",
    "load_vae",
    "resolve_chi",
    "wrap_vae",
]
