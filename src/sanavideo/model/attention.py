"""ReLU linear self-attention with 3-D RoPE, and softmax cross-attention to the caption.

Linear attention (docs/reference.md §1.6), per head, with phi = ReLU and ~ = RoPE:

    out_i = (sum_j v_j k~_j^T) q~_i / ((sum_j phi(k_j))^T phi(q_i) + eps)

RoPE rotates the numerator only; the denominator uses the un-rotated features. The history of a query is
the pair of sums (S = sum v k~^T, z = sum phi(k)), so block-causal attention is a running sum over chunks
and a streaming cache is that pair (docs/reference.md §2.2, §2.3). The sums and the numerator run in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sanavideo.model.layers import RMSNorm
from sanavideo.model.ops import LinearAttention
from sanavideo.model.rope import apply_rope


@dataclass
class AttentionState:
    """The history of linear attention for one block: S = sum v k~^T (B, H, d, d), z = sum phi(k) (B, H, d)."""

    kv: torch.Tensor
    k_sum: torch.Tensor

    def __add__(self, other: AttentionState) -> AttentionState:
        return AttentionState(self.kv + other.kv, self.k_sum + other.k_sum)


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    q_rot: torch.Tensor,
    k_rot: torch.Tensor,
    v: torch.Tensor,
    chunk_tokens: list[int],
    eps: float,
    history: AttentionState | None = None,
) -> tuple[torch.Tensor, AttentionState]:
    """Block-causal linear attention over consecutive token chunks, all tensors (B, H, N, d).

    Queries of chunk c see every token of chunks <= c (and `history`). One chunk means bidirectional.
    Returns the output (B, H, N, d) in float32 and the last chunk's own contribution to the state.
    """
    outs = []
    state = history
    start = 0
    for size in chunk_tokens:
        sl = slice(start, start + size)
        k_c, v_c = k[:, :, sl].float(), v[:, :, sl].float()
        own = AttentionState(kv=v_c.transpose(-1, -2) @ k_rot[:, :, sl], k_sum=k_c.sum(dim=2))
        state = own if state is None else state + own
        numerator = q_rot[:, :, sl] @ state.kv.transpose(-1, -2)  # (B, H, n, d)
        denominator = q[:, :, sl].float() @ state.k_sum.unsqueeze(-1)  # (B, H, n, 1)
        outs.append(numerator / (denominator + eps))
        start += size
    return torch.cat(outs, dim=2), own


def rotary_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rotation: torch.Tensor,
    chunk_tokens: list[int],
    eps: float,
    history: AttentionState | None = None,
) -> tuple[torch.Tensor, AttentionState]:
    """The reference `ops.LinearAttention`: q, k, v (B, N, H, d) -> rotate q and k for the numerator, then
    `linear_attention`; returns (B, N, H, d) float32 and the last chunk's own state."""
    q_rot, k_rot = apply_rope(q, rotation), apply_rope(k, rotation)
    # (B, N, H, d) -> (B, H, N, d)
    q, k, v, q_rot, k_rot = (t.transpose(1, 2) for t in (q, k, v, q_rot, k_rot))
    out, own = linear_attention(q, k, q_rot, k_rot, v, chunk_tokens, eps, history)
    return out.transpose(1, 2), own  # (B, H, N, d) -> (B, N, H, d)


class LinearSelfAttention(nn.Module):
    """Upstream `LiteLAReLURope`: keys attn.qkv (no bias), attn.q_norm, attn.k_norm, attn.proj.

    `linear_attention_kernel` (an `ops.LinearAttention`, None: `rotary_linear_attention`) is the seam a GPU
    kernel or a sequence-parallel wrapper plugs into (`ops.use_linear_attention`).
    """

    def __init__(self, dim: int, heads: int, head_dim: int, norm_eps: float, attn_eps: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.attn_eps = heads, head_dim, attn_eps
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(dim, eps=norm_eps)
        self.k_norm = RMSNorm(dim, eps=norm_eps)
        self.proj = nn.Linear(dim, dim)
        self.linear_attention_kernel: LinearAttention | None = None

    def forward(
        self,
        x: torch.Tensor,
        rope: torch.Tensor,
        chunk_tokens: list[int],
        history: AttentionState | None = None,
    ) -> tuple[torch.Tensor, AttentionState]:
        B, N, D = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)  # RMSNorm across all heads, before the head split
        # (B, N, D) -> (B, N, H, d)
        q, k, v = (t.reshape(B, N, self.heads, self.head_dim) for t in (q, k, v))
        q, k = F.relu(q), F.relu(k)
        attend = self.linear_attention_kernel or rotary_linear_attention
        out, own = attend(q, k, v, rope, chunk_tokens, self.attn_eps, history)
        out = out.reshape(B, N, D).to(x.dtype)  # (B, N, H, d) -> (B, N, D)
        return self.proj(out), own


class CrossAttention(nn.Module):
    """Upstream `MultiHeadCrossAttention`: softmax attention of video tokens to caption tokens.

    Keys: cross_attn.q_linear, cross_attn.kv_linear (K rows first, then V), cross_attn.q_norm / k_norm
    (RMSNorm across heads), cross_attn.proj. Padding tokens get an additive bias of -10000.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, norm_eps: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(dim, eps=norm_eps)
        self.k_norm = RMSNorm(dim, eps=norm_eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x (B, N, D) video tokens, y (B, L, D) caption tokens, bias (B, 1, 1, L) additive or None."""
        B, N, D = x.shape
        q = self.q_norm(self.q_linear(x))
        k, v = self.kv_linear(y).chunk(2, dim=-1)
        k = self.k_norm(k)
        # (B, n, D) -> (B, H, n, d)
        q, k, v = (t.reshape(B, -1, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))  # (B, H, N, d) -> (B, N, D)
