"""The two samplers speak one vocabulary: a `FlowSchedule` grid, a solver `step`, a per-step `callback(step, t,
x0)`; the streaming chunk loop (`denoise_chunk`) runs with gradients for self-forcing training."""

from __future__ import annotations

import pytest
import torch

from sanavideo.config import get_preset
from sanavideo.model import SanaVideoTransformer
from sanavideo.sampling import (
    FlowEulerSolver,
    FlowRenoiseSolver,
    SamplerConfig,
    TextCondition,
    denoise,
    renoise_schedule,
    shifted_timesteps,
)
from sanavideo.sampling.streaming import PromptSchedule, StreamSettings, denoise_chunk, stream_latents

CFG = get_preset("tiny")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SanaVideoTransformer(CFG).eval()


def condition(seed: int = 0) -> TextCondition:
    g = torch.Generator().manual_seed(seed)
    return TextCondition(torch.randn(1, 5, CFG.caption_channels, generator=g), torch.ones(1, 5))


def test_renoise_schedule_is_a_flow_schedule():
    schedule = renoise_schedule()
    assert schedule.timesteps.tolist() == [1000.0, 960.0, 889.0, 727.0]
    assert schedule.sigmas.tolist() == [1.0, 0.96, 0.889, 0.727, 0.0]
    assert renoise_schedule(shifted_timesteps(4, 8.0)).timesteps.tolist() == pytest.approx(
        [1000.0, 960.0, 888.9, 727.3], abs=0.05
    )
    with pytest.raises(ValueError, match="decrease"):
        renoise_schedule((500.0, 900.0))


def test_renoising_with_the_implied_noise_is_the_euler_step():
    g = torch.Generator().manual_seed(0)
    x, v = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    schedule = renoise_schedule((1000.0, 800.0, 500.0, 200.0))
    euler, renoise = FlowEulerSolver(schedule), FlowRenoiseSolver(schedule)
    for i in range(schedule.num_steps):
        torch.testing.assert_close(renoise.step(x, v, i), euler.step(x, v, i), rtol=1e-5, atol=1e-5)


def test_denoise_chunk_carries_gradients_to_the_model(model):
    cache = model.new_cache()
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    image = torch.randn(1, 4, 1, 4, 4)  # image-to-video pins frame 0 in place, which autograd must allow
    x0 = denoise_chunk(
        model, noise, renoise_schedule((1000.0, 500.0)), condition(), cache=cache, first_frame=image
    )
    x0.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_denoise_calls_back_each_step_without_changing_the_result(model):
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    seen = []
    with torch.no_grad():
        plain = denoise(model, noise, SamplerConfig("euler", 3.0), 3, condition(), progress=False)
        watched = denoise(
            model,
            noise,
            SamplerConfig("euler", 3.0),
            3,
            condition(),
            progress=False,
            callback=lambda i, t, x0: seen.append((i, t, x0.clone())),
        )
    assert torch.equal(plain, watched)
    assert [i for i, _, _ in seen] == [0, 1, 2] and seen[0][1] > seen[2][1]
    torch.testing.assert_close(seen[-1][2], plain)  # the last Euler step lands on its x0 prediction


def test_stream_calls_back_each_step_of_each_chunk(model):
    settings = StreamSettings(chunk_frames=2, timesteps=(1000.0, 600.0, 300.0), fresh_noise=True)
    seen = []

    def run(callback=None):
        chunks = stream_latents(
            model,
            (1, 4, 4, 4, 4),
            PromptSchedule([(0, condition())]),
            settings,
            torch.Generator().manual_seed(3),
            callback=callback,
        )
        return [c.latents for c in chunks]

    plain = run()
    watched = run(lambda i, t, x0: seen.append((i, t)))
    assert all(torch.equal(a, b) for a, b in zip(plain, watched, strict=True))
    assert seen == [(0, 1000.0), (1, 600.0), (2, 300.0)] * 2
