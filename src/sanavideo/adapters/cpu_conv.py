"""Batch-1 3-D convolutions on a CPU through oneDNN.

PyTorch picks its own native (unfold + matrix product) kernel instead of oneDNN for a float32 CPU convolution
with batch 1, a kernel at most 3 wide and a small input (ATen's `use_mkldnn` heuristic, where N*C*T*H is at
most 20,480). Decoding a video one batch-1 chunk at a time puts nearly every 3x3x3 conv of the Wan VAE at
64x64 in that case, where oneDNN runs the same convolution ~2.5x faster on this project's CPUs
(docs/benchmarks.md, `benchmarks/vae_conv_path.py`). `use_onednn_conv3d` routes those convolutions of a
module to `torch.mkldnn_convolution` (same values to float32 rounding, differentiable); any other input (a
batch > 1, another dtype or device) takes PyTorch's own choice as before.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _routed(conv: nn.Conv3d, default: Callable) -> Callable:
    def conv_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.shape[0] == 1 and x.device.type == "cpu" and x.dtype == torch.float32:
            return torch.mkldnn_convolution(
                x, weight, bias, conv.padding, conv.stride, conv.dilation, conv.groups
            )
        return default(x, weight, bias)

    return conv_forward


def use_onednn_conv3d(module: nn.Module) -> int:
    """Route the batch-1 float32 CPU calls of every 3x3x3-or-larger `nn.Conv3d` in `module` (zero padding)
    to oneDNN; returns how many convs were routed. Smaller kernels (1x1x1, the (3, 1, 1) time convs) keep
    PyTorch's choice, which is as fast or faster for them. Does nothing where PyTorch has no oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return 0
    routed = 0
    for conv in module.modules():
        if (
            isinstance(conv, nn.Conv3d)
            and min(conv.kernel_size) > 1
            and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple)
            and "_conv_forward" not in vars(conv)  # already routed
        ):
            conv._conv_forward = _routed(conv, conv._conv_forward)
            routed += 1
    return routed
