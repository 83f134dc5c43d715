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
"""

from __future__ import annotations

import math

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
