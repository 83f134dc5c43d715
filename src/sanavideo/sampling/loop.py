"""The denoise loop: seeded noise, classifier-free guidance, and the step-by-step sampler.

The model predicts velocity; this module decides everything else. `denoise` is the whole loop:

    for i, t in enumerate(timesteps):
        v = guided_velocity(model, x, t, cond, uncond, scale)   # one batched call for both CFG branches
        x = solver.step(x, v, i)
        x[:, :, 0] = first_frame                                # image-to-video only

Image-to-video (docs/reference.md §4.4): latent frame 0 holds the clean image latent, the model sees it at per-frame
timestep 0 (timesteps `(B, F)`, frame 0 zero, the others t), and it is never updated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from tqdm.auto import tqdm

from sanavideo.config import check_field_types
from sanavideo.sampling.schedules import FlowSchedule, dpm_flow_schedule, euler_flow_schedule
from sanavideo.sampling.solvers import FlowDPMSolver2M, FlowEulerSolver

SamplerName = Literal["dpm", "euler"]
# called after each sampling step with (step index, timestep, clean-latent estimate x0 (B, C, F, H, W)),
# e.g. to decode previews; both samplers (`denoise`, `streaming.denoise_chunk`) take one
StepCallback = Callable[[int, float, torch.Tensor], None]
SAMPLERS: tuple[str, ...] = ("dpm", "euler")


@dataclass(frozen=True)
class SamplerConfig:
    """Which solver and grid to sample with: `dpm` (flow DPM-Solver++ 2M, default) or `euler`."""

    name: SamplerName = "dpm"
    flow_shift: float = 8.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.name not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.name!r}; expected one of {SAMPLERS}")
        if self.flow_shift <= 0:
            raise ValueError(f"flow_shift must be positive, got {self.flow_shift}")

    def build(self, num_steps: int) -> tuple[FlowSchedule, FlowEulerSolver | FlowDPMSolver2M]:
        """A fresh schedule and solver for one sampling run (the DPM solver keeps per-run state)."""
        if self.name == "dpm":
            schedule = dpm_flow_schedule(num_steps, self.flow_shift)
            return schedule, FlowDPMSolver2M(schedule)
        schedule = euler_flow_schedule(num_steps, self.flow_shift)
        return schedule, FlowEulerSolver(schedule)


@dataclass
class TextCondition:
    """Text features for the model: `embeds (B, L, D)` and `mask (B, L)` with 1 for real tokens."""

    embeds: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.embeds.ndim != 3 or self.mask.shape != self.embeds.shape[:2]:
            raise ValueError(
                f"prompt embeddings must be (B, L, D) with a (B, L) mask, got {tuple(self.embeds.shape)} and "
                f"{tuple(self.mask.shape)}"
            )

    def to(self, device: torch.device | str) -> TextCondition:
        """The same condition on `device` (the mask keeps its dtype)."""
        return TextCondition(self.embeds.to(device), self.mask.to(device))

    def padded_to(self, length: int) -> TextCondition:
        """Right-pad to `length` tokens with zero features and mask 0 (to batch two prompts of unequal length)."""
        extra = length - self.embeds.shape[1]
        if extra <= 0:
            return self
        embeds = torch.nn.functional.pad(self.embeds, (0, 0, 0, extra))  # (B, L, D) -> (B, L+extra, D)
        mask = torch.nn.functional.pad(self.mask, (0, extra))
        return TextCondition(embeds, mask)


def draw_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Standard normal float32 noise, drawn on the generator's device (CPU by default), then moved to `device`.

    Drawn exactly as diffusers' `randn_tensor` does, so one seed gives the same video as diffusers' pipelines:
    one `torch.randn(shape)` from a single generator, or one `(1, ...)` draw per sample from a list of
    generators, concatenated. A CPU generator gives the same latents on any device.
    """
    if isinstance(generator, list) and len(generator) == 1:
        generator = generator[0]
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(
                f"got {len(generator)} generators for a batch of {shape[0]}; pass one per sample"
            )
        draws = [
            torch.randn((1, *shape[1:]), generator=g, device=g.device, dtype=torch.float32) for g in generator
        ]
        return torch.cat([d.to(device) for d in draws])
    rand_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=rand_device, dtype=torch.float32).to(device)


def initial_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device | str = "cpu",
    latents: torch.Tensor | None = None,
) -> torch.Tensor:
    """The start of sampling: `latents` when given (checked: `shape`, finite), else `draw_noise`; float32."""
    if latents is None:
        return draw_noise(shape, generator, device)
    if tuple(latents.shape) != shape:
        raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise ValueError(
            f"latents must be finite; got {int((~torch.isfinite(latents)).sum())} NaN/inf values"
        )
    return latents.to(device=device, dtype=torch.float32)


def classifier_free_guidance(v_uncond: torch.Tensor, v_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """`v = v_uncond + s·(v_cond - v_uncond)` (the same on v, noise or x0, since they are affine in v)."""
    return v_uncond + scale * (v_cond - v_uncond)


def guided_velocity(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    timestep: torch.Tensor,
    cond: TextCondition,
    uncond: TextCondition | None,
    guidance_scale: float,
    **model_kwargs,
) -> torch.Tensor:
    """One model evaluation with CFG: `[uncond, cond]` in one batch of 2B when `uncond` is given.

    `timestep` is `(B,)` or per-frame `(B, F)`; the model's dtype is taken from its parameters.
    `model_kwargs` go to the model (e.g. `cache=`, whose batch is then `[uncond, cond]` too).
    """
    dtype = next(model.parameters()).dtype if isinstance(model, torch.nn.Module) else x.dtype
    if uncond is None:
        v = model(x.to(dtype), timestep, cond.embeds.to(dtype), cond.mask, **model_kwargs)
        return v.float()
    length = max(cond.embeds.shape[1], uncond.embeds.shape[1])
    cond, uncond = cond.padded_to(length), uncond.padded_to(length)
    x_in = torch.cat([x, x]).to(dtype)  # (2B, C, F, H, W): unconditional half first
    t_in = torch.cat([timestep, timestep])
    embeds = torch.cat([uncond.embeds, cond.embeds]).to(dtype)
    mask = torch.cat([uncond.mask, cond.mask])
    v_uncond, v_cond = model(x_in, t_in, embeds, mask, **model_kwargs).float().chunk(2)
    return classifier_free_guidance(v_uncond, v_cond, guidance_scale)


def denoise(
    model: Callable[..., torch.Tensor],
    noise: torch.Tensor,
    sampler: SamplerConfig,
    num_steps: int,
    cond: TextCondition,
    uncond: TextCondition | None = None,
    guidance_scale: float = 1.0,
    first_frame: torch.Tensor | None = None,
    progress: bool = True,
    callback: StepCallback | None = None,
    chunk_frames: int | None = None,
) -> torch.Tensor:
    """Integrate the flow ODE from `noise (B, C, F, H, W)` to clean latents.

    `uncond` enables CFG with `guidance_scale`; `first_frame (B, C, 1, H, W)` (normalised image latent) turns
    on image-to-video; `callback(step, t, x0)` sees each step's data prediction `x - sigma·v` (only computed
    when a callback is given); `chunk_frames` runs the model block-causally over chunks of that many latent
    frames (None: full attention). Returns float32 latents.
    """
    model_kwargs = {} if chunk_frames is None else {"chunk_frames": chunk_frames}
    schedule, solver = sampler.build(num_steps)
    x = noise.float().clone()
    batch, num_frames = x.shape[0], x.shape[2]
    if first_frame is not None:
        x[:, :, :1] = first_frame.to(x)
    for i in tqdm(range(schedule.num_steps), desc="sampling", disable=not progress, leave=False):
        t = schedule.timesteps[i].to(x.device)
        if first_frame is None:
            timestep = t.expand(batch)  # (B,)
        else:
            timestep = t.expand(batch, num_frames).clone()  # (B, F): frame 0 is clean
            timestep[:, 0] = 0.0
        v = guided_velocity(model, x, timestep, cond, uncond, guidance_scale, **model_kwargs)
        if callback is not None:
            x0 = x.float() - schedule.sigmas[i].item() * v.float()
            if first_frame is not None:
                x0[:, :, :1] = first_frame.to(x0)
            callback(i, float(t), x0)
        x = solver.step(x, v, i)
        if first_frame is not None:
            x[:, :, :1] = first_frame.to(x)
    return x
