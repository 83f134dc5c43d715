"""Checks whether a clip obeys its shapes-world prompt (colour, shape, motion, long-clip stability).

The checks follow `docs/shapes-world.md` ("What the evaluator checks"). They work on generated, possibly blurry or
noisy frames: the background colour is measured from the frame borders, the object is every pixel farther from
it than half the distance to the object's colour (a half-maximum threshold, so blur does not change the
measured area much), and colours are named by the nearest palette entry.

    report = evaluate_clip(frames, "a red circle moves to the right")   # frames: uint8 (T, H, W, 3)
    report.passed, report.failures(), report.fill_ratio, report.displacement

All thresholds live in `EvalThresholds` and scale with the canvas side where they are lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sanavideo.data.shapes import BACKGROUNDS, FPS, PALETTE, PromptSpec, parse_prompt

SHAPE_FILL_RATIOS = {"triangle": 0.5, "circle": float(np.pi / 4.0), "square": 1.0}
CHECKS = (
    "background_ok",
    "colour_ok",
    "shape_ok",
    "motion_ok",
    "one_object_ok",
    "area_stable_ok",
    "colour_stable_ok",
    "motion_at_end_ok",
)


@dataclass(frozen=True)
class EvalThresholds:
    """Tolerances of the checks. Lengths are fractions of the canvas side (64 px: 0.04 -> 2.6 px)."""

    coarse_distance: float = 40.0  # RGB distance from the background that marks a candidate object pixel
    core_fraction: float = 0.7  # pixels this close to the peak distance vote for the object's colour
    mask_fraction: float = 0.5  # object mask: distance >= this fraction of |object colour - background|
    min_mask_distance: float = 25.0  # ... but never below this RGB distance
    min_object_fraction: float = 0.15  # a component counts as an object if its area >= this x median area
    min_object_pixels: int = 4
    still_tolerance: float = 0.03  # "stays still": centroid within this distance of where it started
    move_threshold: float = 0.04  # a named direction needs at least this displacement over the first second
    max_cross_ratio: float = 0.5  # ... and at most this much sideways drift relative to it
    # "bounces" (the world's diagonals, 35-55 degrees off the axes): both coordinates span at least this over the
    # first second, the smaller span more than max_cross_ratio x the larger; with less, the sideways drift that
    # a named direction tolerates, the clip reads as that direction
    bounce_threshold: float = 0.04
    area_low: float = 0.6  # stable area: every frame within [low, high] x the median area
    area_high: float = 1.6
    colour_stable_fraction: float = 0.95  # frames whose colour names the clip's colour
    first_second_frames: int = FPS + 1  # 17 frames = 1 s at 16 fps (4k+1)
    triangle_skew: float = -0.3  # vertical skewness at or below this: an upright triangle (ideal -0.566)
    min_fill: float = 0.64  # a symmetric object filling less of its box is no circle or square


@dataclass
class ShapesReport:
    """Per-check booleans (None: the prompt does not name that property) and the measured values."""

    prompt: PromptSpec
    frames: int
    # measured values
    background_measured: str
    background_rgb: tuple[float, float, float]
    colour_measured: str | None
    colour_rgb: tuple[float, float, float] | None
    fill_ratio: float  # median over frames of area / bounding-box area of the main object
    skew_y: float  # median over frames of the object's vertical skewness (upright triangle ~ -0.57)
    shape_measured: str | None
    displacement: tuple[float, float]  # centroid (dx, dy) in pixels over the first second, y down
    first_second_span: tuple[float, float]  # centroid (max - min) of x and y over the first second
    end_span: float  # max centroid span of x or y over the last second
    motion_measured: str
    objects_per_frame: tuple[int, int]  # (min, max) over frames
    one_object_fraction: float  # frames with exactly one object
    area_range: tuple[float, float]  # (min, max) object area / median area over frames
    area_within_30pct: float  # frames whose object area is within 30% of the median area
    colour_stable_fraction: float
    last_centroid: tuple[float, float]  # (x, y) of the main object in the last frame, pixels; nan if none
    # checks
    background_ok: bool = False
    colour_ok: bool | None = None
    shape_ok: bool | None = None
    motion_ok: bool | None = None
    one_object_ok: bool = False
    area_stable_ok: bool = False
    colour_stable_ok: bool = False
    motion_at_end_ok: bool | None = None
    notes: list[str] = field(default_factory=list)

    def checks(self) -> dict[str, bool | None]:
        return {name: getattr(self, name) for name in CHECKS}

    def failures(self) -> list[str]:
        return [name for name, ok in self.checks().items() if ok is False]

    @property
    def passed(self) -> bool:
        return not self.failures()


# 1. Small image tools ----------------------------------------------------------------------------------------


def _nearest(rgb: np.ndarray, table: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """Index into `table` of the nearest entry for each RGB row. rgb: (..., 3) -> (...)."""
    entries = np.asarray(list(table.values()), dtype=np.float32)  # (K, 3)
    d = np.linalg.norm(rgb[..., None, :].astype(np.float32) - entries, axis=-1)  # (..., K)
    return d.argmin(axis=-1)


def label_components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels of a boolean (T, H, W) mask, per frame; -1 outside the mask.

    Labels are flat indices of one pixel of the component (min-label propagation with pointer jumping).
    """
    t, h, w = mask.shape
    n = t * h * w
    idx = np.arange(n, dtype=np.int64).reshape(t, h, w)
    sentinel = n  # background pixels point to an extra slot that points to itself
    lab = np.where(mask, idx, sentinel)
    while True:
        prev = lab
        nb = lab.copy()
        # Neighbours within the same frame only: shifts along H and W, never along T.
        nb[:, 1:, :] = np.minimum(nb[:, 1:, :], lab[:, :-1, :])
        nb[:, :-1, :] = np.minimum(nb[:, :-1, :], lab[:, 1:, :])
        nb[:, :, 1:] = np.minimum(nb[:, :, 1:], lab[:, :, :-1])
        nb[:, :, :-1] = np.minimum(nb[:, :, :-1], lab[:, :, 1:])
        lab = np.where(mask, nb, sentinel)
        # Pointer jumping: follow each label to its own label, until stable.
        flat = np.append(lab.reshape(-1), sentinel)  # (n + 1,)
        for _ in range(64):
            jumped = flat[flat]
            if np.array_equal(jumped, flat):
                break
            flat = jumped
        lab = flat[:n].reshape(t, h, w)
        if np.array_equal(lab, prev):
            break
    return np.where(mask, lab, -1)


def classify_shape(fill_ratio: float, skew_y: float, th: EvalThresholds) -> str:
    """Name a shape from its bounding-box fill ratio, with the vertical skewness as a blur-proof triangle test.

    Fill ratios: square 1.0, circle pi/4 ~ 0.79, triangle 0.5. Blur cuts a triangle's thin apex off a
    half-maximum mask, which raises its fill ratio towards a circle's; its mass distribution stays skewed
    towards the base (skewness of the row profile 2y/h^2: -2*sqrt(2)/5 ~ -0.57; blur keeps third cumulants),
    while circles and squares are symmetric (0). "other" for a symmetric object filling < `min_fill`.
    """
    if skew_y <= th.triangle_skew:
        return "triangle"
    if fill_ratio < th.min_fill:
        return "other"
    return min(("circle", "square"), key=lambda s: abs(SHAPE_FILL_RATIOS[s] - fill_ratio))


# 2. The evaluator --------------------------------------------------------------------------------------------


def evaluate_clip(
    frames: np.ndarray, prompt: str | PromptSpec, thresholds: EvalThresholds | None = None
) -> ShapesReport:
    """Measure a clip and check it against its prompt. frames: uint8 (T, H, W, 3) RGB."""
    th = thresholds or EvalThresholds()
    spec = parse_prompt(prompt) if isinstance(prompt, str) else prompt
    video = np.asarray(frames)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {tuple(video.shape)}")
    if video.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {video.dtype}")
    t, h, w, _ = video.shape
    side = float(min(h, w))
    pix = video.astype(np.float32)
    notes: list[str] = []

    # Background: median of every frame's border pixels, named by the nearest background entry.
    border = np.concatenate(
        [
            pix[:, 0].reshape(-1, 3),
            pix[:, -1].reshape(-1, 3),
            pix[:, :, 0].reshape(-1, 3),
            pix[:, :, -1].reshape(-1, 3),
        ]
    )
    bg_rgb = np.median(border, axis=0)  # (3,)
    bg_name = list(BACKGROUNDS)[int(_nearest(bg_rgb, BACKGROUNDS))]
    dist = np.linalg.norm(pix - bg_rgb, axis=-1)  # (T, H, W) distance from the background

    # Object colour: core pixels (near the peak distance of their frame) vote for the nearest palette entry.
    coarse = dist > th.coarse_distance
    peak = np.where(coarse, dist, 0.0).reshape(t, -1).max(axis=1)  # (T,)
    core = coarse & (dist >= th.core_fraction * peak[:, None, None])
    palette_names = list(PALETTE)
    colour_name: str | None = None
    colour_rgb: tuple[float, float, float] | None = None
    frame_votes = np.full(t, -1)
    if core.any():
        nearest = _nearest(pix[core], PALETTE)  # (n_core,)
        colour_idx = int(np.bincount(nearest, minlength=len(palette_names)).argmax())
        colour_name = palette_names[colour_idx]
        chosen = pix[core][nearest == colour_idx]
        colour_rgb = tuple(float(v) for v in np.median(chosen, axis=0))
        frame_of_core = np.nonzero(core)[0]  # frame index of each core pixel
        for i in range(t):
            votes = nearest[frame_of_core == i]
            if votes.size:
                frame_votes[i] = int(np.bincount(votes, minlength=len(palette_names)).argmax())
    else:
        notes.append("no pixel differs from the background")

    # Object mask at half the object-background distance, then connected components per frame.
    if colour_rgb is not None:
        object_distance = float(np.linalg.norm(np.asarray(colour_rgb) - bg_rgb))
        mask_threshold = max(th.min_mask_distance, th.mask_fraction * object_distance)
    else:
        mask_threshold = th.coarse_distance
    mask = dist >= mask_threshold
    labels = label_components(mask)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    frame_of_id = ids // (h * w)
    main_area = np.zeros(t)
    main_id = np.full(t, -1, dtype=np.int64)
    for comp, area, f in zip(ids, counts, frame_of_id):
        if area > main_area[f]:
            main_area[f], main_id[f] = area, comp
    present = main_id >= 0
    median_area = float(np.median(main_area[present])) if present.any() else 0.0
    min_area = max(th.min_object_pixels, th.min_object_fraction * median_area)
    objects = np.bincount(frame_of_id[counts >= min_area], minlength=t)[:t]  # (T,) objects per frame

    # Per-frame geometry of the main object: centroid, bounding-box fill ratio and vertical skewness.
    centroids = np.full((t, 2), np.nan)
    fills = np.full(t, np.nan)
    skews = np.full(t, np.nan)
    for f in np.nonzero(present)[0]:
        ys, xs = np.nonzero(labels[f] == main_id[f])
        centroids[f] = (xs.mean(), ys.mean())
        box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
        fills[f] = xs.size / box
        dy = ys - ys.mean()
        var = float((dy**2).mean())
        skews[f] = float((dy**3).mean()) / var**1.5 if var > 0 else 0.0
    fill_ratio = float(np.nanmedian(fills)) if present.any() else float("nan")
    skew_y = float(np.nanmedian(skews)) if present.any() else float("nan")
    shape_measured = classify_shape(fill_ratio, skew_y, th) if present.any() else None

    # Motion over the first second.
    first = centroids[: min(t, th.first_second_frames)]
    motion_measured = "unclear"
    displacement = (float("nan"), float("nan"))
    span = (float("nan"), float("nan"))
    if len(first) >= 2 and not np.isnan(first).any():
        dx, dy = (first[-1] - first[0]).tolist()
        displacement = (dx, dy)
        span = tuple((first.max(axis=0) - first.min(axis=0)).tolist())
        deviation = float(np.linalg.norm(first - first[0], axis=1).max())
        move, cross = th.move_threshold * side, th.max_cross_ratio
        if deviation <= th.still_tolerance * side:
            motion_measured = "still"
        elif min(span) >= th.bounce_threshold * side and min(span) > cross * max(span):
            motion_measured = "bounces"
        elif abs(dx) >= move and abs(dy) <= cross * abs(dx):
            motion_measured = "right" if dx > 0 else "left"
        elif abs(dy) >= move and abs(dx) <= cross * abs(dy):
            motion_measured = "down" if dy > 0 else "up"
    elif len(first) < 2:
        notes.append(f"motion needs >= 2 frames, got {t}")
    else:
        notes.append("the object is missing in some frame of the first second")

    # Long-clip behaviour: the last second still moves (or, for "stays still", the whole clip stays).
    end_span = float("nan")
    last = centroids[-min(t, th.first_second_frames) :]
    if len(last) >= 2 and not np.isnan(last).any():
        end_span = float((last.max(axis=0) - last.min(axis=0)).max())
    all_present = present.all()
    motion_at_end_ok: bool | None = None
    if spec.motion == "still":
        whole = float(np.linalg.norm(centroids - centroids[0], axis=1).max()) if all_present else float("inf")
        motion_at_end_ok = bool(whole <= th.still_tolerance * side)
    elif spec.motion is not None:
        motion_at_end_ok = bool(end_span >= th.move_threshold * side)

    area_range = (float("nan"), float("nan"))
    if all_present and median_area > 0:
        area_range = (float(main_area.min() / median_area), float(main_area.max() / median_area))
    near_median = present & (np.abs(main_area - median_area) <= 0.3 * median_area)
    stable_colour = float(np.mean(frame_votes == palette_names.index(colour_name))) if colour_name else 0.0

    report = ShapesReport(
        prompt=spec,
        frames=t,
        background_measured=bg_name,
        background_rgb=tuple(float(v) for v in bg_rgb),
        colour_measured=colour_name,
        colour_rgb=colour_rgb,
        fill_ratio=fill_ratio,
        skew_y=skew_y,
        shape_measured=shape_measured,
        displacement=displacement,
        first_second_span=span,
        end_span=end_span,
        motion_measured=motion_measured,
        objects_per_frame=(int(objects.min()), int(objects.max())),
        one_object_fraction=float(np.mean(objects == 1)),
        area_range=area_range,
        area_within_30pct=float(np.mean(near_median)),
        colour_stable_fraction=stable_colour,
        last_centroid=(float(centroids[-1, 0]), float(centroids[-1, 1])),
        notes=notes,
    )
    report.background_ok = bg_name == spec.background
    report.colour_ok = None if spec.colour is None else colour_name == spec.colour
    report.shape_ok = None if spec.shape is None else shape_measured == spec.shape
    report.motion_ok = None if spec.motion is None else motion_measured == spec.motion
    report.one_object_ok = bool((objects == 1).all())
    report.area_stable_ok = bool(
        all_present and th.area_low <= area_range[0] and area_range[1] <= th.area_high
    )
    report.colour_stable_ok = bool(colour_name is not None and stable_colour >= th.colour_stable_fraction)
    report.motion_at_end_ok = motion_at_end_ok
    return report


def pass_rates(reports: list[ShapesReport]) -> dict[str, float]:
    """Fraction of clips passing each check (over clips where it applies) and all of them ("all")."""
    if not reports:
        raise ValueError("pass_rates needs at least one report")
    rates: dict[str, float] = {}
    for name in CHECKS:
        values = [getattr(r, name) for r in reports if getattr(r, name) is not None]
        if values:
            rates[name] = float(np.mean(values))
    rates["all"] = float(np.mean([r.passed for r in reports]))
    return rates
