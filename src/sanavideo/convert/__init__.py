"""Checkpoint layouts (upstream, diffusers, sanavideo): key maps as data, format detection, conversion."""

from sanavideo.convert.io import read_checkpoint, save_diffusers, save_original
from sanavideo.convert.keymaps import diffusers_to_original, original_to_diffusers

__all__ = [
    "diffusers_to_original",
    "original_to_diffusers",
    "read_checkpoint",
    "save_diffusers",
    "save_original",
]
