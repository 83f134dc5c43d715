"""Prompt switches in a stream: does the motion change within one chunk of the switch?

For each evaluation prompt A (made to name a direction when it names none: "bounces" and "still" become
"right"), the model streams A alone up to the switch frame S (the first chunk start after at least one second
of A); B is A at normal speed with the direction that has the most room ahead of the object in A's last frame
there (never A's own; at least half the canvas, so a normal-speed object does not reach the wall during the
checked window). Then the same seed streams the timeline [(0, A), (S, B)], and the shapes evaluator checks two
half-second windows of it:

    before_ok   frames [S - W, S) move as A says (a control: the stream followed A)
    after_ok    frames [S + C, S + C + W) move as B says, C = the pixel frames of one streaming chunk

Streaming is deterministic for a seed, so the frames before S are those A alone made: B is chosen from where
the object really is. Clip i uses seed + i, as `sanavideo eval shapes` does.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import torch

from sanavideo.data.shapes import FPS, caption
from sanavideo.eval.requests import EvalRequest
from sanavideo.eval.shapes import evaluate_clip

DIRECTIONS = ("left", "right", "up", "down")
WINDOW = FPS // 2 + 1  # W: frames of the half-second windows the motion is read from


def switch_layout(chunk_frames: int, temporal_stride: int) -> tuple[int, int, int]:
    """(S, C, total): the switch frame S (the first chunk start >= one second), the pixel frames C of one chunk,
    and the stream's length (a chunk end covering [S + C, S + C + WINDOW)). The first chunk decodes to
    1 + stride * (chunk_frames - 1) frames, the others to stride * chunk_frames each."""
    first, per_chunk = 1 + temporal_stride * (chunk_frames - 1), temporal_stride * chunk_frames
    switch = first
    while switch < FPS:
        switch += per_chunk
    total = switch
    while total < switch + per_chunk + WINDOW:
        total += per_chunk
    return switch, per_chunk, total


def roomiest_direction(centroid: tuple[float, float], size: int, exclude: str) -> str:
    """The direction other than `exclude` with the most room between the object's centroid (x, y) and the wall
    ahead; the centre when the object is missing (nan)."""
    x, y = (size / 2, size / 2) if np.isnan(centroid).any() else centroid
    room = {"left": x, "right": size - x, "up": y, "down": size - y}
    return max((d for d in DIRECTIONS if d != exclude), key=lambda d: room[d])


def stream_clip(pipe, prompt, frames: int, seed: int) -> np.ndarray:
    """uint8 (frames, H, W, 3) streamed from `prompt` (a string or a timeline of (frame, prompt) switches)."""
    generator = torch.Generator().manual_seed(seed)
    return np.concatenate(list(pipe.stream(prompt, frames=frames, generator=generator)))


def evaluate_switches(pipe, request: EvalRequest, specs, log=print, sheet_rows: list | None = None) -> dict:
    """Switch every (prompt, ClipSpec) of `specs` ({split: pairs}, `eval_specs`); returns {"request", "switch":
    {"frames", "switch_frame", "chunk_frames"}, "splits": {split: {"rates", "clips"}}}."""
    stride = pipe.vae.temporal_stride
    switch, chunk, total = switch_layout(pipe.options.stream_chunk_frames, stride)
    result: dict = {
        "request": asdict(request),
        "switch": {"frames": total, "switch_frame": switch, "chunk_frames": chunk},
        "splits": {},
    }
    for split, pairs in specs.items():
        clips = []
        for i, (_, spec) in enumerate(pairs):
            seed = request.seed + i
            if spec.motion not in DIRECTIONS:
                spec = replace(spec, motion="right")
            text_rng = np.random.default_rng(request.seed * 1000 + i)
            prompt_a = caption(spec, text_rng, motion_score=False)
            alone = stream_clip(pipe, prompt_a, switch, seed)  # (S, H, W, 3)
            before = evaluate_clip(alone[switch - WINDOW :], prompt_a)
            direction = roomiest_direction(before.last_centroid, alone.shape[2], spec.motion)
            spec_b = replace(spec, motion=direction, speed="normal")
            prompt_b = caption(spec_b, text_rng, motion_score=False)
            video = stream_clip(pipe, [(0, prompt_a), (switch, prompt_b)], total, seed)
            if not np.array_equal(video[:switch], alone):
                raise RuntimeError("the stream before the switch differs from the stream of A alone")
            after = evaluate_clip(video[switch + chunk : switch + chunk + WINDOW], prompt_b)
            if sheet_rows is not None:
                picks = np.linspace(0, total - 1, 5).round().astype(int)
                sheet_rows.append((f"[{split}] {spec.motion} -> {spec_b.motion} at {switch}", video[picks]))
            clip = {
                "prompt": prompt_a,
                "switch_to": prompt_b,
                "before_ok": bool(before.motion_ok),
                "after_ok": bool(after.motion_ok),
                "motion_before": before.motion_measured,
                "motion_after": after.motion_measured,
            }
            clips.append(clip)
            log(
                f"{split:8s} {spec.motion:5s} -> {spec_b.motion:5s}  before {before.motion_measured:8s} "
                f"after {after.motion_measured:8s}  {prompt_a}"
            )
        rates = {name: float(np.mean([c[name] for c in clips])) for name in ("before_ok", "after_ok")}
        rates["all"] = float(np.mean([c["before_ok"] and c["after_ok"] for c in clips]))
        result["splits"][split] = {"rates": rates, "clips": clips}
    return result
