"""The shapes world: a seeded renderer of one-object clips with captions, for the embedded default model.

The world is fixed by `docs/shapes-world.md`: one filled circle, square or upright triangle in one of
six exact palette colours on a black, gray or white background; it moves left / right / up / down (ping-pong
between the walls), bounces diagonally, or stays still; 16 frames per second. Everything here is pure numpy
and deterministic given a `numpy.random.Generator`, so data, evaluator (`sanavideo.eval.shapes`) and the CLI's
prompts agree on one world.

Public API:
- `ClipSpec` (one clip's world state), `sample_spec(rng, held_out=False)`, `render(spec, frames, size)`,
  `render_many(specs, frames, size)` (in parallel processes),
- `caption(spec, rng, motion_score=None)`, `parse_prompt(text) -> PromptSpec`,
- `write_dataset(out_dir, n_clips, frames, size, seed)` (lossless H.264 mp4 + json sidecars),
- constants `PALETTE`, `BACKGROUNDS`, `SHAPES`, `MOTIONS`, `HELD_OUT`, `FPS`, `caption_vocabulary()`.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

# 1. The world's constants ------------------------------------------------------------------------------------

FPS = 16
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 60, 190),
    "orange": (240, 140, 30),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "gray": (110, 110, 110),
    "white": (245, 245, 245),
}
DEFAULT_BACKGROUND = "black"
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "bounces", "still")
SIZE_FACTORS = {"small": 0.75, "medium": 1.0, "big": 1.25}  # "medium" has no caption word
SPEED_FACTORS = {"slowly": 0.5, "normal": 1.0, "quickly": 2.0}  # "normal" has no caption word
BASE_SIZE_FRACTION = 0.25  # object width / canvas width at size factor 1
CROSSING_SECONDS = 3.0  # time to travel the free range (canvas minus object) at normal speed
MOTION_SCORE_PER_SPEED = 10  # " motion score: N." with N = 10 * speed factor (0 when still)
MIN_LIGHTNESS_GAP = 15.0  # CIE L* gap below which an object would be hidden by its background

# Colour/shape/motion combinations never sampled for training; evaluation uses them to test generalisation.
# Each colour, shape and motion still appears in training in other combinations.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("red", "triangle", "up"),
    ("green", "circle", "left"),
    ("blue", "square", "bounces"),
    ("yellow", "circle", "down"),
    ("purple", "triangle", "right"),
    ("orange", "square", "still"),
)


def _srgb_lightness(rgb: tuple[int, int, int]) -> float:
    """CIE L* (0..100) of an sRGB colour."""

    def linear(v: float) -> float:
        v = v / 255.0
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    y = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
    return 116.0 * y ** (1.0 / 3.0) - 16.0 if y > 216.0 / 24389.0 else y * 24389.0 / 27.0


def visible_on(colour: str, background: str) -> bool:
    """The lightness rule: an object is only rendered on a background whose CIE L* differs by >= 15.

    With the fixed palette this forbids yellow on white and red, blue, purple on gray.
    """
    gap = abs(_srgb_lightness(PALETTE[colour]) - _srgb_lightness(BACKGROUNDS[background]))
    return gap >= MIN_LIGHTNESS_GAP


def allowed_backgrounds(colour: str) -> tuple[str, ...]:
    return tuple(bg for bg in BACKGROUNDS if visible_on(colour, bg))


# 2. One clip's specification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines a rendered clip. Positions are fractions of the free range [0, 1]."""

    colour: str
    shape: str
    motion: str  # one of MOTIONS
    background: str = DEFAULT_BACKGROUND
    size: str = "medium"  # "small" | "medium" | "big" (the caption word)
    scale: float = 1.0  # actual object width / (canvas / 4); near SIZE_FACTORS[size]
    speed: str = "normal"  # "slowly" | "normal" | "quickly" (the caption word)
    start_x: float = 0.5  # object's top-left x as a fraction of the free range (canvas - object)
    start_y: float = 0.5
    angle_deg: float = 45.0  # direction of "bounces": (cos, sin) of this angle, y pointing down
    # frames of the endless trajectory before the clip's first frame: 0 starts where the caption's motion begins;
    # more starts mid-way (a continuation clip, which may open against a wall or after a reflection)
    skip_frames: int = 0
    # a switch clip: its first `history_frames` frames are `history`'s (the same object moving another way), then
    # the object moves as this spec says from where the history left it (start_x / start_y and skip_frames unused)
    history: ClipSpec | None = None
    history_frames: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("colour", self.colour, tuple(PALETTE)),
            ("shape", self.shape, SHAPES),
            ("motion", self.motion, MOTIONS),
            ("background", self.background, tuple(BACKGROUNDS)),
            ("size", self.size, tuple(SIZE_FACTORS)),
            ("speed", self.speed, tuple(SPEED_FACTORS)),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"ClipSpec.{name} must be one of {allowed}, got {value!r}")
        if not 0.5 <= self.scale <= 1.5:
            raise ValueError(f"ClipSpec.scale must be in [0.5, 1.5], got {self.scale}")
        for name in ("start_x", "start_y"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ClipSpec.{name} must be a fraction in [0, 1], got {value}")
        if self.skip_frames < 0:
            raise ValueError(f"ClipSpec.skip_frames must be >= 0, got {self.skip_frames}")
        if (self.history is None) != (self.history_frames == 0) or self.history_frames < 0:
            raise ValueError(
                "ClipSpec.history and history_frames >= 1 go together, got history "
                f"{'set' if self.history is not None else 'None'} and history_frames {self.history_frames}"
            )
        if self.history is not None:
            fields = ("colour", "shape", "background", "size", "scale")
            for name in fields:
                if getattr(self.history, name) != getattr(self, name):
                    raise ValueError(
                        f"ClipSpec.history must show the same object: its {name} is "
                        f"{getattr(self.history, name)!r}, the clip's {getattr(self, name)!r}"
                    )
            if self.history.history is not None:
                raise ValueError("ClipSpec.history must not have a history of its own (one switch per clip)")

    @property
    def speed_factor(self) -> float:
        return SPEED_FACTORS[self.speed]

    @property
    def motion_score(self) -> int:
        return 0 if self.motion == "still" else int(round(MOTION_SCORE_PER_SPEED * self.speed_factor))

    @property
    def held_out(self) -> bool:
        return (self.colour, self.shape, self.motion) in HELD_OUT

    def object_size(self, canvas: int) -> int:
        """Object width (= height) in pixels on a square canvas of side `canvas`."""
        return max(3, int(round(canvas * BASE_SIZE_FRACTION * self.scale)))


def _sample_speed(motion: str, rng: np.random.Generator) -> str:
    """A speed word: normal half the time, slowly or quickly a quarter each; still objects are "normal"."""
    return ("slowly", "normal", "normal", "quickly")[int(rng.integers(4))] if motion != "still" else "normal"


def _sample_diagonal(rng: np.random.Generator) -> float:
    """The angle of "bounces": between 35 and 55 degrees off the axes, in any of the four quadrants."""
    return float(rng.uniform(35.0, 55.0)) + 90.0 * int(rng.integers(4))


def sample_spec(rng: np.random.Generator, held_out: bool = False) -> ClipSpec:
    """Draw a random clip: from the training combinations, or (held_out=True) from `HELD_OUT` only."""
    if held_out:
        colour, shape, motion = HELD_OUT[int(rng.integers(len(HELD_OUT)))]
    else:
        while True:
            colour = PALETTE_NAMES[int(rng.integers(len(PALETTE_NAMES)))]
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
            if (colour, shape, motion) not in HELD_OUT:
                break
    backgrounds = allowed_backgrounds(colour)
    # Half the clips are on black (the default background), the rest on another allowed background.
    others = [bg for bg in backgrounds if bg != DEFAULT_BACKGROUND]
    background = (
        DEFAULT_BACKGROUND if (not others or rng.random() < 0.5) else others[int(rng.integers(len(others)))]
    )

    size = ("small", "medium", "medium", "big")[int(rng.integers(4))]
    jitter = 0.1 if size == "medium" else 0.03
    scale = SIZE_FACTORS[size] * float(rng.uniform(1.0 - jitter, 1.0 + jitter))
    speed = _sample_speed(motion, rng)

    # Start near the side the object moves away from (within the first 15% of the free range), so the first
    # second shows the named direction before any wall is reached (at double speed the first second covers
    # 2/3 of the range). Bounces start in the middle half; still objects anywhere.
    near, across = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.0, 1.0))
    if motion == "right":
        start_x, start_y = near, across
    elif motion == "left":
        start_x, start_y = 1.0 - near, across
    elif motion == "down":
        start_x, start_y = across, near
    elif motion == "up":
        start_x, start_y = across, 1.0 - near
    elif motion == "bounces":
        start_x, start_y = float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75))
    else:
        start_x, start_y = float(rng.uniform(0.0, 1.0)), float(rng.uniform(0.0, 1.0))
    angle = _sample_diagonal(rng)
    return ClipSpec(colour, shape, motion, background, size, scale, speed, start_x, start_y, angle)


def sample_switch(history: ClipSpec, history_frames: int, rng: np.random.Generator) -> ClipSpec:
    """A switch clip: `history`'s first `history_frames` frames, then the same object moving another way (a motion
    other than the history's, not a held-out combination, a random speed and diagonal), as a prompt switch in a
    stream asks."""
    motions = [
        m for m in MOTIONS if m != history.motion and (history.colour, history.shape, m) not in HELD_OUT
    ]
    motion = motions[int(rng.integers(len(motions)))]
    speed = _sample_speed(motion, rng)
    angle = _sample_diagonal(rng)
    return replace(
        history,
        motion=motion,
        speed=speed,
        angle_deg=angle,
        skip_frames=0,
        history=history,
        history_frames=history_frames,
    )


PALETTE_NAMES = tuple(PALETTE)


# 3. Rendering ------------------------------------------------------------------------------------------------


def _ping_pong(x: np.ndarray, length: float) -> np.ndarray:
    """Fold positions onto [0, length], reflecting at both ends (a triangle wave)."""
    if length <= 0:
        return np.zeros_like(x)
    u = np.mod(x, 2.0 * length)
    return np.where(u <= length, u, 2.0 * length - u)


def trajectory(spec: ClipSpec, frames: int, size: int) -> np.ndarray:
    """Top-left corner of the object per frame, float pixels, shape (frames, 2) as (x, y)."""
    free = float(size - spec.object_size(size))  # the object's top-left travels in [0, free]
    if spec.history is None:
        t = np.arange(spec.skip_frames, spec.skip_frames + frames, dtype=np.float64)
        return _path(spec, spec.start_x * free, spec.start_y * free, t, free)
    head = trajectory(spec.history, min(frames, spec.history_frames), size)  # (n, 2)
    # the switch: from the history's last position on, frame n of the clip is step 1 of the new motion
    t = np.arange(1, frames - len(head) + 1, dtype=np.float64)
    return np.concatenate([head, _path(spec, head[-1, 0], head[-1, 1], t, free)])


def _path(spec: ClipSpec, x0: float, y0: float, t: np.ndarray, free: float) -> np.ndarray:
    """(len(t), 2) positions at frames `t` of `spec`'s motion started at pixel (x0, y0), reflected at walls."""
    speed = spec.speed_factor * free / (CROSSING_SECONDS * FPS)  # pixels per frame along a crossing axis
    vx = vy = 0.0
    if spec.motion == "right":
        vx = speed
    elif spec.motion == "left":
        vx = -speed
    elif spec.motion == "down":
        vy = speed
    elif spec.motion == "up":
        vy = -speed
    elif spec.motion == "bounces":
        # Diagonal: each axis component is between ~0.8x and ~1.16x the crossing speed.
        rad = math.radians(spec.angle_deg)
        vx, vy = math.sqrt(2.0) * speed * math.cos(rad), math.sqrt(2.0) * speed * math.sin(rad)
    xs = _ping_pong(x0 + vx * t, free)
    ys = _ping_pong(y0 + vy * t, free)
    return np.stack([xs, ys], axis=1)


def shape_mask(shape: str, size: int, obj: int, x: float, y: float) -> np.ndarray:
    """Boolean (size, size) mask of a filled shape of width `obj` whose bounding box starts at (x, y).

    A pixel belongs to the shape when its centre does (no antialiasing: colours inside are exact).
    """
    centres = np.arange(size, dtype=np.float64) + 0.5
    px = centres[None, :] - x  # (1, W) position inside the bounding box
    py = centres[:, None] - y  # (H, 1)
    if shape == "square":
        return (px >= 0) & (px < obj) & (py >= 0) & (py < obj)
    if shape == "circle":
        r = obj / 2.0
        return (px - r) ** 2 + (py - r) ** 2 <= r * r
    if shape == "triangle":
        # Apex at the top centre, base along the bottom edge: half-width grows linearly with depth.
        half = 0.5 * py
        return (py >= 0) & (py < obj) & (np.abs(px - obj / 2.0) <= half)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def render(spec: ClipSpec, frames: int = 17, size: int = 64) -> np.ndarray:
    """Render a clip: uint8 (frames, size, size, 3) RGB with exact palette colours."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if size < 16:
        raise ValueError(f"canvas size must be >= 16 pixels, got {size}")
    if not visible_on(spec.colour, spec.background):
        raise ValueError(
            f"a {spec.colour} object on a {spec.background} background breaks the lightness rule "
            f"(allowed backgrounds for {spec.colour}: {allowed_backgrounds(spec.colour)})"
        )
    obj = spec.object_size(size)
    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    video[:] = np.asarray(BACKGROUNDS[spec.background], dtype=np.uint8)
    colour = np.asarray(PALETTE[spec.colour], dtype=np.uint8)
    for i, (x, y) in enumerate(trajectory(spec, frames, size)):
        video[i][shape_mask(spec.shape, size, obj, x, y)] = colour
    return video


def render_many(
    specs: list[ClipSpec], frames: int = 17, size: int = 64, workers: int | None = None
) -> np.ndarray:
    """Render clips, in `workers` processes (default: every CPU) when there are enough to pay for starting them:
    uint8 (len(specs), frames, size, size, 3), equal to rendering them one by one."""
    workers = min(os.cpu_count() or 1, 16) if workers is None else workers
    if workers <= 1 or len(specs) < 256:
        return np.stack([render(s, frames, size) for s in specs])
    # spawned, not forked: the caller may hold CUDA or OpenMP state that a fork must not copy
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        clips = pool.map(partial(render, frames=frames, size=size), specs, chunksize=64)
        return np.stack(list(clips))


# 4. Captions -------------------------------------------------------------------------------------------------

MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": (
        "moves left",
        "moves to the left",
        "moving left",
        "moving to the left",
        "slides to the left",
        "goes left",
        "travels left",
    ),
    "right": (
        "moves right",
        "moves to the right",
        "moving right",
        "moving to the right",
        "slides to the right",
        "goes right",
        "travels right",
    ),
    "up": ("moves up", "moves upward", "moving up", "moving upward", "rises", "goes up", "travels up"),
    "down": (
        "moves down",
        "moves downward",
        "moving down",
        "moving downward",
        "sinks",
        "goes down",
        "travels down",
    ),
    "bounces": (
        "bounces",
        "bounces around",
        "bouncing around",
        "bounces off the walls",
        "bouncing off the walls",
        "bounces around the frame",
    ),
    "still": (
        "stays still",
        "stays in place",
        "does not move",
        "sits still",
        "remains still",
        "staying still",
        "is not moving",
    ),
}
_BACKGROUND_PHRASES = (
    "on a {bg} background",
    "against a {bg} background",
    "over a {bg} background",
    "in front of a {bg} background",
)


def caption(spec: ClipSpec, rng: np.random.Generator, motion_score: bool | None = None) -> str:
    """A templated caption for `spec`. `motion_score`: True / False to force the suffix, None for 50/50."""
    size_word = "" if spec.size == "medium" else spec.size + " "
    first = size_word or spec.colour
    article = "an" if first[0] in "aeiou" else "a"
    subject = f"{article} {size_word}{spec.colour} {spec.shape}"
    phrases = MOTION_PHRASES[spec.motion]
    phrase = phrases[int(rng.integers(len(phrases)))]
    speed_word = "" if spec.speed == "normal" or spec.motion == "still" else spec.speed
    speed_first = bool(speed_word) and rng.random() < 0.5
    if speed_word and not speed_first:
        # "moves quickly to the left", "bounces slowly around", "rises quickly"
        head, _, tail = phrase.partition(" ")
        phrase = f"{head} {speed_word} {tail}".rstrip()
    text = f"{subject} {phrase}"
    if speed_first:
        text = f"{speed_word}, {text}"
    name_background = spec.background != DEFAULT_BACKGROUND or rng.random() < 0.5
    if name_background:
        template = _BACKGROUND_PHRASES[int(rng.integers(len(_BACKGROUND_PHRASES)))]
        text = f"{text} {template.format(bg=spec.background)}"
    if motion_score is None:
        motion_score = bool(rng.random() < 0.5)
    if motion_score:
        from sanavideo.adapters.text import add_motion_score  # the pipeline's suffix rule (imports torch)

        text = add_motion_score(text, spec.motion_score)
    return text


def caption_vocabulary() -> list[str]:
    """Every word (lower case, punctuation split off) that `caption` can produce, sorted."""
    words: set[str] = {
        "a",
        "an",
        ",",
        ".",
        ":",
        "motion",
        "score",
        "background",
        "slowly",
        "quickly",
        "small",
        "big",
    }
    words |= set(PALETTE) | set(BACKGROUNDS) | set(SHAPES)
    for phrases in MOTION_PHRASES.values():
        for phrase in phrases:
            words |= set(phrase.split())
    for template in _BACKGROUND_PHRASES:
        words |= set(template.replace("{bg}", "").split())
    words |= {str(n) for n in range(0, 101)}
    return sorted(words)


# 5. Prompt parsing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptSpec:
    """What a prompt says about the world. Fields the prompt does not name are None (background: black)."""

    colour: str | None
    shape: str | None
    motion: str | None
    background: str = DEFAULT_BACKGROUND
    size: str | None = None
    speed: str | None = None
    motion_score: int | None = None


_MOTION_PATTERNS: tuple[tuple[str, str], ...] = (
    ("bounces", r"\bbounc\w*"),
    ("still", r"\b(still|in place|not mov\w*|stationary|motionless|static)\b"),
    ("left", r"\bleft(ward|wards)?\b"),
    ("right", r"\bright(ward|wards)?\b"),
    ("up", r"\b(up|upward|upwards|rises|rising|ascends|ascending)\b"),
    ("down", r"\b(down|downward|downwards|sinks|sinking|falls|falling|descends|descending)\b"),
)


def parse_prompt(text: str) -> PromptSpec:
    """Read colour, shape, motion, background, size, speed and motion score from a prompt.

    >>> parse_prompt("quickly, a big purple square moves up on a white background motion score: 20.")
    PromptSpec(colour='purple', shape='square', motion='up', background='white', size='big', speed='quickly', motion_score=20)
    """
    lowered = text.lower().replace("grey", "gray")
    score_match = re.search(r"motion score:\s*(-?\d+)", lowered)
    score = int(score_match.group(1)) if score_match else None
    if score_match:
        lowered = lowered[: score_match.start()] + lowered[score_match.end() :]

    def first_of(names: tuple[str, ...] | list[str], haystack: str) -> str | None:
        hits = [(m.start(), name) for name in names for m in [re.search(rf"\b{name}\b", haystack)] if m]
        return min(hits)[1] if hits else None

    background = DEFAULT_BACKGROUND
    bg_match = re.search(r"\b(black|gray|white)\b\s+(background|backdrop)", lowered)
    if bg_match is None:
        bg_match = re.search(r"\bbackground\b[^.,]*?\b(black|gray|white)\b", lowered)
        if bg_match is not None:
            background = bg_match.group(1)
    else:
        background = bg_match.group(1)

    motion = None
    motion_hits = [
        (m.start(), name) for name, pat in _MOTION_PATTERNS for m in [re.search(pat, lowered)] if m
    ]
    if motion_hits:
        motion = min(motion_hits)[1]
    return PromptSpec(
        colour=first_of(PALETTE_NAMES, lowered),
        shape=first_of(SHAPES, lowered),
        motion=motion,
        background=background,
        size=first_of(("small", "big"), lowered),
        speed=first_of(("slowly", "quickly"), lowered),
        motion_score=score,
    )


# 6. Dataset on disk ------------------------------------------------------------------------------------------


def write_clip_mp4(path: str | Path, video: np.ndarray, fps: int = FPS) -> Path:
    """Write uint8 (T, H, W, 3) frames as lossless RGB H.264 (libx264rgb, qp 0): decoded colours are exact."""
    import av

    from sanavideo.fsutil import atomic_path

    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be uint8 (T, H, W, 3), got {video.dtype} {tuple(video.shape)}")
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264rgb", rate=fps)
            stream.height, stream.width = video.shape[1:3]
            stream.pix_fmt = "rgb24"
            stream.options = {"qp": "0", "preset": "medium"}
            for frame in video:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():  # flush
                container.mux(packet)
    return path


def write_dataset(
    out_dir: str | Path,
    n_clips: int,
    frames: int = 33,
    size: int = 64,
    seed: int = 0,
    held_out: bool = False,
    motion_score_fraction: float = 0.5,
) -> list[Path]:
    """Render `n_clips` clips to `out_dir/NAME.mp4` + `out_dir/NAME.json`; returns the mp4 paths.

    The sidecar holds {"prompt", "motion_score", "frames", "canvas" (side in pixels), "fps", "held_out", and the
    ClipSpec fields (colour, shape, motion, background, size word, scale, speed, start_x, start_y, angle_deg)}.
    The same seed always writes the same clips and captions.
    """
    from sanavideo.fsutil import atomic_path

    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    if (frames - 1) % 4 != 0:
        raise ValueError(f"frames must be 4k+1 for the causal VAE (e.g. 17, 33, 81), got {frames}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prefix = "heldout" if held_out else "clip"
    paths = []
    for i in range(n_clips):
        spec = sample_spec(rng, held_out=held_out)
        text = caption(spec, rng, motion_score=bool(rng.random() < motion_score_fraction))
        name = f"{prefix}_{seed:04d}_{i:06d}"
        mp4 = write_clip_mp4(out / f"{name}.mp4", render(spec, frames, size))
        meta = {
            "prompt": text,
            "motion_score": spec.motion_score,
            "frames": frames,
            "canvas": size,
            "fps": FPS,
            "held_out": spec.held_out,
            **asdict(spec),
        }
        with atomic_path(out / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=1) + "\n")
        paths.append(mp4)
    return paths


def _main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sanavideo.data.shapes", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, help="output folder for NAME.mp4 + NAME.json")
    parser.add_argument("--n", type=int, default=100, help="number of clips")
    parser.add_argument("--frames", type=int, default=33, help="frames per clip (4k+1)")
    parser.add_argument("--size", type=int, default=64, help="square canvas side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", action="store_true", help="render only the held-out combinations")
    args = parser.parse_args(argv)
    paths = write_dataset(args.out, args.n, args.frames, args.size, args.seed, held_out=args.held_out)
    print(f"wrote {len(paths)} clips ({args.frames}x{args.size}x{args.size}) to {args.out}")


if __name__ == "__main__":
    _main()
