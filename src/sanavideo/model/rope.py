"""3-D rotary position tables (t, h, w) with absolute frame offsets.

Head channels are split t:h:w = (d - 2*2*(d//6)) : 2*(d//6) : 2*(d//6) (40:36:36 for d = 112). Each axis
rotates adjacent channel pairs (2j, 2j+1) by pos * theta^(-2j/dim) (docs/reference.md §1.4). The angles are computed
from positions on the fly, so frame positions have no cap (upstream tabulates 1024; values below 1024
are identical).
"""

from __future__ import annotations

import torch


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    h_dim = w_dim = 2 * (head_dim // 6)
    return head_dim - h_dim - w_dim, h_dim, w_dim


def _axis_angles(positions: torch.Tensor, dim: int, theta: float) -> torch.Tensor:
    # (P,) -> (P, dim // 2) in float64
    inv_freq = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim)
    return positions.to(torch.float64)[:, None] * inv_freq[None]


def rope_rotation(
    grid: tuple[int, int, int], head_dim: int, theta: float, frame_offset: int = 0, device=None
) -> torch.Tensor:
    """Unit complex rotations e^(i angle) for a (f, h, w) token grid in (f, h, w) row-major order.

    Returns complex64 of shape (N, 1, head_dim // 2), N = f*h*w, ready to broadcast over heads. Frames sit
    at absolute positions frame_offset .. frame_offset + f - 1.
    """
    f, h, w = grid
    t_dim, h_dim, w_dim = axis_dims(head_dim)
    ang_t = _axis_angles(torch.arange(frame_offset, frame_offset + f, device=device), t_dim, theta)
    ang_h = _axis_angles(torch.arange(h, device=device), h_dim, theta)
    ang_w = _axis_angles(torch.arange(w, device=device), w_dim, theta)
    angles = torch.cat(
        [
            ang_t[:, None, None].expand(f, h, w, -1),
            ang_h[None, :, None].expand(f, h, w, -1),
            ang_w[None, None, :].expand(f, h, w, -1),
        ],
        dim=-1,
    )  # (f, h, w, head_dim // 2)
    angles = angles.reshape(f * h * w, 1, head_dim // 2)
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64)


def apply_rope(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs (2j, 2j+1) of x (B, N, heads, d) as complex numbers; returns float32."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # (B, N, heads, d/2) complex
    return torch.view_as_real(pairs * rotation).flatten(-2)  # (B, N, heads, d)
