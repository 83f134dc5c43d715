"""The model's backend seam: the operations whose best implementation depends on the hardware, or on how
the tokens are split across devices, kept apart so that a GPU kernel or a sequence-parallel wrapper plugs in
without editing the model files.

- `LinearAttention`: the contract of block-causal ReLU linear attention with RoPE. It takes the features
  `q, k, v` (phi already applied to q and k) and the rotation table, and applies the rotation itself, so
  a fused kernel never materialises the rotated copies. The reference is
  `model.attention.rotary_linear_attention`; `use_linear_attention(model, kernel)` swaps in another.
- `BlockContext`: what every block of one forward pass shares (caption, modulation, token grid, rotation,
  chunk layout), one object instead of a long positional tuple, so a wrapper can re-shard it in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from sanavideo.model.attention import AttentionState


class LinearAttention(Protocol):
    """Block-causal linear attention over consecutive token chunks.

    q, k, v: (B, N, H, d), q and k non-negative (phi = ReLU applied); rotation: complex (N, 1, d/2) RoPE
    table (`model.rope.rope_rotation`) for the numerator; chunk_tokens: chunk sizes summing to N (one chunk:
    bidirectional); history: the state of earlier chunks (streaming). Returns the output (B, N, H, d) in
    float32 and the last chunk's own contribution to the state.
    """

    def __call__(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        rotation: torch.Tensor,
        chunk_tokens: list[int],
        eps: float,
        history: AttentionState | None = None,
    ) -> tuple[torch.Tensor, AttentionState]: ...


def use_linear_attention(model: nn.Module, kernel: LinearAttention | None) -> None:
    """Run every linear self-attention of `model` through `kernel` (None: back to the reference)."""
    for module in model.modules():
        if hasattr(module, "linear_attention_kernel"):
            module.linear_attention_kernel = kernel


@dataclass
class BlockContext:
    """Inputs every block of one forward pass shares.

    y (B, L, D) caption tokens; y_bias (B, 1, 1, L) additive caption mask or None; t_mod (B, T, 6D) block
    modulations, T = 1 or one row per frame; grid (f, h, w) token grid; rope complex (N, 1, d/2) rotation;
    chunk_frames: chunk sizes in latent frames (block-causal; one chunk = bidirectional).
    """

    y: torch.Tensor
    y_bias: torch.Tensor | None
    t_mod: torch.Tensor
    grid: tuple[int, int, int]
    rope: torch.Tensor
    chunk_frames: list[int]

    @property
    def chunk_tokens(self) -> list[int]:
        """Chunk sizes in tokens: frames times the tokens of one frame."""
        return [c * self.grid[1] * self.grid[2] for c in self.chunk_frames]
