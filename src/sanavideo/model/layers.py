"""Building blocks of the SANA-Video transformer: RMSNorm, timestep and caption embedders, Mix-FFN.

Module and parameter names follow the upstream checkpoint (docs/reference.md §1.10), so an upstream state dict loads
without renaming.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """weight * x / sqrt(mean(x^2) + eps) over the last dim: torch's fused `F.rms_norm`, which accumulates
    half-precision inputs in float32 (bit for bit the float32 formula cast back, in torch 2.13)."""

    def __init__(self, dim: int, eps: float, init: float = 1.0) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, self.weight.shape, self.weight.to(x.dtype), self.eps)


def sinusoidal_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) float timesteps -> (N, dim) as [cos(t*f), sin(t*f)], f_i = max_period^(-i/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features -> MLP. Keys: mlp.0, mlp.2."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        freq = sinusoidal_embedding(t, self.freq_dim)
        return self.mlp(freq.to(self.mlp[0].weight.dtype))


class CaptionMLP(nn.Module):
    """timm-style Mlp(fc1 -> GELU(tanh) -> fc2): caption features -> model width."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CaptionEmbedder(nn.Module):
    """Holds the caption MLP under the upstream key prefix `y_embedder.y_proj`."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.y_proj = CaptionMLP(in_dim, hidden)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.y_proj(y)


class ConvUnit(nn.Module):
    """A bare conv under a `.conv` attribute, as upstream's ConvLayer names it (key `<name>.conv.weight`)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def temporal_taps(
    y: torch.Tensor, weight: torch.Tensor, chunk_frames: list[int], tail: torch.Tensor | None
) -> torch.Tensor:
    """The (3, 1) temporal conv of the Mix-FFN over frames, block-causal across chunks, without its residual.

    y: (B, F, HW, D) point-conv output; weight: (D, D, 3, 1), taps for frames f-1, f, f+1.
    Frame f sees f-1 (the previous chunk's last frame at a chunk start; `tail` (B, HW, D), or zero, at the
    first frame) and f+1 only inside its own chunk; a chunk's last frame sees zero padding.
    With one chunk and no tail this is upstream's symmetric conv with zero padding. Each chunk is convolved
    on its own, so a later chunk cannot change an earlier chunk's output by even a rounding error.
    """
    xt = y.permute(0, 3, 1, 2)  # (B, F, HW, D) -> (B, D, F, HW), a channels-last view
    if len(chunk_frames) == 1 and tail is None:
        out = F.conv2d(xt, weight, padding=(1, 0))
    else:
        zero = torch.zeros_like(xt[:, :, :1])
        left = zero if tail is None else tail.permute(0, 2, 1)[:, :, None]  # (B, HW, D) -> (B, D, 1, HW)
        pieces, start = [], 0
        for size in chunk_frames:
            segment = torch.cat([left, xt[:, :, start : start + size], zero], dim=2)  # (B, D, size + 2, HW)
            pieces.append(F.conv2d(segment, weight))
            left = xt[:, :, start + size - 1 : start + size]
            start += size
        out = torch.cat(pieces, dim=2)
    return out.permute(0, 2, 3, 1)  # (B, D, F, HW) -> (B, F, HW, D)


class MixFFN(nn.Module):
    """GLU-MBConv with a temporal conv (upstream GLUMBConvTemp, docs/reference.md §1.8).

    1x1 conv (bias) -> SiLU -> 3x3 depthwise (bias) -> value * SiLU(gate) -> 1x1 (no bias) -> y + t_conv(y).
    Convs run on channels-last views, so no activation is copied to change layout.
    """

    def __init__(self, dim: int, hidden: int, t_kernel: int = 3) -> None:
        super().__init__()
        self.inverted_conv = ConvUnit(nn.Conv2d(dim, 2 * hidden, 1))
        self.depth_conv = ConvUnit(nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden))
        self.point_conv = ConvUnit(nn.Conv2d(hidden, dim, 1, bias=False))
        self.t_conv = nn.Conv2d(dim, dim, (t_kernel, 1), padding=(t_kernel // 2, 0), bias=False)
        nn.init.zeros_(self.t_conv.weight)

    def forward(
        self,
        x: torch.Tensor,
        grid: tuple[int, int, int],
        chunk_frames: list[int],
        tail: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, D) -> (out (B, N, D), last-frame point-conv output (B, HW, D) for a streaming cache)."""
        B, N, D = x.shape
        f, h, w = grid
        # (B, N, D) -> (B*F, D, H, W) as a channels-last view
        z = x.reshape(B * f, h, w, D).permute(0, 3, 1, 2)
        inplace = not torch.is_grad_enabled()  # inference: reuse the big activations' memory
        z = F.silu(self.inverted_conv(z), inplace=inplace)
        z = self.depth_conv(z)
        value, gate = z.chunk(2, dim=1)
        gate = F.silu(gate, inplace=inplace)
        z = self.point_conv(value.mul_(gate) if inplace else value * gate)
        y = z.permute(0, 2, 3, 1).reshape(B, f, h * w, D)  # (B*F, D, H, W) -> (B, F, HW, D)
        out = y + temporal_taps(y, self.t_conv.weight, chunk_frames, tail)
        return out.reshape(B, N, D), y[:, -1]
