"""Sampling: flow schedules, solvers (Euler, DPM-Solver++ 2M), classifier-free guidance and the denoise loop."""

from sanavideo.sampling.loop import (
    SAMPLERS,
    SamplerConfig,
    TextCondition,
    classifier_free_guidance,
    denoise,
    draw_noise,
    guided_velocity,
    initial_noise,
)
from sanavideo.sampling.schedules import FlowSchedule, dpm_flow_schedule, euler_flow_schedule, shift_sigmas
from sanavideo.sampling.solvers import FlowDPMSolver2M, FlowEulerSolver

__all__ = [
    "SAMPLERS",
    "FlowDPMSolver2M",
    "FlowEulerSolver",
    "FlowSchedule",
    "SamplerConfig",
    "TextCondition",
    "classifier_free_guidance",
    "denoise",
    "draw_noise",
    "dpm_flow_schedule",
    "euler_flow_schedule",
    "guided_velocity",
    "initial_noise",
    "shift_sigmas",
]
