"""What one visitor may ask of the demo, checked before a request joins the queue.

The checks here are the demo's own bounds (a public page must not let one visitor hold the CPU for an hour);
whether a size suits the model is the pipeline's `check_size`, called by the same validator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sanavideo.config import check_field_types


@dataclass(frozen=True)
class DemoLimits:
    """Each field is a `sanavideo demo` flag (`--max-frames`, ...) with its `help` as the flag's help."""

    max_frames: int = field(
        default=81, metadata={"help": "most frames of a text- or image-to-video clip (81: 5 s at 16 fps)"}
    )
    max_stream_frames: int = field(
        default=961, metadata={"help": "most frames of a long video (961: a minute at 16 fps)"}
    )
    max_steps: int = field(default=50, metadata={"help": "most sampling steps of one request"})
    max_guidance: float = field(default=20.0, metadata={"help": "highest classifier-free guidance scale"})
    max_side: int = field(default=256, metadata={"help": "largest height and width, in pixels"})
    max_prompt_chars: int = field(default=300, metadata={"help": "most characters of one prompt"})
    max_switches: int = field(default=8, metadata={"help": "most prompt changes in one long video"})
    queue_size: int = field(
        default=16, metadata={"help": 'requests waiting at once; more are refused with "queue is full"'}
    )
    workers: int = field(default=1, metadata={"help": "generations running at once (one on a CPU)"})

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("max_frames", "max_stream_frames", "max_steps", "max_side", "max_prompt_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"demo limit {name} must be >= 1, got {getattr(self, name)}")
        if self.queue_size < 1 or self.workers < 1:
            raise ValueError(f"queue_size and workers must be >= 1, got {self.queue_size} and {self.workers}")

    def check_prompt(self, prompt: str, what: str = "prompt") -> None:
        if not prompt or not prompt.strip():
            raise ValueError(f"the {what} is empty; describe the video")
        if len(prompt) > self.max_prompt_chars:
            raise ValueError(
                f"the {what} has {len(prompt)} characters; this demo takes at most {self.max_prompt_chars}"
            )

    def check_steps(self, steps: int) -> None:
        if not 1 <= steps <= self.max_steps:
            raise ValueError(f"steps must be from 1 to {self.max_steps}, got {steps}")

    def check_guidance(self, guidance: float) -> None:
        if not 1.0 <= guidance <= self.max_guidance:
            raise ValueError(f"guidance must be from 1 (off) to {self.max_guidance}, got {guidance}")

    @staticmethod
    def check_seed(seed: int) -> None:
        if not 0 <= seed < 2**63:
            raise ValueError(f"seed must be from 0 to 2**63 - 1, got {seed}")

    def check_size(self, height: int, width: int) -> None:
        if not (1 <= height <= self.max_side and 1 <= width <= self.max_side):
            raise ValueError(
                f"height and width must be from 1 to {self.max_side} pixels here, got {height}x{width}"
            )

    def check_frames(self, frames: int, long: bool = False) -> None:
        limit = self.max_stream_frames if long else self.max_frames
        if not 1 <= frames <= limit:
            kind = "a long video" if long else "a clip"
            raise ValueError(f"{kind} has from 1 to {limit} frames in this demo, got {frames}")

    def check_switches(self, count: int) -> None:
        if count > self.max_switches:
            raise ValueError(
                f"the timeline has {count} prompt switches; this demo takes at most {self.max_switches}"
            )
