"""The demo's work, with no UI in it: one clip, or one long video streamed chunk by chunk, written as video
files in a folder the caller owns. Everything model-related is the pipeline's; this module only calls it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sanavideo.timeline import Timeline
from sanavideo.video_io import VideoWriter, write_video


@dataclass(frozen=True)
class ClipRequest:
    prompt: str
    negative_prompt: str | None = None
    frames: int | None = None  # None: the model's defaults
    steps: int | None = None
    guidance: float | None = None
    seed: int = 0
    height: int | None = None
    width: int | None = None
    image: np.ndarray | None = None  # (H, W, 3) uint8: image-to-video from this first frame


@dataclass(frozen=True)
class StreamRequest:
    timeline: Timeline
    frames: int
    seed: int = 0
    guidance: float | None = None  # None: the model's streaming default


@dataclass(frozen=True)
class Progress:
    """One step of a long video: `segment` holds the frames just made; `video` is set once, at the end."""

    frames_done: int
    frames_total: int
    fps: float  # generated frames per second so far, decode included
    segment: Path | None = None
    video: Path | None = None


def _new_path(folder: Path, stem: str, suffix: str = ".mp4") -> Path:
    return folder / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def make_clip(pipe, request: ClipRequest, folder: Path) -> Path:
    """Generate one clip with the pipeline's sampler and write it as an mp4 in `folder`."""
    out = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt,
        image=request.image,
        frames=request.frames,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        height=request.height,
        width=request.width,
        generator=torch.Generator().manual_seed(request.seed),
        output_type="np",
        progress=False,
    )
    stem = "i2v" if request.image is not None else "t2v"
    return write_video(_new_path(folder, stem), out.frames[0], fps=pipe.options.fps)


def stream_video(
    pipe, request: StreamRequest, folder: Path, stop: threading.Event | None = None
) -> Iterator[Progress]:
    """Stream a long video: one `Progress` with a short mp4 segment per decoded chunk, then one with the whole
    video. If `stop` is set (or the caller closes the iterator), generation ends before the next chunk and the
    unfinished whole-video file is deleted."""
    chunks = pipe.stream(
        request.timeline,
        frames=request.frames,
        guidance_scale=request.guidance,
        generator=torch.Generator().manual_seed(request.seed),
    )
    fps = pipe.options.fps
    start = time.perf_counter()
    done = 0
    with VideoWriter(_new_path(folder, "long"), fps=fps) as writer:
        for chunk in chunks:  # (T, H, W, 3) uint8
            writer.append(chunk)
            done += len(chunk)
            segment = write_video(_new_path(folder, "segment"), chunk, fps=fps)
            yield Progress(done, request.frames, done / (time.perf_counter() - start), segment=segment)
            if stop is not None and stop.is_set():
                writer.abort()
                return
    yield Progress(done, request.frames, done / (time.perf_counter() - start), video=writer.path)
