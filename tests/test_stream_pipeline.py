"""`SanaVideoPipeline.stream` and `sanavideo generate --stream` on a tiny random model folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.cli import main
from sanavideo.pipeline import SanaVideoPipeline
from sanavideo.sampling.streaming import PromptSchedule, StreamSettings, stream_latents
from sanavideo.timeline import build_timeline, parse_timeline_text
from sanavideo.video_io import read_video


@pytest.fixture(scope="module")
def pipe(tiny_folders):
    return SanaVideoPipeline.from_pretrained(tiny_folders["euler"])


def test_stream_yields_decoded_chunks_equal_to_one_shot_decode(pipe):
    chunks = list(
        pipe.stream(
            "a red circle moves to the right",
            frames=29,
            height=32,
            width=32,
            chunk_frames=2,
            generator=torch.Generator().manual_seed(0),
        )
    )
    # 29 frames = 8 latent frames -> chunks [2, 2, 2, 2]; the first gives 1 + 4 frames, the others 8
    assert [c.shape for c in chunks] == [(5, 32, 32, 3)] + [(8, 32, 32, 3)] * 3
    assert all(c.dtype == np.uint8 for c in chunks)
    # the same latents decoded at once give the same frames (up to uint8 rounding)
    cond, _ = pipe.encode_prompt(["a red circle moves to the right"])
    latents = torch.cat(
        [
            c.latents
            for c in stream_latents(
                pipe.transformer,
                (1, 4, 8, 4, 4),
                PromptSchedule([(0, cond)]),
                StreamSettings(chunk_frames=2),
                torch.Generator().manual_seed(0),
            )
        ],
        dim=2,
    )
    whole = (pipe.vae.decode(latents) * 127.5 + 127.5).clamp(0, 255).round()[0].permute(1, 2, 3, 0).numpy()
    streamed = np.concatenate(chunks).astype(np.float64)
    assert np.abs(streamed - whole).max() <= 1


def test_rollout_call_makes_the_stream_latents(pipe):
    """`__call__(rollout=True)` is the stream's chunk-by-chunk sampler with the request's steps and guidance."""
    prompt = "a red circle moves to the right"
    kwargs = dict(frames=29, height=32, width=32, chunk_frames=2, guidance_scale=2.0, num_inference_steps=3)
    out = pipe(
        prompt, rollout=True, output_type="latent", generator=torch.Generator().manual_seed(0), **kwargs
    )
    cond, uncond = pipe.encode_prompt([prompt], [""])
    settings = pipe.options.stream_settings(pipe.sampler.flow_shift, 2.0, 2, 3)
    assert settings.schedule.timesteps.numel() == 3 and settings.guidance_scale == 2.0
    chunks = stream_latents(
        pipe.transformer,
        (1, 4, 8, 4, 4),
        PromptSchedule([(0, cond)], uncond),
        settings,
        torch.Generator().manual_seed(0),
    )
    assert torch.equal(out.frames, torch.cat([c.latents for c in chunks], dim=2))
    # and not what the joint block-causal sampler makes from the same request
    joint = pipe(prompt, output_type="latent", generator=torch.Generator().manual_seed(0), **kwargs)
    assert joint.frames.shape == out.frames.shape and not torch.allclose(joint.frames, out.frames)


def test_rollout_refuses_what_it_cannot_honour(pipe):
    kwargs = dict(frames=29, height=32, width=32, rollout=True, output_type="latent")
    assert pipe.options.chunk_frames is None  # the tiny model samples with full attention by default
    with pytest.raises(ValueError, match="needs chunk_frames"):
        pipe("a red circle", **kwargs)
    with pytest.raises(ValueError, match="sampler='dpm' needs rollout=False"):
        pipe("a red circle", chunk_frames=2, sampler="dpm", **kwargs)
    with pytest.raises(ValueError, match="latents= needs rollout=False"):
        pipe("a red circle", chunk_frames=2, latents=torch.zeros(1, 4, 8, 4, 4), **kwargs)


def test_stream_prompt_switch_keeps_frames_before_it(pipe):
    kwargs = dict(frames=29, height=32, width=32, chunk_frames=2)
    base = np.concatenate(
        list(pipe.stream("a red circle", generator=torch.Generator().manual_seed(1), **kwargs))
    )
    switched = np.concatenate(
        list(
            pipe.stream(
                [(0, "a red circle"), (13, "a blue square")],
                generator=torch.Generator().manual_seed(1),
                **kwargs,
            )
        )
    )
    # frame 13 lies in latent frame 4 = the start of chunk 2 (video frames 13..20)
    assert np.array_equal(base[:13], switched[:13])
    assert not np.array_equal(base[13:], switched[13:])


def test_cli_stream_writes_incrementally(tiny_folders, tmp_path, capsys):
    out = tmp_path / "long.mp4"
    args = [
        "generate",
        "a red circle",
        "-o",
        str(out),
        "--model",
        str(tiny_folders["euler"]),
        "--stream",
        "--frames",
        "29",
        "--height",
        "32",
        "--width",
        "32",
        "--chunk-frames",
        "2",
        "--device",
        "cpu",
        "--switch",
        "13:a blue square",
    ]
    assert main(args) == 0
    frames, fps = read_video(out)
    assert frames.shape == (29, 32, 32, 3) and fps == pytest.approx(16)
    assert "generated frames/s" in capsys.readouterr().out


def test_cli_stream_bad_switch_writes_nothing(tiny_folders, tmp_path):
    out = tmp_path / "x.mp4"
    args = [
        "generate",
        "a red circle",
        "-o",
        str(out),
        "--model",
        str(tiny_folders["euler"]),
        "--stream",
        "--frames",
        "9",
        "--height",
        "32",
        "--width",
        "32",
        "--switch",
        "soon:a square",
    ]
    assert main(args) == 2
    assert not out.exists()
    assert (
        main(
            [
                "generate",
                "a red circle",
                "-o",
                str(out),
                "--model",
                str(tiny_folders["euler"]),
                "--switch",
                "5:b",
            ]
        )
        == 2
    )


def test_timeline_from_switches():
    assert build_timeline("a", ["40:c", "20:b"], 41) == [(0, "a"), (20, "b"), (40, "c")]
    with pytest.raises(ValueError, match="FRAME:PROMPT"):
        build_timeline("a", ["x"], 41)
    with pytest.raises(ValueError, match=">= 1"):
        build_timeline("a", ["0:b"], 41)
    with pytest.raises(ValueError, match="--switch at frame 41 is past the end of the 41-frame video"):
        build_timeline("a", ["41:b"], 41)
    with pytest.raises(ValueError, match="two prompts start at frame 20"):
        build_timeline("a", ["20:b", "20:c"], 41)


def test_timeline_from_text():
    text = "a red circle bounces\n\n 480: a red circle moves left \n"
    assert parse_timeline_text(text, 961) == [(0, "a red circle bounces"), (480, "a red circle moves left")]
    assert parse_timeline_text("0: a\n5: b", 9) == [(0, "a"), (5, "b")]
    with pytest.raises(ValueError, match="the timeline is empty"):
        parse_timeline_text(" \n ", 9)
    with pytest.raises(ValueError, match="a timeline line must look like FRAME:PROMPT"):
        parse_timeline_text("a\nlater: b", 9)
    with pytest.raises(ValueError, match="a timeline line at frame 9 is past the end of the 9-frame video"):
        parse_timeline_text("a\n9: b", 9)


def test_stream_checks_inputs_at_the_call(pipe):
    with pytest.raises(ValueError, match="4k\\+1"):
        pipe.stream("a red circle", frames=30, height=32, width=32)  # no iteration needed


def test_stream_needs_a_vae_that_decodes_chunk_by_chunk(pipe, monkeypatch):
    monkeypatch.setattr(pipe.vae, "stream_decoder", lambda: None)  # as the LTX-2 VAE answers
    with pytest.raises(ValueError, match="streaming needs a VAE that decodes chunk by chunk .* has WanVAE"):
        pipe.stream("a red circle", frames=9, height=32, width=32)


def test_stream_guidance_defaults_to_the_models_option():
    from sanavideo.options import PipelineOptions

    assert PipelineOptions().stream_settings(3.0).guidance_scale == 1.0  # upstream streams without guidance
    opts = PipelineOptions(stream_guidance_scale=3.0)
    assert opts.stream_settings(3.0).guidance_scale == 3.0
    assert opts.stream_settings(3.0, guidance_scale=1.0).guidance_scale == 1.0
    embedded = SanaVideoPipeline.from_pretrained().options
    assert embedded.stream_settings(3.0).guidance_scale == 3.0
