"""Batch-1 3-D convolutions on a CPU through oneDNN.

PyTorch picks its own native (unfold + matrix product) kernel instead of oneDNN for a float32 CPU convolution
with batch 1, a kernel at most 3 wide and a small input (ATen's `use_mkldnn` heuristic, where N*C*T*H is at
most 20,480). Decoding a video one batch-1 chunk at a time puts nearly every 3x3x3 conv of the Wan VAE at
64x64 in that case, where oneDNN runs the same convolution 1.4-4x faster (the whole decode 1.73x; measured on
the 2-core AMD EPYC VM, docs/benchmarks.md, `benchmarks/vae_decode.py`). `use_onednn_conv3d` routes those
convolutions of a module to `torch.mkldnn_convolution` (same values to float32 rounding, differentiable); any
other input (a batch > 1, another dtype or device) goes to `F.conv3d` as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OneDNNConv3dForward:
    """Stands in for one zero-padded `nn.Conv3d`'s `_conv_forward`: batch-1 float32 CPU inputs go to oneDNN, any
    other input to `F.conv3d` as before. A plain object holding the conv's geometry, so the module still pickles
    and deep-copies (the weights come in as arguments)."""

    def __init__(self, conv: nn.Conv3d) -> None:
        self.stride, self.padding, self.dilation, self.groups = (
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
        )

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.shape[0] == 1 and x.device.type == "cpu" and x.dtype == torch.float32:
            return torch.mkldnn_convolution(
                x, weight, bias, self.padding, self.stride, self.dilation, self.groups
            )
        return F.conv3d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


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
            and not isinstance(vars(conv).get("_conv_forward"), OneDNNConv3dForward)  # not routed yet
        ):
            conv._conv_forward = OneDNNConv3dForward(conv)
            routed += 1
    return routed
