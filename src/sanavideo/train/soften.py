"""Softening cross-attention heads of a trained transformer, to let a warm-started run re-learn what they read.

A head's softmax logits are (q_norm(q) . k_norm(k)) / sqrt(head_dim); q_norm is an RMSNorm across all heads
whose gain vector holds one slice of `head_dim` entries per head. Scaling a head's slice by `factor` multiplies
its logits by `factor`: at factor 0 the head attends uniformly to the caption's real tokens (padding keeps
its -10000 bias), at 1 nothing changes. The rest of the model is untouched; the head's output becomes the mean
of its values, and a warm-started run re-learns its attention from an even start instead of from the `<bos>`
token that trained heads settle on. Measured on the embedded model (docs/embedded-model.md, "Which words reach
the cross-attention output"): more of the motion words reached the video tokens for a few hundred steps, then
the head went back to `<bos>`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sanavideo.model import SanaVideoTransformer


def soften_cross_attention(model: SanaVideoTransformer, heads: Sequence[int], factor: float) -> None:
    """Scale the cross-attention query-norm gain of `heads` by `factor` in every block, in place."""
    n_heads = model.config.cross_num_heads
    bad = [h for h in heads if not 0 <= h < n_heads]
    if bad or not heads:
        raise ValueError(f"heads must be a non-empty list of indices in [0, {n_heads}), got {list(heads)}")
    if not 0.0 <= factor <= 1.0:
        raise ValueError(f"factor must lie in [0, 1] (1: unchanged, 0: uniform attention), got {factor}")
    d = model.config.cross_head_dim
    with torch.no_grad():
        for block in model.blocks:
            gain = block.cross_attn.q_norm.weight  # (heads * head_dim,)
            for h in heads:
                gain[h * d : (h + 1) * d] *= factor
