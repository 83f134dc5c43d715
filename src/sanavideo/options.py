"""Per-model pipeline options (the `options` of `sanavideo.json`), in three parts by who reads them.

- `PromptOptions`: how prompts become text features (CHI, lower-casing, length, negative prompt, motion
  score); the text encoder and both generation paths read them.
- `GenerationOptions`: the defaults of one text-to-video request (size, steps, guidance, fps).
- `StreamOptions`: the defaults of a LongSANA stream (`stream()`, `generate --stream`).

`PipelineOptions` is the three together. It inherits their fields rather than nesting them because a
model folder stores them as one flat mapping (`"options": {"chi": "none", "stream_window": 2, ...}`): flat
fields keep every existing `sanavideo.json` readable, keep the files this code writes readable by older
code, and keep `options.fps` / `dataclasses.replace(options, motion_score=7)` working. Code that needs
only one part takes that part's type (a `PipelineOptions` is each of them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sanavideo.adapters.text import DEFAULT_NEGATIVE_PROMPT, PromptFormat, resolve_chi
from sanavideo.config import check_field_types
from sanavideo.sampling.schedules import UPSTREAM_RENOISE_TIMESTEPS, shifted_timesteps
from sanavideo.sampling.streaming import StreamSettings


def pick(value: Any, default: Any) -> Any:
    """A call's argument, or the model's default when the argument is None (the pipeline's one default rule)."""
    return default if value is None else value


@dataclass(frozen=True)
class PromptOptions:
    """Prompt conventions of a model: what its text encoder was trained with."""

    chi: str | tuple[str, ...] | None = "video"  # "video", "image", "none"/None, or explicit lines
    lowercase_prompts: bool = True
    max_sequence_length: int = 300
    negative_prompt: str = ""
    motion_score: int | None = None  # appended as " motion score: N." when not None

    def __post_init__(self) -> None:
        check_field_types(self)

    @property
    def prompt_format(self) -> PromptFormat:
        return PromptFormat(
            chi=resolve_chi(self.chi), max_length=self.max_sequence_length, lowercase=self.lowercase_prompts
        )


@dataclass(frozen=True)
class GenerationOptions:
    """Defaults of one generation request (`__call__`, `generate`); sizes also default `stream()`'s."""

    height: int = 480
    width: int = 832
    frames: int = 81
    num_inference_steps: int = 50
    guidance_scale: float = 6.0
    fps: float = 16.0

    def __post_init__(self) -> None:
        check_field_types(self)


@dataclass(frozen=True)
class StreamOptions:
    """Defaults of streaming (`stream`, `generate --stream`): upstream LongSANA's unless a model says otherwise.
    The `stream_` prefix is the field names' place in the flat `options` mapping of a model folder."""

    stream_chunk_frames: int = 10  # latent frames per chunk
    stream_steps: int | None = None  # None: upstream's [1000, 960, 889, 727]; else the flow-shift grid
    stream_window: int | None = None  # attend to the last N chunks only
    stream_fresh_noise: bool = True  # re-noise with fresh noise (upstream) or the model's noise estimate
    stream_guidance_scale: float = 1.0  # upstream streams without guidance; a small model may need it

    def __post_init__(self) -> None:
        check_field_types(self)

    def stream_settings(
        self,
        flow_shift: float,
        guidance_scale: float | None = None,
        chunk_frames: int | None = None,
        steps: int | None = None,
        window: int | None = None,
        fresh_noise: bool | None = None,
    ) -> StreamSettings:
        """The settings of one stream: each argument, or this model's default when it is None. `steps`
        re-noising steps on the grid of `flow_shift`; no steps at all: upstream's four timesteps."""
        steps = pick(steps, self.stream_steps)
        return StreamSettings(
            chunk_frames=pick(chunk_frames, self.stream_chunk_frames),
            timesteps=UPSTREAM_RENOISE_TIMESTEPS if steps is None else shifted_timesteps(steps, flow_shift),
            guidance_scale=float(pick(guidance_scale, self.stream_guidance_scale)),
            window=pick(window, self.stream_window),
            fresh_noise=pick(fresh_noise, self.stream_fresh_noise),
        )


# bases in reverse order, so the fields run prompt, generation, stream as they always have
@dataclass(frozen=True)
class PipelineOptions(StreamOptions, GenerationOptions, PromptOptions):
    """All of a model's options: `PromptOptions` + `GenerationOptions` + `StreamOptions`, one flat mapping."""

    def __post_init__(self) -> None:
        check_field_types(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: PipelineOptions | None = None) -> PipelineOptions:
        """`base` (default: the defaults) with the fields of a `sanavideo.json` `options` mapping."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown pipeline options {unknown}; expected a subset of {sorted(known)}")
        return dataclasses.replace(base or cls(), **data)


# prompt conventions of the upstream scripts (inference_sana_video.py), used for the upstream layout
UPSTREAM_OPTIONS = PipelineOptions(
    chi="image", lowercase_prompts=False, negative_prompt=DEFAULT_NEGATIVE_PROMPT, motion_score=10
)
