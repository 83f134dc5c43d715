"""A wider decoder for a trained Wan VAE that decodes exactly as the narrow one did (function-preserving widening).

`widen_decoder(vae, width)` returns a new `AutoencoderKLWan` with `decoder_base_dim = width`: the encoder, the
latent statistics and so the latent space are the old VAE's, bit for bit, and the wider decoder starts as the old
one. Every decoder tensor keeps its old channels in the first positions of each channel group (the attention's
q / k / v, the temporal upsampler's two frame phases); the new output channels start at zero (weights and bias),
and the weights that read new input channels start small and random, so the new channels carry zeros until
training moves the weights that make them (their gradients flow through the random readers). Two things scale
with the width and are compensated on the old channels: `WanRMS_norm` multiplies by sqrt(channels), so its
gain is scaled by sqrt(old / new); the mid block's single-head attention divides q.k by sqrt(channels), so its
q rows are scaled by sqrt(new / old). Then `--decoder-only` training (sanavideo.train.vae) starts where the
narrow decoder stopped, with more capacity, and the transformer trained on the latent space needs nothing.
"""

from __future__ import annotations

import math

import torch

# Output channels of these tensors are `groups` blocks of one width each (concatenated along dim 0).
_GROUPS = {"to_qkv": 3, "time_conv": 2}
READER_STD = 1e-3  # the initial weights that read a new channel: small, so the start is the narrow decoder


def _groups(name: str) -> int:
    return next((g for key, g in _GROUPS.items() if key in name), 1)


def _old_positions(old: int, new: int, groups: int) -> torch.Tensor:
    """Indices in a widened axis of `new` entries where the `old` ones go: the first old/groups of each group."""
    if old == new:
        return torch.arange(new)
    if old % groups or new % groups or new < old:
        raise ValueError(f"cannot widen an axis of {old} channels in {groups} groups to {new}")
    per_old, per_new = old // groups, new // groups
    return torch.cat([torch.arange(per_old) + g * per_new for g in range(groups)])


def widen_decoder(vae, width: int, seed: int = 0):
    """A copy of `vae` (an `AutoencoderKLWan`) whose decoder has base width `width` and decodes as `vae`'s does."""
    from diffusers import AutoencoderKLWan

    old_width = vae.config.decoder_base_dim
    if width <= old_width:
        raise ValueError(f"the new decoder width must exceed the old one ({old_width}), got {width}")
    wide = AutoencoderKLWan.from_config({**vae.config, "decoder_base_dim": width})
    old_state = vae.state_dict()
    gen = torch.Generator().manual_seed(seed)
    new_state = {}
    for name, target in wide.state_dict().items():
        old = old_state[name].to(target.dtype)
        if not name.startswith("decoder.") or old.shape == target.shape:
            new_state[name] = old.clone()
            continue
        if name.endswith(".gamma"):
            # (C, 1, ...): RMS norm gain; new channels' inputs are zero, so any gain does for them
            value = torch.ones_like(target)
            scale = math.sqrt(old.shape[0] / target.shape[0])  # the norm multiplies by sqrt(C)
            value[_old_positions(old.shape[0], target.shape[0], 1)] = old * scale
            new_state[name] = value
            continue
        # weights (out, in, kernel...) and biases (out,): zero rows for new outputs, small columns for new inputs
        rows = _old_positions(old.shape[0], target.shape[0], _groups(name))
        value = torch.zeros_like(target)
        if old.dim() > 1:
            value[rows] = torch.randn(target[rows].shape, generator=gen) * READER_STD
            cols = _old_positions(old.shape[1], target.shape[1], 1)
            value[rows[:, None], cols[None, :]] = old
        else:
            value[rows] = old
        if ".attentions." in name and ".to_qkv." in name:  # single-head attention: q.k / sqrt(C)
            c_old, c_new = old.shape[0] // 3, target.shape[0] // 3
            value[:c_new] *= math.sqrt(c_new / c_old)  # the q rows
        new_state[name] = value
    wide.load_state_dict(new_state)
    return wide
