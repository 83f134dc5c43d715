"""`sanavideo eval shapes` runs end to end on a tiny random model and scores ground truth correctly."""

from __future__ import annotations

import json
import shutil
import types

import numpy as np
import pytest
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.cli import main
from sanavideo.data.shapes import HELD_OUT, parse_prompt, render
from sanavideo.eval.run import EvalRequest, eval_prompts, eval_specs, evaluate_model, format_table


def test_eval_prompts_are_deterministic_and_hold_out_the_held_out_triples():
    a, b = eval_prompts(6, seed=1), eval_prompts(6, seed=1)
    assert a == b and len(a["seen"]) == len(a["held_out"]) == 6
    held = {(p.colour, p.shape, p.motion) for p in map(parse_prompt, a["held_out"])}
    assert held <= set(HELD_OUT)
    assert not {(p.colour, p.shape, p.motion) for p in map(parse_prompt, a["seen"])} & set(HELD_OUT)


class GroundTruth:
    """A stand-in pipeline that renders the prompt exactly: every check must pass."""

    def __call__(self, prompt, frames, generator, output_type, progress):
        from types import SimpleNamespace

        from sanavideo.data.shapes import ClipSpec

        spec = parse_prompt(prompt)
        clip = render(
            ClipSpec(
                spec.colour,
                spec.shape,
                spec.motion,
                background=spec.background,
                start_x=0.1 if spec.motion == "right" else 0.9 if spec.motion == "left" else 0.5,
                start_y=0.1 if spec.motion == "down" else 0.9 if spec.motion == "up" else 0.5,
            ),
            frames,
            64,
        )
        return SimpleNamespace(frames=clip[None].astype(np.float32) / 255)


def test_ground_truth_passes_every_check():
    result = evaluate_model(GroundTruth(), EvalRequest(n=4, frames=33), log=lambda _: None)
    for split in ("seen", "held_out"):
        assert result["splits"][split]["rates"]["all"] == 1.0, result["splits"][split]["clips"]
    assert "| all | 1.00 | 1.00 |" in format_table(result)


class GroundTruthFromImage:
    """A stand-in pipeline for image-to-video: it is handed each clip's rendered first frame and renders the rest."""

    options = type("Options", (), {"height": 64})()

    def __init__(self, request):
        self.specs = {p: s for pairs in eval_specs(request.n, request.seed).values() for p, s in pairs}

    def __call__(self, prompt, frames, generator, output_type, progress, image):
        clip = render(self.specs[prompt], frames, 64)
        assert np.array_equal(image, clip[0])  # the condition is the clip's own first frame
        return types.SimpleNamespace(frames=clip[None].astype(np.float32) / 255)


def test_image_to_video_mode_conditions_on_each_clips_first_frame():
    request = EvalRequest(n=4, frames=33, mode="i2v")
    result = evaluate_model(GroundTruthFromImage(request), request, log=lambda _: None)
    for split in ("seen", "held_out"):
        assert result["splits"][split]["rates"]["all"] == 1.0, result["splits"][split]["clips"]


def small_model(tiny_folders, tmp_path):
    """The tiny random model folder, set to sample 5 frames of 32x32 in 2 steps without guidance."""
    model = tmp_path / "model"
    shutil.copytree(tiny_folders["euler"], model)
    (model / "sanavideo.json").write_text(
        json.dumps(
            {
                "options": {
                    "height": 32,
                    "width": 32,
                    "frames": 5,
                    "num_inference_steps": 2,
                    "guidance_scale": 1.0,
                }
            }
        )
    )
    return model


def test_eval_cli_on_a_tiny_model(tiny_folders, tmp_path):
    model = small_model(tiny_folders, tmp_path)
    out = tmp_path / "eval.json"
    sheet = tmp_path / "sheet.png"
    assert (
        main(
            [
                "eval",
                "shapes",
                "--model",
                str(model),
                "--n",
                "1",
                "--frames",
                "5",
                "-o",
                str(out),
                "--sheet",
                str(sheet),
            ]
        )
        == 0
    )
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(out.read_text())
    assert set(data["splits"]) == {"seen", "held_out"} and len(data["splits"]["seen"]["clips"]) == 1
    assert main(["eval", "shapes", "--model", str(model), "--frames", "6", "-o", str(out)]) == 2  # not 4k+1


def test_eval_cli_loads_the_model_in_the_generate_dtype(tiny_folders, tmp_path, monkeypatch):
    """No --dtype: bfloat16 where it is native (as `sanavideo generate`), recorded in the JSON; --dtype overrides."""
    import torch

    from sanavideo import device
    from sanavideo.pipeline import SanaVideoPipeline

    loaded = []
    original = SanaVideoPipeline.from_pretrained.__func__

    def recording(cls, *args, dtype=None, **kwargs):
        pipe = original(cls, *args, dtype=dtype, **kwargs)
        loaded.append(next(pipe.transformer.parameters()).dtype)
        return pipe

    monkeypatch.setattr(SanaVideoPipeline, "from_pretrained", classmethod(recording))
    monkeypatch.setattr(device, "native_bf16", lambda _device: True)
    out = tmp_path / "eval.json"
    model = small_model(tiny_folders, tmp_path)
    base = ["eval", "shapes", "--model", str(model), "--n", "1", "--frames", "5", "-o", str(out)]
    for extra, name in (([], "bfloat16"), (["--dtype", "float32"], "float32")):
        assert main([*base, *extra]) == 0
        assert json.loads(out.read_text())["dtype"] == name
    assert loaded == [torch.bfloat16, torch.float32]


class StreamGroundTruth:
    """A stand-in streaming pipeline that renders its timeline exactly (follow=True: at a switch the object goes
    on from where it is in the new direction) or ignores switches (follow=False)."""

    options = types.SimpleNamespace(stream_chunk_frames=3)
    vae = types.SimpleNamespace(temporal_stride=4)

    def __init__(self, follow: bool) -> None:
        self.follow = follow

    @staticmethod
    def spec(prompt, start=None):
        from sanavideo.data.shapes import ClipSpec

        p = parse_prompt(prompt)
        if start is None:  # start near the wall the object moves away from
            start = (
                0.1 if p.motion == "right" else 0.9 if p.motion == "left" else 0.5,
                0.1 if p.motion == "down" else 0.9 if p.motion == "up" else 0.5,
            )
        return ClipSpec(
            p.colour, p.shape, p.motion, background=p.background, start_x=start[0], start_y=start[1]
        )

    def stream(self, prompt, frames, generator):
        from sanavideo.data.shapes import trajectory

        timeline = [(0, prompt)] if isinstance(prompt, str) else list(prompt)
        a = self.spec(timeline[0][1])
        clip = render(a, frames, 64)
        if len(timeline) > 1 and self.follow:
            switch, prompt_b = timeline[1]
            free = 64 - a.object_size(64)
            x, y = trajectory(a, switch, 64)[switch - 1] / free  # where the object is, as start fractions
            b = self.spec(prompt_b, start=(x, y))
            clip = np.concatenate([clip[:switch], render(b, frames - switch + 1, 64)[1:]])
        yield from np.split(clip, [9])  # two pieces, as chunks arrive


def test_switch_mode_reads_the_motion_one_chunk_after_the_switch():
    from sanavideo.eval.switch import roomiest_direction, switch_layout

    assert switch_layout(3, 4) == (21, 12, 45)  # 9 + 12 frames of A; B read over [33, 42)
    assert roomiest_direction((10.0, 40.0), 64, exclude="left") == "right"
    assert roomiest_direction((60.0, 40.0), 64, exclude="left") == "up"
    request = EvalRequest(n=3, mode="switch")
    follows = evaluate_model(StreamGroundTruth(follow=True), request, log=lambda _: None)
    for split in ("seen", "held_out"):
        assert follows["splits"][split]["rates"]["all"] == 1.0, follows["splits"][split]["clips"]
    assert follows["switch"] == {"frames": 45, "switch_frame": 21, "chunk_frames": 12}
    assert "| after_ok |" in format_table(follows)
    ignores = evaluate_model(StreamGroundTruth(follow=False), request, log=lambda _: None)
    for split in ("seen", "held_out"):
        rates = ignores["splits"][split]["rates"]
        assert rates["before_ok"] == 1.0 and rates["after_ok"] == 0.0, ignores["splits"][split]["clips"]


class FadingStream(StreamGroundTruth):
    """Streams its prompt exactly, except that the clip of seed 1 loses the object after its first second."""

    def __init__(self) -> None:
        super().__init__(follow=False)
        self.seeds: list[int] = []

    def stream(self, prompt, frames, generator):
        seed = generator.initial_seed()
        self.seeds.append(seed)
        clip = np.concatenate(list(super().stream(prompt, frames, generator)))
        if seed == 1:
            clip[16:] = clip[16:, :1, :1]  # every pixel after the first second takes the background's colour
        yield clip


def test_long_clips_average_their_measures_and_show_where_the_object_is_lost():
    from sanavideo.data.shapes import FPS

    stream = FadingStream()
    request = EvalRequest(n=2, frames=33, mode="stream", long_frames=4 * FPS + 1, long_clips=2)
    result = evaluate_model(stream, request, log=lambda _: None)
    assert stream.seeds == [0, 1, 0, 1] * 2  # per split: the two clips, then the two long clips (seed + i)
    for split in ("seen", "held_out"):
        long = result["splits"][split]["rates"]["long_clip"]
        assert [c["one_object_per_second"] for c in long["clips"]] == [[1.0] * 4, [1.0, 0.0, 0.0, 0.0]]
        assert long["one_object_fraction"] == (1.0 + 16 / 65) / 2 and long["one_object_ok"] == 0.5
        assert (
            long["frames"] == 65
            and long["clips"][1]["prompt"] == result["splits"][split]["clips"][1]["prompt"]
        )
    with pytest.raises(ValueError, match=r"long_clips must be in \[1, n = 2\], got 3"):
        EvalRequest(n=2, long_frames=65, long_clips=3)
