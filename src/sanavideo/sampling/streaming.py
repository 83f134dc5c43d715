"""LongSANA streaming: chunk-by-chunk generation over a constant-size linear-attention state (docs/reference.md §2.4).

For each chunk of latent frames (the remainder of the division goes to the first chunk):

    x = noise
    for i, t in enumerate(timesteps):            # few-step re-noising flow Euler: [1000, 960, 889, 727]
        v  = model(x, t, prompt, cache=cache)      # attends to all earlier chunks through the cache
        x0 = x - sigma_t * v
        x  = (1 - sigma_next) * x0 + sigma_next * noise'   (not after the last step; noise' is fresh
                                                             noise, or the model's own noise estimate)
    model(x0, t=0, prompt, cache=cache); cache.advance()          # clean-context pass commits the chunk
    yield x0

The chunk loop is `denoise_chunk` (the `FlowRenoiseSolver` on a `renoise_schedule`: the same `FlowSchedule`,
solver `step` and `callback(step, t, x0)` vocabulary as `sampling.loop.denoise`), usable with gradients for
self-forcing training; `stream_latents` adds the cache, prompt switches and the noise order. This is the only
code that advances a cache. A prompt switch at chunk c re-caches chunk c-1 with the new
prompt (rewind, clean pass, advance), as upstream's interactive pipeline does. Image-to-video keeps the
first latent frame clean at per-frame timestep 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from sanavideo.model import SanaVideoTransformer, StreamingCache, chunk_layout
from sanavideo.sampling.loop import StepCallback, TextCondition, draw_noise, guided_velocity
from sanavideo.sampling.schedules import (
    UPSTREAM_RENOISE_TIMESTEPS,
    FlowSchedule,
    renoise_schedule,
    shifted_timesteps,
)
from sanavideo.sampling.solvers import FlowRenoiseSolver

__all__ = [  # shifted_timesteps lived here first; earlier code imports it from here
    "LatentChunk",
    "PromptSchedule",
    "StreamSettings",
    "denoise_chunk",
    "latent_frame_of",
    "prompt_schedule_from_frames",
    "shifted_timesteps",
    "stream_latents",
]


@dataclass(frozen=True)
class StreamSettings:
    """How a long video is streamed. Defaults are upstream LongSANA's (docs/reference.md §2.4)."""

    chunk_frames: int = 10  # latent frames per chunk; the remainder joins the first chunk
    timesteps: tuple[float, ...] = UPSTREAM_RENOISE_TIMESTEPS  # the re-noising grid's model inputs
    guidance_scale: float = 1.0  # upstream streams without CFG
    window: int | None = None  # attend to the last N chunks only; None = the whole history
    # re-noise with fresh noise (upstream, for few-step distilled models) or with the noise the model
    # implies, eps = (x - (1 - sigma) x0) / sigma, which makes each chunk a deterministic flow Euler ODE solve
    fresh_noise: bool = True

    def __post_init__(self) -> None:
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1 latent frame, got {self.chunk_frames}")
        renoise_schedule(self.timesteps)  # checks the timesteps
        if self.guidance_scale < 1:
            raise ValueError(f"guidance_scale must be >= 1, got {self.guidance_scale}")

    @property
    def schedule(self) -> FlowSchedule:
        """The re-noising grid of these timesteps (`renoise_schedule`)."""
        return renoise_schedule(self.timesteps)


@dataclass
class PromptSchedule:
    """Prompts over a stream: `segments[k] = (first latent frame, condition)`, the first at frame 0.
    `negative` is used with guidance_scale > 1."""

    segments: list[tuple[int, TextCondition]]
    negative: TextCondition | None = None

    def __post_init__(self) -> None:
        starts = [s for s, _ in self.segments]
        if not starts or starts[0] != 0:
            raise ValueError(f"the first prompt must start at frame 0, got starts {starts}")
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError(f"prompt start frames must increase, got {starts}")

    def at(self, frame: int) -> tuple[int, TextCondition]:
        """(segment index, condition) in force at latent frame `frame`."""
        index = max(k for k, (s, _) in enumerate(self.segments) if s <= frame)
        return index, self.segments[index][1]


@dataclass
class LatentChunk:
    start: int  # first latent frame
    latents: torch.Tensor  # (B, C, f, H, W) clean latents of this chunk
    recached: bool = False  # the previous chunk was re-cached for a prompt switch before this one


def _timestep(t: float, batch: int, frames: int, clean_first: bool, device) -> torch.Tensor:
    if not clean_first:
        return torch.full((batch,), float(t), device=device)
    ts = torch.full((batch, frames), float(t), device=device)
    ts[:, 0] = 0.0
    return ts


def denoise_chunk(
    model: SanaVideoTransformer,
    noise: torch.Tensor,
    schedule: FlowSchedule,
    cond: TextCondition,
    negative: TextCondition | None = None,
    guidance_scale: float = 1.0,
    *,
    cache: StreamingCache | None = None,
    first_frame: torch.Tensor | None = None,
    fresh_noise: Callable[[tuple[int, ...]], torch.Tensor] | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Denoise one chunk from `noise (B, C, f, H, W)` on a re-noising grid; returns its clean latents x0.

    The chunk attends to the history in `cache` (recorded, not advanced: the caller's clean-context pass
    commits it). `first_frame (B, C, 1, H, W)` is held clean at timestep 0 (image-to-video); `fresh_noise
    (shape)` re-noises with fresh noise, else with the model's implied noise (`FlowRenoiseSolver`);
    `callback(step, t, x0)` sees each step's clean estimate. Gradients flow when the caller allows them
    (self-forcing training unrolls chunks through this); the cache keeps only detached history.
    """
    solver = FlowRenoiseSolver(schedule, fresh_noise)
    batch, frames, device = noise.shape[0], noise.shape[2], noise.device
    clean_first = first_frame is not None
    x = noise
    for i, t in enumerate(schedule.timesteps.tolist()):
        if clean_first:
            x[:, :, :1] = first_frame.to(x)
        timestep = _timestep(t, batch, frames, clean_first, device)
        v = guided_velocity(model, x, timestep, cond, negative, guidance_scale, cache=cache)
        x0 = solver.predict_x0(x, v, i)
        if clean_first:
            x0[:, :, :1] = first_frame.to(x0)
        if callback is not None:
            callback(i, t, x0)
        x = solver.renoise(x, x0, i)
    return x0


@torch.no_grad()
def stream_latents(
    model: SanaVideoTransformer,
    shape: tuple[int, int, int, int, int],
    prompts: PromptSchedule,
    settings: StreamSettings = StreamSettings(),
    generator: torch.Generator | None = None,
    first_frame: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    callback: StepCallback | None = None,
) -> Iterator[LatentChunk]:
    """Yield clean latent chunks of a video of latent shape (B, C, F, H, W), one chunk at a time.

    Noise is drawn from `generator` (on CPU) in a fixed order: per chunk, its initial noise, then one fresh
    draw per re-noising step. `first_frame` (B, C, 1, H, W): image-to-video start latent. `callback(step,
    t, x0)` sees each chunk's clean estimate after each of its steps (previews).
    """
    B, C, F, H, W = shape
    device = device or next(model.parameters()).device
    use_cfg = settings.guidance_scale > 1.0
    if use_cfg and prompts.negative is None:
        raise ValueError(f"guidance_scale {settings.guidance_scale} > 1 needs a negative prompt condition")
    negative = prompts.negative if use_cfg else None
    layout = chunk_layout(F, settings.chunk_frames)
    cache = model.new_cache(window=settings.window)
    schedule = settings.schedule
    fresh_noise = (lambda shape: draw_noise(shape, generator, device)) if settings.fresh_noise else None
    start, active, previous = 0, 0, None
    for index, size in enumerate(layout):
        segment, cond = prompts.at(start)
        recached = False
        if segment != active and previous is not None:
            # prompt switch: re-cache the previous chunk under the new prompt
            cache.rewind()
            t0 = torch.zeros(previous.shape[0], device=device)
            guided_velocity(model, previous, t0, cond, negative, settings.guidance_scale, cache=cache)
            cache.advance()
            recached = True
        active = segment
        clean_first = first_frame is not None and index == 0
        x0 = denoise_chunk(
            model,
            draw_noise((B, C, size, H, W), generator, device),
            schedule,
            cond,
            negative,
            settings.guidance_scale,
            cache=cache,
            first_frame=first_frame if clean_first else None,
            fresh_noise=fresh_noise,
            callback=callback,
        )
        # clean-context pass: write this chunk into the state
        guided_velocity(
            model, x0, torch.zeros(B, device=device), cond, negative, settings.guidance_scale, cache=cache
        )
        cache.advance()
        yield LatentChunk(start, x0, recached)
        previous, start = x0, start + size


def latent_frame_of(video_frame: int, temporal_stride: int) -> int:
    """The latent frame holding video frame `video_frame` for a causal VAE (frame 0 alone, then groups)."""
    return 0 if video_frame <= 0 else (video_frame - 1) // temporal_stride + 1


def prompt_schedule_from_frames(
    switches: Sequence[tuple[int, TextCondition]], temporal_stride: int, negative: TextCondition | None = None
) -> PromptSchedule:
    """Build a schedule from (video frame index, condition) pairs."""
    return PromptSchedule([(latent_frame_of(f, temporal_stride), c) for f, c in switches], negative)
