"""Prompt timelines for long videos: which prompt holds from which video frame on.

One parser for the command line (`--switch FRAME:PROMPT`) and the demo's timeline box, so both accept and
refuse the same things with the same messages. A timeline is `[(0, prompt), (frame, prompt), ...]`, sorted by
frame, the form `SanaVideoPipeline.stream` takes.
"""

from __future__ import annotations

Timeline = list[tuple[int, str]]


def parse_switch(item: str, name: str = "--switch") -> tuple[int, str]:
    """`"FRAME:PROMPT"` -> (frame, prompt); the frame is a video frame index >= 1. `name` starts messages."""
    frame, sep, text = item.partition(":")
    if not sep or not frame.strip().isdigit() or not text.strip():
        raise ValueError(f"{name} must look like FRAME:PROMPT with a frame index >= 1, got {item!r}")
    if int(frame) < 1:
        raise ValueError(f"{name} frame must be >= 1 (frame 0 is the main prompt), got {frame.strip()}")
    return int(frame), text.strip()


def build_timeline(prompt: str, switches: list[str], frames: int, name: str = "--switch") -> Timeline:
    """The main prompt at frame 0 and each `FRAME:PROMPT` switch, checked against a `frames`-frame video;
    `name` (what the user calls a switch) starts the messages."""
    if not prompt.strip():
        raise ValueError(f"the prompt is empty or only whitespace ({prompt!r}); describe the video")
    timeline = sorted([(0, prompt.strip()), *(parse_switch(item, name) for item in switches)])
    seen = set()
    for frame, _ in timeline:
        if frame >= frames:
            raise ValueError(
                f"{name} at frame {frame} is past the end of the {frames}-frame video "
                f"(switch frames go from 1 to {frames - 1})"
            )
        if frame in seen:
            raise ValueError(f"two prompts start at frame {frame}; give each frame one prompt")
        seen.add(frame)
    return timeline


def parse_timeline_text(text: str, frames: int) -> Timeline:
    """A timeline written one entry a line: the first line is the opening prompt (`0:` optional), each later
    line `FRAME: PROMPT`. Blank lines are skipped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the timeline is empty; write the opening prompt on the first line")
    first, *rest = lines
    head, sep, tail = first.partition(":")
    if sep and head.strip() == "0":
        first = tail
    return build_timeline(first, rest, frames, name="a timeline line")
