"""The shapes world: renderer, captions, prompt parsing, dataset files, evaluator and the text stack."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest

from sanavideo.data.shapes import (
    BACKGROUNDS,
    FPS,
    HELD_OUT,
    MOTIONS,
    PALETTE,
    SHAPES,
    ClipSpec,
    allowed_backgrounds,
    caption,
    caption_vocabulary,
    parse_prompt,
    render,
    sample_spec,
    sample_switch,
    trajectory,
    visible_on,
    write_dataset,
)
from sanavideo.eval.shapes import EvalThresholds, evaluate_clip, label_components, pass_rates

# -- world rules -----------------------------------------------------------------------------------------------


def test_lightness_rule_forbids_hidden_objects():
    assert not visible_on("yellow", "white")
    assert all(visible_on(c, "black") for c in PALETTE)
    for colour in PALETTE:
        assert allowed_backgrounds(colour), colour
    with pytest.raises(ValueError, match="lightness rule"):
        render(ClipSpec("yellow", "circle", "right", background="white"))
    rng = np.random.default_rng(0)
    for _ in range(500):
        spec = sample_spec(rng)
        assert visible_on(spec.colour, spec.background)


def test_sampling_is_seeded_and_excludes_held_out():
    a = [sample_spec(np.random.default_rng(7)) for _ in range(3)]
    b = [sample_spec(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    train = [sample_spec(rng) for _ in range(3000)]
    combos = {(s.colour, s.shape, s.motion) for s in train}
    assert not combos & set(HELD_OUT)
    # every colour, shape and motion still appears in training; all backgrounds are used
    assert {s.colour for s in train} == set(PALETTE)
    assert {s.shape for s in train} == set(SHAPES)
    assert {s.motion for s in train} == set(MOTIONS)
    assert {s.background for s in train} == set(BACKGROUNDS)
    held = [sample_spec(rng, held_out=True) for _ in range(200)]
    assert {(s.colour, s.shape, s.motion) for s in held} == set(HELD_OUT)
    assert all(s.held_out for s in held)


def test_render_exact_palette_and_size():
    rng = np.random.default_rng(3)
    for _ in range(40):
        spec = sample_spec(rng)
        video = render(spec, frames=9, size=64)
        assert video.shape == (9, 64, 64, 3) and video.dtype == np.uint8
        colours = {tuple(int(v) for v in c) for c in np.unique(video.reshape(-1, 3), axis=0)}
        assert colours == {PALETTE[spec.colour], BACKGROUNDS[spec.background]}
        assert np.array_equal(video, render(spec, frames=9, size=64))  # deterministic
        # about a quarter of the canvas wide, scaled by the size word
        obj = spec.object_size(64)
        assert abs(obj / 16 - spec.scale) <= 0.05
        assert {"small": (0.7, 0.8), "medium": (0.85, 1.15), "big": (1.2, 1.3)}[spec.size][0] <= spec.scale


@pytest.mark.parametrize(
    "motion, axis, sign", [("right", 0, 1), ("left", 0, -1), ("down", 1, 1), ("up", 1, -1)]
)
def test_motion_crosses_in_about_three_seconds_and_ping_pongs(motion, axis, sign):
    spec = ClipSpec(
        "red",
        "square",
        motion,
        start_x=0.0 if motion == "right" else 1.0,
        start_y=0.0 if motion == "down" else 1.0,
    )
    size = 64
    free = size - spec.object_size(size)
    path = trajectory(spec, 6 * FPS + 1, size)[:, axis]
    assert np.all(np.sign(np.diff(path[: 3 * FPS])) == sign)  # one crossing in 3 s ...
    assert abs(path[3 * FPS] - path[0]) == pytest.approx(free)
    assert path[6 * FPS] == pytest.approx(path[0])  # ... and back again (reflection at the wall)
    assert path.min() >= 0 and path.max() <= free
    quick = ClipSpec("red", "square", motion, speed="quickly", start_x=spec.start_x, start_y=spec.start_y)
    assert abs(trajectory(quick, 9, size)[8, axis] - path[0]) == pytest.approx(2 * abs(path[8] - path[0]))


def test_a_continuation_clip_is_a_later_stretch_of_the_same_trajectory():
    spec = ClipSpec("red", "triangle", "up", start_y=0.9)
    later = ClipSpec("red", "triangle", "up", start_y=0.9, skip_frames=40)
    np.testing.assert_array_equal(trajectory(later, 33, 64), trajectory(spec, 73, 64)[40:])
    np.testing.assert_array_equal(render(later, 33, 64), render(spec, 73, 64)[40:])
    with pytest.raises(ValueError, match="skip_frames must be >= 0, got -1"):
        ClipSpec("red", "triangle", "up", skip_frames=-1)


def test_a_switch_clip_continues_from_its_history_with_the_new_motion():
    history = ClipSpec("red", "square", "right", speed="slowly", start_x=0.5, start_y=0.5, skip_frames=20)
    spec = replace(history, motion="up", speed="normal", skip_frames=0, history=history, history_frames=9)
    assert (
        parse_prompt(caption(spec, np.random.default_rng(0))).motion == "up"
    )  # captioned with the new motion
    path, head = trajectory(spec, 33, 64), trajectory(history, 9, 64)
    np.testing.assert_array_equal(path[:9], head)  # the history's own frames, skip included
    # from the history's last position on, step k of the new motion (a direct clip started there)
    free = 64 - spec.object_size(64)
    x, y = head[-1] / free
    direct = replace(spec, history=None, history_frames=0, start_x=float(x), start_y=float(y))
    np.testing.assert_allclose(path[8:], trajectory(direct, 25, 64), atol=1e-9)
    np.testing.assert_array_equal(render(spec, 33, 64)[:9], render(history, 9, 64))
    # the switch clips of a seed draw every other motion
    rng = np.random.default_rng(0)
    drawn = [sample_switch(history, 9, rng) for _ in range(60)]
    assert {d.motion for d in drawn} == set(MOTIONS) - {"right"} and {d.history for d in drawn} == {history}
    with pytest.raises(
        ValueError, match="history and history_frames >= 1 go together, got history set and history_frames 0"
    ):
        replace(spec, history_frames=0)
    with pytest.raises(ValueError, match="same object: its colour is 'red', the clip's 'blue'"):
        replace(spec, colour="blue")


def test_bounce_reflects_at_all_walls_and_still_stays():
    spec = ClipSpec("blue", "circle", "bounces", angle_deg=40.0)
    path = trajectory(spec, 400, 64)
    free = 64 - spec.object_size(64)
    assert path.min() >= 0 and path.max() <= free
    for axis in (0, 1):  # reaches both walls on both axes
        assert path[:, axis].min() < 1.0 and path[:, axis].max() > free - 1.0
    still = trajectory(ClipSpec("blue", "circle", "still", start_x=0.3), 50, 64)
    assert np.ptp(still, axis=0).max() == 0.0


# -- captions and prompts --------------------------------------------------------------------------------------


def test_captions_parse_back_to_their_spec():
    rng = np.random.default_rng(5)
    texts = set()
    for _ in range(600):
        spec = sample_spec(rng)
        text = caption(spec, rng)
        texts.add(text)
        parsed = parse_prompt(text)
        assert (parsed.colour, parsed.shape, parsed.motion, parsed.background) == (
            spec.colour,
            spec.shape,
            spec.motion,
            spec.background,
        ), text
        assert parsed.size == (None if spec.size == "medium" else spec.size), text
        assert parsed.speed == (None if spec.speed == "normal" else spec.speed), text
        if "motion score" in text:
            assert text.endswith(f" motion score: {spec.motion_score}.")
            assert parsed.motion_score == spec.motion_score
    assert len(texts) > 400  # templates give variety
    assert sample_spec(np.random.default_rng(0)).motion_score in (0, 5, 10, 20)
    assert ClipSpec("red", "circle", "still").motion_score == 0
    assert ClipSpec("red", "circle", "left", speed="quickly").motion_score == 20


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red circle moves to the right on a black background", ("red", "circle", "right", "black")),
        ("a small blue square bouncing around on a gray background", ("blue", "square", "bounces", "gray")),
        ("a yellow triangle stays still", ("yellow", "triangle", "still", "black")),
        ("quickly, a big purple square moves up on a white background", ("purple", "square", "up", "white")),
        ("An orange circle falls; the background is grey", ("orange", "circle", "down", "gray")),
    ],
)
def test_parse_prompt_examples(text, expected):
    p = parse_prompt(text)
    assert (p.colour, p.shape, p.motion, p.background) == expected


# -- files -----------------------------------------------------------------------------------------------------


def test_write_dataset_is_lossless_with_sidecars(tmp_path):
    from sanavideo.video_io import read_video

    paths = write_dataset(tmp_path, n_clips=3, frames=17, size=64, seed=11)
    assert [p.suffix for p in paths] == [".mp4"] * 3
    for path in paths:
        meta = json.loads(path.with_suffix(".json").read_text())
        spec = ClipSpec(**{k: meta[k] for k in ClipSpec.__dataclass_fields__})
        frames, fps = read_video(path)
        assert fps == FPS
        assert np.array_equal(frames, render(spec, meta["frames"], meta["canvas"]))  # exact colours
        assert meta["motion_score"] == spec.motion_score and isinstance(meta["prompt"], str)
        assert parse_prompt(meta["prompt"]).colour == spec.colour
    again = write_dataset(tmp_path / "again", n_clips=3, frames=17, size=64, seed=11)
    assert [json.loads(p.with_suffix(".json").read_text())["prompt"] for p in again] == [
        json.loads(p.with_suffix(".json").read_text())["prompt"] for p in paths
    ]
    with pytest.raises(ValueError, match="4k\\+1"):
        write_dataset(tmp_path, n_clips=1, frames=16)


# -- evaluator -------------------------------------------------------------------------------------------------


def test_label_components():
    mask = np.zeros((2, 6, 6), dtype=bool)
    mask[0, 0:2, 0:2] = True
    mask[0, 4:6, 3:6] = True
    mask[0, 3, 0] = True  # diagonal to nothing: its own component
    mask[1, 1:5, 2] = True
    mask[1, 2, 1:4] = True  # a plus sign: one component
    labels = label_components(mask)
    assert len(np.unique(labels[0][labels[0] >= 0])) == 3
    assert len(np.unique(labels[1][labels[1] >= 0])) == 1
    assert (labels[~mask] == -1).all()


def _every_combination():
    """One spec per (colour, allowed background, shape, motion), random otherwise."""
    rng = np.random.default_rng(21)
    for colour, shape, motion in itertools.product(PALETTE, SHAPES, MOTIONS):
        for background in allowed_backgrounds(colour):
            base = sample_spec(rng)
            while base.motion != motion:  # start positions depend on the motion
                base = sample_spec(rng)
            yield ClipSpec(
                colour,
                shape,
                motion,
                background,
                base.size,
                base.scale,
                base.speed,
                base.start_x,
                base.start_y,
                base.angle_deg,
            )


def test_every_ground_truth_clip_passes_all_checks():
    rng = np.random.default_rng(8)
    reports = []
    for i, spec in enumerate(_every_combination()):
        frames, size = ((17, 64), (33, 64), (33, 96))[i % 3]
        report = evaluate_clip(render(spec, frames, size), caption(spec, rng))
        assert report.passed, (spec, report.failures(), report)
        assert None not in (report.colour_ok, report.shape_ok, report.motion_ok, report.motion_at_end_ok)
        reports.append(report)
    assert len(reports) > 200
    assert pass_rates(reports)["all"] == 1.0
    # long clips: ping-pong keeps every motion meaningful to the end
    for motion in MOTIONS:
        spec = sample_spec(np.random.default_rng(len(motion)))
        while spec.motion != motion:
            spec = sample_spec(rng)
        report = evaluate_clip(render(spec, 161, 64), caption(spec, rng))
        assert report.passed, (spec, report.failures(), report)


def _blur(video: np.ndarray, passes: int = 2) -> np.ndarray:
    x = video.astype(np.float32)
    for _ in range(passes):  # 3x3 box blur per pass
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[:, dy : dy + x.shape[1], dx : dx + x.shape[2]] for dy in range(3) for dx in range(3)) / 9.0
    return x


def test_blurry_noisy_clips_still_pass():
    rng = np.random.default_rng(4)
    for _ in range(40):
        spec = sample_spec(rng)
        video = _blur(render(spec, 33, 64)) + rng.normal(0.0, 6.0, (33, 64, 64, 3))
        report = evaluate_clip(np.clip(video.round(), 0, 255).astype(np.uint8), caption(spec, rng))
        assert report.passed, (spec, report.failures(), report)


def test_wrong_prompts_fail():
    red_circle = render(ClipSpec("red", "circle", "right", start_x=0.05), 33, 64)
    report = evaluate_clip(red_circle, "a blue square moves to the right")
    assert report.colour_ok is False and report.shape_ok is False and report.motion_ok is True
    assert report.colour_measured == "red" and report.shape_measured == "circle"
    assert abs(report.fill_ratio - np.pi / 4) < 0.05
    assert evaluate_clip(red_circle, "a red triangle moves right").shape_ok is False
    for wrong in ("left", "up", "down", "stays still", "bounces"):
        assert evaluate_clip(red_circle, f"a red circle {wrong}").motion_ok is False, wrong
    assert evaluate_clip(red_circle, "a red circle on a white background moves right").background_ok is False

    still = render(ClipSpec("green", "square", "still", "gray"), 33, 64)
    report = evaluate_clip(still, "a green square moves right on a gray background")
    assert (
        report.motion_ok is False and report.motion_at_end_ok is False and report.motion_measured == "still"
    )
    assert evaluate_clip(still, "a green square stays still on a gray background").passed

    bounce = render(ClipSpec("orange", "triangle", "bounces", angle_deg=45.0), 33, 64)
    assert evaluate_clip(bounce, "an orange triangle moves right").motion_ok is False


def test_a_straight_motion_with_sideways_drift_reads_as_its_direction_not_bounces():
    """A right-mover drifting down 4 px while it travels ~20 px (ratio ~0.2, within the directional rule's 0.5)
    reads "right"; the world's shallowest bounce (35 degrees, ratio 0.7) still reads "bounces"."""
    right = render(ClipSpec("red", "circle", "right", start_x=0.05, start_y=0.4), 33, 64)
    drift = np.stack([np.roll(frame, f // 4, axis=0) for f, frame in enumerate(right)])  # 1 px every 4 frames
    report = evaluate_clip(drift, "a red circle moves right")
    assert report.first_second_span[1] >= 0.04 * 64 and report.motion_measured == "right", report
    assert evaluate_clip(drift, "a red circle bounces around").motion_ok is False
    shallow = render(ClipSpec("red", "circle", "bounces", angle_deg=35.0), 33, 64)
    assert evaluate_clip(shallow, "a red circle bounces around").motion_measured == "bounces"


def test_long_clip_failures_are_caught():
    spec = ClipSpec("purple", "square", "down", "white", start_y=0.0)
    video = render(spec, 81, 64)
    prompt = "a purple square moves down on a white background"
    assert evaluate_clip(video, prompt).passed

    two = video.copy()
    two[40:, 2:8, 50:58] = PALETTE["purple"]  # a second object appears
    report = evaluate_clip(two, prompt)
    assert report.one_object_ok is False and report.objects_per_frame == (1, 2)

    vanished = video.copy()
    vanished[60:] = BACKGROUNDS["white"]  # the object disappears
    report = evaluate_clip(vanished, prompt)
    assert report.one_object_ok is False and report.objects_per_frame[0] == 0
    assert report.area_stable_ok is False and report.motion_at_end_ok is False

    stopped = np.concatenate([video[:50], np.repeat(video[49:50], 31, axis=0)])  # stops after 3 s
    report = evaluate_clip(stopped, prompt)
    assert report.motion_ok is True and report.motion_at_end_ok is False

    shrunk = video.copy()
    shrunk[50:] = render(ClipSpec("purple", "square", "down", "white", size="small", scale=0.5), 31, 64)
    assert evaluate_clip(shrunk, prompt).area_stable_ok is False

    recoloured = video.copy()
    mask = (video[50:] == PALETTE["purple"]).all(-1)
    recoloured[50:][mask] = PALETTE["blue"]
    report = evaluate_clip(recoloured, prompt)
    assert report.colour_stable_ok is False


def test_evaluator_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        evaluate_clip(np.zeros((4, 64, 64), np.uint8), "a red circle")
    with pytest.raises(ValueError, match="uint8"):
        evaluate_clip(np.zeros((4, 64, 64, 3), np.float32), "a red circle")
    assert EvalThresholds().first_second_frames == 17


# -- text stack ------------------------------------------------------------------------------------------------


def test_tokenizer_covers_every_caption_word():
    from sanavideo.data.shapes_text import build_tokenizer

    tok = build_tokenizer()
    unk = tok.unk_token_id
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id, unk) == (0, 1, 2, 3)
    for word in caption_vocabulary():
        assert tok.convert_tokens_to_ids(word) != unk, word
    rng = np.random.default_rng(9)
    for _ in range(500):
        text = caption(sample_spec(rng), rng)
        ids = tok(text).input_ids
        assert ids[0] == tok.bos_token_id and unk not in ids, (text, tok.convert_ids_to_tokens(ids))
    assert tok("A Xylophone").input_ids == [tok.bos_token_id, tok.convert_tokens_to_ids("a"), unk]


def test_text_stack_saves_and_loads_offline(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sanavideo.data.shapes_text import build_text_encoder, save_text_stack

    save_text_stack(tmp_path, seed=3, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    enc = AutoModel.from_pretrained(tmp_path)
    assert type(enc).__name__ == "Gemma2Model" and enc.config.hidden_size == 64
    batch = tok(
        ["a red circle moves left", "quickly, a big blue square bounces motion score: 20."],
        padding="max_length",
        max_length=16,
        truncation=True,
        return_tensors="pt",
    )
    assert tok.padding_side == "right" and batch.attention_mask[0, -1] == 0
    with torch.no_grad():
        hidden = enc(batch.input_ids, attention_mask=batch.attention_mask)[0]
    assert hidden.shape == (2, 16, 64) and torch.isfinite(hidden).all()
    fresh = build_text_encoder(seed=3, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128)
    for (name, a), b in zip(fresh.state_dict().items(), enc.state_dict().values()):
        assert torch.equal(a, b), name  # seeded: the same weights
