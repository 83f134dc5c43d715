"""Pipeline options and arguments that must reach the work: a test per line that a mutation must break."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.pipeline import SanaVideoPipeline
from sanavideo.sampling.streaming import shifted_timesteps

FAST = dict(
    frames=5,
    height=32,
    width=32,
    num_inference_steps=2,
    use_resolution_binning=False,
    output_type="np",
    progress=False,
)


@pytest.fixture
def pipe(tiny_folders):  # noqa: F811
    p = SanaVideoPipeline.from_pretrained(tiny_folders["euler"])
    p.options = dataclasses.replace(p.options, negative_prompt="blurry", motion_score=7)
    return p


def _spy_encode(monkeypatch, pipe):
    calls = []
    real = pipe.encode_prompt

    def spy(prompts=None, negative_prompts=None, motion_score=None):
        calls.append({"prompts": prompts, "negative": negative_prompts, "motion_score": motion_score})
        return real(prompts, negative_prompts, motion_score)

    monkeypatch.setattr(pipe, "encode_prompt", spy)
    return calls


def test_call_uses_the_models_negative_prompt_and_motion_score(pipe, monkeypatch):
    calls = _spy_encode(monkeypatch, pipe)
    pipe("a red circle", guidance_scale=3.0, generator=torch.Generator().manual_seed(0), **FAST)
    assert any(c["negative"] == ["blurry"] for c in calls)
    assert any(c["prompts"] == ["a red circle"] and c["motion_score"] == 7 for c in calls)


def test_latents_replace_the_initial_noise(pipe):
    shape = (1, *pipe.check_size(32, 32, 5, use_resolution_binning=False).latent_shape)
    a = pipe("a red circle", latents=torch.zeros(shape), **FAST).frames
    b = pipe("a red circle", latents=torch.ones(shape), **FAST).frames
    c = pipe("a red circle", latents=torch.ones(shape), **FAST).frames
    assert np.abs(a - b).max() > 1e-3 and np.array_equal(b, c)


def test_stream_takes_window_fresh_noise_and_the_flow_shift_from_the_model(pipe, monkeypatch):
    import sanavideo.pipeline as module

    seen = {}

    def spy(transformer, shape, schedule, settings, generator, **kwargs):
        seen["settings"] = settings
        return iter(())

    monkeypatch.setattr(module, "stream_latents", spy)
    pipe.options = dataclasses.replace(
        pipe.options, stream_window=3, stream_fresh_noise=False, stream_steps=5
    )
    list(pipe.stream("a red circle", frames=9, height=32, width=32))
    settings = seen["settings"]
    assert settings.window == 3 and settings.fresh_noise is False
    shift = pipe.sampler.flow_shift
    assert shift != 1.0
    assert list(settings.timesteps) == pytest.approx(list(shifted_timesteps(5, shift)))
    assert list(settings.timesteps) != pytest.approx(list(shifted_timesteps(5, 1.0)))


def test_cli_passes_the_negative_prompt(tiny_folders, tmp_path, monkeypatch):  # noqa: F811
    from sanavideo.cli import main

    seen = {}
    real = SanaVideoPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SanaVideoPipeline, "__call__", spy)
    out = tmp_path / "v.mp4"
    assert (
        main(
            [
                "generate",
                "a red circle",
                "--negative-prompt",
                "ugly",
                "-o",
                str(out),
                "--model",
                str(tiny_folders["euler"]),
                "--frames",
                "5",
                "--height",
                "32",
                "--width",
                "32",
                "--steps",
                "1",
            ]
        )
        == 0
    )
    assert seen["negative_prompt"] == "ugly"
