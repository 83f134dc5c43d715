"""Sampling: flow schedules, solvers (Euler, DPM-Solver++ 2M, re-noising Euler), classifier-free guidance, the
denoise loop (`loop.denoise`) and the streaming chunk loop (`streaming.denoise_chunk`, `streaming.stream_latents`)."""

from sanavideo.sampling.loop import (
    SAMPLERS,
    SamplerConfig,
    StepCallback,
    TextCondition,
    classifier_free_guidance,
    denoise,
    draw_noise,
    guided_velocity,
    initial_noise,
)
from sanavideo.sampling.schedules import (
    FlowSchedule,
    dpm_flow_schedule,
    euler_flow_schedule,
    renoise_schedule,
    shift_sigmas,
    shifted_timesteps,
)
from sanavideo.sampling.solvers import FlowDPMSolver2M, FlowEulerSolver, FlowRenoiseSolver

__all__ = [
    "SAMPLERS",
    "FlowDPMSolver2M",
    "FlowEulerSolver",
    "FlowRenoiseSolver",
    "FlowSchedule",
    "SamplerConfig",
    "StepCallback",
    "TextCondition",
    "classifier_free_guidance",
    "denoise",
    "draw_noise",
    "dpm_flow_schedule",
    "euler_flow_schedule",
    "guided_velocity",
    "initial_noise",
    "renoise_schedule",
    "shift_sigmas",
    "shifted_timesteps",
]
