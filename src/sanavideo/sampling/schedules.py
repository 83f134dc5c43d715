"""Flow-matching noise schedules: the sigma grids of the SANA-Video samplers (docs/reference.md §4.1-§4.3).

A schedule is `sigmas` (N+1 values, decreasing from ~1 to exactly 0) and `timesteps` (the N model inputs,
`t = 1000·sigma`). The noisy latent at sigma is `x = (1 - sigma)·x0 + sigma·noise`.

The two grids reproduce what the reference samplers use, which are diffusers' schedulers:
- DPM-Solver++ (`DPMSolverMultistepScheduler(use_flow_sigmas=True)`): `b = linspace(1, 1/1000, N+1)`,
  `sigma = shift(1 - b)` flipped, last point dropped and replaced by 0. The model inputs are
  `int(1000·sigma)` (truncated: diffusers stores them as int64, the upstream model truncates them itself).
- Euler (`FlowMatchEulerDiscreteScheduler(shift=k)`): `t = linspace(1000, 1000·shift(1/1000), N)`, then
  `sigma = shift(t/1000)`, so the shift is applied twice at the low end (docs/reference.md §4.3); 0 appended; model
  inputs are the float `1000·sigma`.
Both grids are computed in float64 and stored in float32, as diffusers does.

The streaming sampler (LongSANA) uses a third, few-step grid, `renoise_schedule`: sigma = t/1000 at each given
model input t (upstream's [1000, 960, 889, 727], or `shifted_timesteps` of the flow shift), then 0. It is
stored in float64 because its step arithmetic runs in Python floats (`FlowRenoiseSolver`), as it always has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

NUM_TRAIN_TIMESTEPS = 1000
# upstream LongSANA's four re-noising timesteps (shifted_timesteps(4, 8.0), rounded)
UPSTREAM_RENOISE_TIMESTEPS: tuple[float, ...] = (1000.0, 960.0, 889.0, 727.0)


def shift_sigmas(sigmas: np.ndarray | float, shift: float) -> np.ndarray | float:
    """The flow shift `s' = k·s / (1 + (k - 1)·s)`: k > 1 spends more steps at high noise."""
    return shift * sigmas / (1.0 + (shift - 1.0) * sigmas)


@dataclass(frozen=True)
class FlowSchedule:
    """A sampling grid: `sigmas` (N+1,) decreasing to 0, `timesteps` (N,) model inputs (float32; float64 for
    the re-noising grid)."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    def __post_init__(self) -> None:
        if self.sigmas.ndim != 1 or self.timesteps.ndim != 1 or len(self.sigmas) != len(self.timesteps) + 1:
            raise ValueError(
                f"a schedule needs N+1 sigmas and N timesteps, got {tuple(self.sigmas.shape)} and "
                f"{tuple(self.timesteps.shape)}"
            )

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)


def _check(num_steps: int, shift: float) -> None:
    if num_steps < 1:
        raise ValueError(f"num_inference_steps must be at least 1, got {num_steps}")
    if shift <= 0:
        raise ValueError(f"flow_shift must be positive, got {shift}")


def dpm_flow_schedule(num_steps: int, shift: float) -> FlowSchedule:
    """Grid of flow DPM-Solver++ (upstream `time_uniform_flow`, diffusers `use_flow_sigmas`)."""
    _check(num_steps, shift)
    base = 1.0 - np.linspace(1.0, 1.0 / NUM_TRAIN_TIMESTEPS, num_steps + 1)  # (N+1,) from 0 to 0.999
    sigmas = np.flip(shift_sigmas(base, shift))[:-1].copy()  # (N,) from shift(0.999) down, 0 dropped
    timesteps = (sigmas * NUM_TRAIN_TIMESTEPS).astype(np.int64)  # truncation toward 0, as diffusers does
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    return FlowSchedule(torch.from_numpy(sigmas), torch.from_numpy(timesteps).to(torch.float32))


def euler_flow_schedule(num_steps: int, shift: float) -> FlowSchedule:
    """Grid of flow Euler (diffusers `FlowMatchEulerDiscreteScheduler(shift)` with default options)."""
    _check(num_steps, shift)
    # the scheduler's own training grid ends at shift(1/1000) (computed in float32 there)
    sigma_max = float(np.float32(shift_sigmas(np.float32(1.0), np.float32(shift))))
    sigma_min = float(np.float32(shift_sigmas(np.float32(1.0 / NUM_TRAIN_TIMESTEPS), np.float32(shift))))
    t = np.linspace(sigma_max * NUM_TRAIN_TIMESTEPS, sigma_min * NUM_TRAIN_TIMESTEPS, num_steps)
    sigmas = torch.from_numpy(shift_sigmas(t / NUM_TRAIN_TIMESTEPS, shift)).to(torch.float32)  # (N,)
    timesteps = sigmas * NUM_TRAIN_TIMESTEPS
    return FlowSchedule(torch.cat([sigmas, torch.zeros(1)]), timesteps)


def shifted_timesteps(steps: int, shift: float) -> tuple[float, ...]:
    """`steps` timesteps (t = 1000 sigma) of the uniform grid 1, (n-1)/n, ... warped by the flow shift:
    steps=4, shift=8 gives [1000, 960, 888.9, 727.3], upstream's [1000, 960, 889, 727]."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return tuple(1000.0 * float(shift_sigmas(1.0 - i / steps, shift)) for i in range(steps))


def renoise_schedule(timesteps: Sequence[float] = UPSTREAM_RENOISE_TIMESTEPS) -> FlowSchedule:
    """The streaming grid: sigma = t / 1000 at each model input `t` (decreasing, in (0, 1000]), then 0."""
    if not timesteps or any(not 0 < t <= NUM_TRAIN_TIMESTEPS for t in timesteps):
        raise ValueError(f"timesteps must be in (0, 1000], got {tuple(timesteps)}")
    if list(timesteps) != sorted(timesteps, reverse=True):
        raise ValueError(f"timesteps must decrease, got {tuple(timesteps)}")
    sigmas = [float(t) / NUM_TRAIN_TIMESTEPS for t in timesteps] + [0.0]
    return FlowSchedule(
        torch.tensor(sigmas, dtype=torch.float64),
        torch.tensor([float(t) for t in timesteps], dtype=torch.float64),
    )
