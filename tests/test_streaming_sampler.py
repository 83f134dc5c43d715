"""LongSANA streaming sampler and streaming VAE decode against non-streaming references."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKLWan

import sanavideo.model.cache as cache_module
from sanavideo.adapters.stream_decode import WanStreamDecoder
from sanavideo.adapters.vae import WanVAE
from sanavideo.config import get_preset
from sanavideo.model import SanaVideoTransformer, chunk_layout
from sanavideo.sampling.loop import TextCondition, draw_noise
from sanavideo.sampling.streaming import (
    PromptSchedule,
    StreamSettings,
    latent_frame_of,
    shifted_timesteps,
    stream_latents,
)

CFG = get_preset("tiny").replace(head_dim=12, cross_head_dim=12, caption_channels=16)
SHAPE = (1, 4, 7, 4, 4)


def rel_err(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def make_model() -> SanaVideoTransformer:
    torch.manual_seed(0)
    model = SanaVideoTransformer(CFG).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.mlp.t_conv.weight.normal_(std=0.1)
    return model


def condition(seed: int, batch: int = 1) -> TextCondition:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, 5)
    mask[:, 4:] = 0
    return TextCondition(torch.randn(batch, 5, CFG.caption_channels, generator=g), mask)


@torch.no_grad()
def reference_stream(model, shape, cond, settings, generator, first_frame=None):
    """The same algorithm without a cache: every step runs the block-causal model over the clean history
    plus the current chunk, with per-frame timesteps (0 for the history)."""
    B, C, F, H, W = shape
    layout = chunk_layout(F, settings.chunk_frames)
    sigmas = [t / 1000 for t in settings.timesteps] + [0.0]
    done, start = [], 0
    for c, size in enumerate(layout):
        x = draw_noise((B, C, size, H, W), generator)
        for i, t in enumerate(settings.timesteps):
            if first_frame is not None and c == 0:
                x[:, :, :1] = first_frame
            seq = torch.cat(done + [x], dim=2)
            ts = torch.cat([torch.zeros(B, start), torch.full((B, size), float(t))], dim=1)
            if first_frame is not None:
                ts[:, 0] = 0
            v = model(seq, ts, cond.embeds, cond.mask, chunk_frames=layout[: c + 1])[:, :, start:]
            x0 = x - sigmas[i] * v
            if first_frame is not None and c == 0:
                x0[:, :, :1] = first_frame
            if i + 1 < len(settings.timesteps):
                x = (1 - sigmas[i + 1]) * x0 + sigmas[i + 1] * draw_noise(x0.shape, generator)
        done.append(x0)
        start += size
    return torch.cat(done, dim=2)


def run_stream(model, settings, prompts, seed=3, first_frame=None, shape=SHAPE):
    chunks = list(
        stream_latents(
            model, shape, prompts, settings, torch.Generator().manual_seed(seed), first_frame=first_frame
        )
    )
    return chunks, torch.cat([c.latents for c in chunks], dim=2)


def test_shifted_timesteps_match_upstream_list():
    assert [round(t) for t in shifted_timesteps(4, 8.0)] == [1000, 960, 889, 727]


@pytest.mark.parametrize("chunk_frames", [2, 3, 7])
def test_stream_equals_block_causal_reference(chunk_frames):
    model = make_model()
    cond = condition(1)
    settings = StreamSettings(chunk_frames=chunk_frames)
    chunks, streamed = run_stream(model, settings, PromptSchedule([(0, cond)]))
    expected = reference_stream(model, SHAPE, cond, settings, torch.Generator().manual_seed(3))
    assert [c.latents.shape[2] for c in chunks] == chunk_layout(SHAPE[2], chunk_frames)
    assert rel_err(streamed, expected) < 1e-5


def test_stream_image_to_video_keeps_first_frame():
    model = make_model()
    cond = condition(1)
    first = torch.randn(1, 4, 1, 4, 4)
    settings = StreamSettings(chunk_frames=3)
    _, streamed = run_stream(model, settings, PromptSchedule([(0, cond)]), first_frame=first)
    expected = reference_stream(
        model, SHAPE, cond, settings, torch.Generator().manual_seed(3), first_frame=first
    )
    assert torch.equal(streamed[:, :, :1], first)
    assert rel_err(streamed, expected) < 1e-5


def test_stream_with_cfg_runs_and_differs():
    model = make_model()
    prompts = PromptSchedule([(0, condition(1))], negative=condition(9))
    _, plain = run_stream(model, StreamSettings(chunk_frames=3), prompts)
    _, guided = run_stream(model, StreamSettings(chunk_frames=3, guidance_scale=3.0), prompts)
    assert torch.isfinite(guided).all() and rel_err(guided, plain) > 1e-3
    with pytest.raises(ValueError, match="needs a negative prompt"):
        next(
            stream_latents(
                model, SHAPE, PromptSchedule([(0, condition(1))]), StreamSettings(guidance_scale=2.0)
            )
        )


def test_prompt_switch_changes_nothing_before_and_recaches_one_chunk(monkeypatch):
    model = make_model()
    a, b = condition(1), condition(2)
    settings = StreamSettings(chunk_frames=2)  # layout [3, 2, 2]
    rewinds = []
    original_rewind = cache_module.StreamingCache.rewind

    def counting_rewind(self):
        rewinds.append(self.next_frame)
        original_rewind(self)

    monkeypatch.setattr(cache_module.StreamingCache, "rewind", counting_rewind)
    base_chunks, base = run_stream(model, settings, PromptSchedule([(0, a)]))
    assert rewinds == []
    switch_chunks, switched = run_stream(model, settings, PromptSchedule([(0, a), (5, b)]))
    assert rewinds == [5]  # exactly one chunk (frames 3..4) was dropped and re-cached
    assert [c.recached for c in switch_chunks] == [False, False, True]
    assert torch.equal(switched[:, :, :5], base[:, :, :5])
    assert rel_err(switched[:, :, 5:], base[:, :, 5:]) > 1e-3


def test_prompt_switch_recache_matches_manual_reference():
    """After a switch the history of chunk 1 is rebuilt with prompt b: chunk 2 must equal a stream where
    chunk 1's clean pass used prompt b from the start (same noise and same chunk-1 latents)."""
    model = make_model()
    a, b = condition(1), condition(2)
    settings = StreamSettings(chunk_frames=2)
    _, switched = run_stream(model, settings, PromptSchedule([(0, a), (5, b)]))
    with torch.no_grad():
        cache = model.new_cache()
        model(switched[:, :, :3], torch.zeros(1), a.embeds, a.mask, cache=cache)
        cache.advance()
        model(switched[:, :, 3:5], torch.zeros(1), b.embeds, b.mask, cache=cache)
        cache.advance()
        g = torch.Generator().manual_seed(3)
        for shape in (
            [(1, 4, 3, 4, 4)] + [(1, 4, 3, 4, 4)] * 3 + [(1, 4, 2, 4, 4)] * 4
        ):  # skip chunks 0-1 noise
            draw_noise(shape, g)
        x = draw_noise((1, 4, 2, 4, 4), g)
        sig = [t / 1000 for t in settings.timesteps] + [0]
        for i, t in enumerate(settings.timesteps):
            v = model(x, torch.full((1,), float(t)), b.embeds, b.mask, cache=cache)
            x0 = x - sig[i] * v
            if i + 1 < len(settings.timesteps):
                x = (1 - sig[i + 1]) * x0 + sig[i + 1] * draw_noise(x0.shape, g)
    assert rel_err(switched[:, :, 5:], x0) < 1e-5


def test_window_limits_history():
    model = make_model()
    cond = condition(1)
    shape = (1, 4, 8, 4, 4)
    _, full = run_stream(model, StreamSettings(chunk_frames=2), PromptSchedule([(0, cond)]), shape=shape)
    _, windowed = run_stream(
        model, StreamSettings(chunk_frames=2, window=1), PromptSchedule([(0, cond)]), shape=shape
    )
    assert torch.equal(windowed[:, :, :4], full[:, :, :4])  # chunks 0 and 1 see at most one earlier chunk
    assert rel_err(windowed[:, :, 4:], full[:, :, 4:]) > 1e-4


def test_latent_frame_of_video_frames():
    assert [latent_frame_of(f, 4) for f in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_settings_validation():
    with pytest.raises(ValueError, match="decrease"):
        StreamSettings(timesteps=(500.0, 900.0))
    with pytest.raises(ValueError, match="chunk_frames"):
        StreamSettings(chunk_frames=0)
    with pytest.raises(ValueError, match="start at frame 0"):
        PromptSchedule([(3, condition(1))])


def tiny_wan() -> WanVAE:
    torch.manual_seed(0)
    module = AutoencoderKLWan(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 2, 2, 2],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.1, -0.2, 0.0, 0.3],
        latents_std=[1.5, 0.8, 1.0, 2.0],
    )
    return WanVAE(module)


@pytest.mark.parametrize("layout", [[3, 2, 2], [1, 1, 1, 1, 1, 1, 1], [7]])
def test_stream_decode_equals_one_shot(layout):
    vae = tiny_wan()
    latents = torch.randn(1, 4, 7, 4, 4, generator=torch.Generator().manual_seed(0))
    whole = vae.decode(latents)
    decoder = WanStreamDecoder(vae)
    parts, start = [], 0
    for size in layout:
        parts.append(decoder.decode(latents[:, :, start : start + size]))
        start += size
    assert parts[0].shape[2] == 1 + 4 * (layout[0] - 1)  # the first frames come out after the first chunk
    streamed = torch.cat(parts, dim=2)
    assert streamed.shape == whole.shape == (1, 3, 25, 32, 32)
    assert (streamed - whole).abs().max().item() < 1e-4


def test_model_noise_renoising_is_a_flow_euler_solve():
    """With fresh_noise=False each chunk is solved by deterministic flow Euler, x <- x + (s_next - s) v."""
    model = make_model()
    cond = condition(1)
    settings = StreamSettings(chunk_frames=7, timesteps=(1000.0, 800.0, 500.0, 200.0), fresh_noise=False)
    _, streamed = run_stream(model, settings, PromptSchedule([(0, cond)]))
    g = torch.Generator().manual_seed(3)
    x = draw_noise(SHAPE, g)
    sig = [t / 1000 for t in settings.timesteps]
    with torch.no_grad():
        for i, s in enumerate(sig):
            v = model(x, torch.full((1,), s * 1000), cond.embeds, cond.mask)
            x = x + ((sig[i + 1] if i + 1 < len(sig) else 0.0) - s) * v
    assert rel_err(streamed, x) < 1e-5
