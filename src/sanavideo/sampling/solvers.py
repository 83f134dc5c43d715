"""Flow-matching ODE solvers: Euler and DPM-Solver++(2M), stepping `x` along a `FlowSchedule`.

The model predicts the velocity `v = noise - x0`; a solver turns `(x, v)` at grid point `i` into `x` at
grid point `i+1`. Everything is element-wise, so a solver can step a whole video while the caller pins some
frames (image-to-video keeps latent frame 0 clean).

DPM-Solver++(2M) in the flow parametrisation (docs/reference.md §4.2; Lu et al. 2022, "DPM-Solver++"):
`alpha = 1 - sigma`, `lambda = log(alpha / sigma)`, data prediction `x0 = x - sigma·v`,
first order  `x' = (sigma'/sigma)·x - alpha'·(e^{-h} - 1)·x0`,                     h = lambda' - lambda,
second order adds the midpoint correction `- 0.5·alpha'·(e^{-h} - 1)·D1`, `D1 = (x0_i - x0_{i-1}) / r`,
`r = (lambda_i - lambda_{i-1}) / h`. The first step and the final step (to sigma = 0) are first order, which
lands exactly on `x0` (upstream `lower_order_final`, diffusers `final_sigmas_type="zero"`).

Re-noising flow Euler (LongSANA streaming, `renoise_schedule`): predict `x0 = x - sigma·v`, then jump to the
next grid point by mixing `x0` with noise, `x' = (1 - sigma')·x0 + sigma'·eps`. With the noise the model
implies, `eps = (x - (1 - sigma)·x0) / sigma`, that is the Euler step above written the re-noising way;
with fresh noise it is upstream's sampler for few-step distilled models.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sanavideo.sampling.schedules import FlowSchedule


class FlowEulerSolver:
    """`x_{i+1} = x_i + (sigma_{i+1} - sigma_i)·v_i`."""

    order = 1

    def __init__(self, schedule: FlowSchedule) -> None:
        self.schedule = schedule

    def step(self, x: torch.Tensor, v: torch.Tensor, i: int) -> torch.Tensor:
        sigmas = self.schedule.sigmas
        return x.float() + (sigmas[i + 1] - sigmas[i]).item() * v.float()


class FlowDPMSolver2M:
    """Multistep DPM-Solver++ of order 2 (midpoint form); keeps the previous data prediction."""

    order = 2

    def __init__(self, schedule: FlowSchedule) -> None:
        self.schedule = schedule
        self._prev_x0: torch.Tensor | None = None  # x0 predicted at grid point i-1

    @staticmethod
    def _lambda(sigma: float) -> float:
        return math.log(1.0 - sigma) - math.log(sigma)

    def step(self, x: torch.Tensor, v: torch.Tensor, i: int) -> torch.Tensor:
        sigmas = self.schedule.sigmas.tolist()
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x = x.float()
        x0 = x - sigma * v.float()  # data prediction
        prev_x0, self._prev_x0 = self._prev_x0, x0
        if sigma_next == 0.0:  # final step: first order with alpha'=1, sigma'=0 gives x0 exactly
            return x0
        alpha_next = 1.0 - sigma_next
        h = self._lambda(sigma_next) - self._lambda(sigma)
        phi = math.expm1(-h)  # e^{-h} - 1
        out = (sigma_next / sigma) * x - alpha_next * phi * x0
        if i > 0 and prev_x0 is not None:  # second-order midpoint correction
            r = (self._lambda(sigma) - self._lambda(sigmas[i - 1])) / h
            out = out - 0.5 * alpha_next * phi * (x0 - prev_x0) / r
        return out


class FlowRenoiseSolver:
    """Re-noising flow Euler: `x0 = x - sigma_i·v`, `x_{i+1} = (1 - sigma_{i+1})·x0 + sigma_{i+1}·eps`.

    `noise(shape)` gives fresh noise for each re-noising (drawn only when one is needed, so a generator's
    order is one draw per step but the last); without it, `eps` is the model's implied noise and the steps
    are deterministic. The last step (to sigma = 0) returns `x0`. Sigmas are Python floats (the schedule's
    float64 values) so the arithmetic is the streaming sampler's own, bit for bit.
    """

    order = 1

    def __init__(
        self, schedule: FlowSchedule, noise: Callable[[tuple[int, ...]], torch.Tensor] | None = None
    ) -> None:
        self.schedule = schedule
        self.noise = noise
        self.sigmas = schedule.sigmas.tolist()

    def predict_x0(self, x: torch.Tensor, v: torch.Tensor, i: int) -> torch.Tensor:
        return x - self.sigmas[i] * v

    def renoise(self, x: torch.Tensor, x0: torch.Tensor, i: int) -> torch.Tensor:
        """From `x` and its clean prediction `x0` at grid point `i` to `x` at grid point `i+1`."""
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        if sigma_next == 0.0:
            return x0
        eps = self.noise(tuple(x0.shape)) if self.noise is not None else (x - (1 - sigma) * x0) / sigma
        return (1 - sigma_next) * x0 + sigma_next * eps

    def step(self, x: torch.Tensor, v: torch.Tensor, i: int) -> torch.Tensor:
        return self.renoise(x, self.predict_x0(x, v, i), i)
