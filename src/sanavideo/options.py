"""Per-model pipeline options (the `options` of `sanavideo.json`), in three parts by who reads them.

- `PromptOptions`: how prompts become text features (CHI, lower-casing, length, negative prompt, motion
  score); the text encoder and both generation paths read them.
- `GenerationOptions`: the defaults of one text-to-video request (size, steps, guidance, fps).
- `StreamOptions`: the defaults of a LongSANA stream (`stream()`, `generate --stream`).

Each field's documentation is the `help` of its metadata; `sanavideo generate` shows it as the help of the
flag that sets the field (sanavideo.cli.fields).

`PipelineOptions` is the three together. It inherits their fields rather than nesting them because a
model folder stores them as one flat mapping (`"options": {"chi": "none", "stream_window": 2, ...}`): flat
fields keep every existing `sanavideo.json` readable, keep the files this code writes readable by older
code, and keep `options.fps` / `dataclasses.replace(options, motion_score=7)` working. Code that needs
only one part takes that part's type (a `PipelineOptions` is each of them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sanavideo.config import check_field_types

if TYPE_CHECKING:  # imported where used: `sanavideo --help` reads the fields' help without loading torch
    from sanavideo.adapters.text import PromptFormat
    from sanavideo.sampling.streaming import StreamSettings


def pick(value: Any, default: Any) -> Any:
    """A call's argument, or the model's default when the argument is None (the pipeline's one default rule)."""
    return default if value is None else value


@dataclass(frozen=True)
class PromptOptions:
    """Prompt conventions of a model: what its text encoder was trained with."""

    chi: str | tuple[str, ...] | None = field(
        default="video",
        metadata={"help": 'instruction lines before the prompt: "video", "image", "none"/None, or the lines'},
    )
    lowercase_prompts: bool = field(default=True, metadata={"help": "lower-case and strip prompts"})
    max_sequence_length: int = field(default=300, metadata={"help": "text tokens kept per prompt"})
    negative_prompt: str = field(default="", metadata={"help": "negative prompt of classifier-free guidance"})
    motion_score: int | None = field(
        default=None, metadata={"help": "append ' motion score: N.' to the prompt (unset: none)"}
    )

    def __post_init__(self) -> None:
        check_field_types(self)

    @property
    def prompt_format(self) -> PromptFormat:
        from sanavideo.adapters.text import PromptFormat, resolve_chi

        return PromptFormat(
            chi=resolve_chi(self.chi), max_length=self.max_sequence_length, lowercase=self.lowercase_prompts
        )


@dataclass(frozen=True)
class GenerationOptions:
    """Defaults of one generation request (`__call__`, `generate`); sizes also default `stream()`'s."""

    height: int = field(default=480, metadata={"help": "video height in pixels"})
    width: int = field(default=832, metadata={"help": "video width in pixels"})
    frames: int = field(default=81, metadata={"help": "number of frames, 4k+1 for the Wan VAE"})
    num_inference_steps: int = field(default=50, metadata={"help": "number of sampling steps"})
    guidance_scale: float = field(
        default=6.0, metadata={"help": "classifier-free guidance scale (>= 1; 1 = off)"}
    )
    fps: float = field(default=16.0, metadata={"help": "frames per second of the written video"})
    chunk_frames: int | None = field(
        default=None,
        metadata={
            "help": "block-causal attention over chunks of N latent frames, as a model trained block-causally "
            "saw it in training (unset: full attention, SANA-Video's)"
        },
    )
    rollout: bool = field(
        default=False,
        metadata={
            "help": "with chunk_frames: sample chunk by chunk, each chunk on the clean history of the ones before "
            "it as a stream does (the stream's Euler re-noising steps, window and noise rule, with this "
            "request's steps and guidance), instead of all chunks at once"
        },
    )

    def __post_init__(self) -> None:
        check_field_types(self)


@dataclass(frozen=True)
class StreamOptions:
    """Defaults of streaming (`stream`, `generate --stream`): upstream LongSANA's unless a model says otherwise.
    The `stream_` prefix is the field names' place in the flat `options` mapping of a model folder."""

    stream_chunk_frames: int = field(default=10, metadata={"help": "latent frames per chunk (upstream 10)"})
    stream_steps: int | None = field(
        default=None,
        metadata={
            "help": "re-noising steps per chunk on the flow-shift grid "
            "(unset: upstream's four timesteps 1000, 960, 889, 727)"
        },
    )
    stream_window: int | None = field(
        default=None, metadata={"help": "attend to the last N chunks only (unset: all of them)"}
    )
    stream_fresh_noise: bool = field(
        default=True,
        metadata={"help": "re-noise with fresh noise (upstream) or with the model's noise estimate"},
    )
    stream_guidance_scale: float = field(
        default=1.0,
        metadata={
            "help": "classifier-free guidance of every re-noising step (upstream 1: none; a small model may "
            "need it)"
        },
    )

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
        from sanavideo.sampling.schedules import UPSTREAM_RENOISE_TIMESTEPS, shifted_timesteps
        from sanavideo.sampling.streaming import StreamSettings

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
