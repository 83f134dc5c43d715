"""Evaluate a model on the shapes world: generate clips for seen and held-out prompts, check each with the
shapes evaluator (colour, shape, motion; long-clip checks for streamed clips), and summarise pass rates.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from sanavideo.data.shapes import FPS, HELD_OUT, ClipSpec, caption, render, sample_spec
from sanavideo.eval.requests import MODES, EvalRequest
from sanavideo.eval.shapes import CHECKS, evaluate_clip, pass_rates
from sanavideo.eval.switch import evaluate_switches, stream_clip

CLIP_MODES = ("t2v", "i2v", "stream")  # the modes whose clips `generate` makes (switch: eval/switch.py)

# What a long streamed clip reports: the checks over the whole clip, and the fractions of frames behind them
# (the targets for a minute: one object in >= 98% of frames, area within 30%, moving at the end); over
# several clips, each is averaged (a check: the fraction of clips that pass it).
LONG_CLIP_MEASURES = (
    "one_object_ok",
    "one_object_fraction",
    "area_stable_ok",
    "area_within_30pct",
    "colour_stable_ok",
    "colour_stable_fraction",
    "motion_at_end_ok",
)


def long_clip_measures(frames: np.ndarray, prompt: str) -> dict:
    """The long-clip measures of one streamed clip, and per second (each second evaluated alone) the fraction of
    its frames with exactly one object: where a stream loses or splits the object."""
    report = evaluate_clip(frames, prompt)
    per_second = [
        round(evaluate_clip(frames[s : s + FPS], prompt).one_object_fraction, 3)
        for s in range(0, len(frames) - FPS + 1, FPS)
    ]
    measures = {name: getattr(report, name) for name in LONG_CLIP_MEASURES}
    return {"prompt": prompt, **measures, "one_object_per_second": per_second}


def eval_specs(n: int, seed: int) -> dict[str, list[tuple[str, ClipSpec]]]:
    """`n` seen and `n` held-out (prompt, clip) pairs, deterministic in `seed`; the prompt is the clip's caption.
    Held-out clips cycle through HELD_OUT."""
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(n):
        spec = sample_spec(rng)
        seen.append((caption(spec, rng, motion_score=False), spec))
    held = []
    for i in range(n):
        spec = ClipSpec(*HELD_OUT[i % len(HELD_OUT)])
        held.append((caption(spec, rng, motion_score=False), spec))
    return {"seen": seen, "held_out": held}


def eval_prompts(n: int, seed: int) -> dict[str, list[str]]:
    """The prompts of `eval_specs`."""
    return {split: [prompt for prompt, _ in pairs] for split, pairs in eval_specs(n, seed).items()}


def generate(
    pipe, prompt: str, frames: int, mode: str, seed: int, spec: ClipSpec | None = None
) -> np.ndarray:
    """uint8 (frames, H, W, 3); i2v starts from `spec`'s rendered first frame at the model's default size."""
    if mode not in CLIP_MODES:
        raise ValueError(f"generate makes a clip in one of the modes {CLIP_MODES}, got {mode!r}")
    if mode == "stream":
        return stream_clip(pipe, prompt, frames, seed)
    generator = torch.Generator().manual_seed(seed)
    extra = {}
    if mode == "i2v":
        extra["image"] = render(spec, 1, pipe.options.height)[0]  # (H, W, 3)
    out = pipe(prompt, frames=frames, generator=generator, output_type="np", progress=False, **extra)
    return (out.frames[0] * 255).round().astype(np.uint8)


def evaluate_model(pipe, request: EvalRequest, log=print, sheet_rows: list | None = None) -> dict:
    """Run the evaluation; returns {"request", "splits": {split: {"rates", "clips"}}}. With `sheet_rows`, a
    row of 5 evenly spaced frames of every generated clip is appended to it (for `contact_sheet`)."""
    if request.mode == "switch":
        return evaluate_switches(pipe, request, eval_specs(request.n, request.seed), log, sheet_rows)
    result: dict = {"request": asdict(request), "splits": {}}
    for split, pairs in eval_specs(request.n, request.seed).items():
        prompts = [prompt for prompt, _ in pairs]
        clips, reports = [], []
        for i, (prompt, spec) in enumerate(pairs):
            frames = generate(pipe, prompt, request.frames, request.mode, request.seed + i, spec)
            if sheet_rows is not None:
                picks = np.linspace(0, len(frames) - 1, 5).round().astype(int)
                sheet_rows.append((f"[{split}] {prompt}", frames[picks]))
            report = evaluate_clip(frames, prompt)
            reports.append(report)
            clips.append(
                {
                    "prompt": prompt,
                    "passed": report.passed,
                    "failures": report.failures(),
                    "checks": report.checks(),
                    "colour": report.colour_measured,
                    "shape": report.shape_measured,
                    "motion": report.motion_measured,
                }
            )
            log(f"{split:8s} {'pass' if report.passed else 'FAIL'}  {prompt}  {report.failures() or ''}")
        rates: dict = pass_rates(reports)
        if request.long_frames:
            long = [
                long_clip_measures(
                    generate(pipe, prompt, request.long_frames, "stream", request.seed + i), prompt
                )
                for i, prompt in enumerate(prompts[: request.long_clips])
            ]
            rates["long_clip"] = {
                name: float(np.mean([m[name] for m in long])) for name in LONG_CLIP_MEASURES
            }
            rates["long_clip"].update(frames=request.long_frames, clips=long)
            log(
                f"{split:8s} long clips: one object in {rates['long_clip']['one_object_fraction']:.0%} of frames"
            )
        result["splits"][split] = {"rates": rates, "clips": clips}
    return result


def format_table(result: dict) -> str:
    splits = list(result["splits"])
    rates = [result["splits"][s]["rates"] for s in splits]
    known = [n for n in (*CHECKS, "all") if any(n in r for r in rates)]
    others = [n for r in rates for n, v in r.items() if isinstance(v, float) and n not in known]
    names = [n for n in known if n != "all"] + list(dict.fromkeys(others)) + ["all"]
    lines = ["| check | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for name in names:
        cells = []
        for s in splits:
            value = result["splits"][s]["rates"].get(name)
            cells.append("-" if value is None else f"{value:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contact_sheet(rows: list, path: str | Path, scale: int = 2) -> None:
    """A PNG with one row per clip: its caption, then 5 frames (uint8 (5, H, W, 3)), written atomically."""
    from PIL import Image, ImageDraw

    from sanavideo.fsutil import atomic_path

    h, w = rows[0][1].shape[1:3]
    cell_h, cell_w, label_w = h * scale, w * scale, 330
    sheet = Image.new("RGB", (label_w + 5 * (cell_w + 4), len(rows) * (cell_h + 4)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (label, frames) in enumerate(rows):
        y = r * (cell_h + 4)
        draw.text((4, y + cell_h // 2 - 6), label[:58], fill=(0, 0, 0))
        for c, frame in enumerate(frames):
            tile = Image.fromarray(frame).resize((cell_w, cell_h), Image.NEAREST)
            sheet.paste(tile, (label_w + c * (cell_w + 4), y))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def write_json(result: dict, path: str | Path) -> None:
    from sanavideo.fsutil import atomic_write_json

    atomic_write_json(result, path, indent=1, default=_jsonable)


def _jsonable(value):
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = [
    "MODES",
    "EvalRequest",
    "contact_sheet",
    "eval_specs",
    "evaluate_model",
    "format_table",
    "write_json",
]
