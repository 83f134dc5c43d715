"""The embedded recipe's data steps: clips rendered in parallel equal the serial ones, and the latent cache it
writes is the one `sanavideo precompute` writes (loadable, one item per clip, latents = the VAE's encoding)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sanavideo.adapters.vae import load_vae
from sanavideo.data.latents import load_cache
from sanavideo.data.shapes import parse_prompt, render, render_many, sample_spec, sample_switch
from sanavideo.data.shapes_text import build_tokenizer
from sanavideo.train.embedded import CONTINUATION_MAX_SKIP, EmbeddedRecipe, build_latent_cache, history_chunk
from sanavideo.train.vae import build_vae, latent_stats, render_pool, save_vae, to_model_input


def test_parallel_rendering_equals_serial():
    rng = np.random.default_rng(4)
    specs = [sample_spec(rng) for _ in range(300)]
    parallel = render_many(specs, 5, 16, workers=2)
    assert np.array_equal(parallel, np.stack([render(s, 5, 16) for s in specs]))


def recipe_cache(tmp_path, clips: int, switch_clips: int = 0) -> tuple[EmbeddedRecipe, Path, Path]:
    """A test-sized VAE and the world's tokenizer in tmp_path, and the recipe's cache of `clips` plain clips, two
    continuations and `switch_clips` switches (one latent frame of history) built with them: (recipe, vae folder,
    cache folder)."""
    vae_dir = tmp_path / "vae"
    vae_dir.mkdir()
    pool = torch.from_numpy(render_pool(2, 9, 64, seed=0))
    vae = build_vae("test").eval()
    save_vae(vae, vae_dir, *latent_stats(vae, pool, torch.device("cpu"), batch=2, frames=9))
    build_tokenizer(model_max_length=16).save_pretrained(str(tmp_path / "text" / "tokenizer"))
    recipe = EmbeddedRecipe(
        out=str(tmp_path / "run"),
        device="cpu",
        clips=clips,
        continuation_clips=2,
        switch_clips=switch_clips,
        context_frames=1,
        frames=9,
        max_text_length=16,
    )
    return recipe, vae_dir, build_latent_cache(recipe, vae_dir, tmp_path / "text", log=lambda _: None)


def test_latent_cache_of_the_recipe(tmp_path, one_thread):
    recipe, vae_dir, cache = recipe_cache(tmp_path, clips=3, switch_clips=2)
    data = load_cache(cache)
    assert len(data) == 7 and data.text_len == 16 and data.has("input_ids")
    # plain clips first, with no history; then the continuations and the switches, each with its first latent
    # frame as history
    assert data.batch(list(range(7)), "cpu").context_frames.tolist() == [0, 0, 0, 1, 1, 1, 1]
    index = json.loads((cache / "index.json").read_text())
    index["items"][4]["context_frames"] = 3  # as many as the clip's 3 latent frames: nothing left to learn
    (cache / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"items/000004.safetensors: context_frames 3 must be in \[0, 3\)"):
        load_cache(cache)
    # the first clip is the recipe's first spec (seed + 1), encoded by the saved VAE
    spec = sample_spec(np.random.default_rng(recipe.seed + 1))
    expected = load_vae(vae_dir).encode(to_model_input(render(spec, 9, 64)[None], torch.device("cpu")))
    torch.testing.assert_close(data.batch([0], "cpu").latents, expected.float(), atol=1e-5, rtol=1e-5)
    # a continuation starts skip_frames into its trajectory (the recipe's rng for continuations: seed + 2)
    cont_rng = np.random.default_rng(recipe.seed + 2)
    skip = int(cont_rng.integers(1, CONTINUATION_MAX_SKIP + 1))
    cont = replace(sample_spec(cont_rng), skip_frames=skip)
    expected = load_vae(vae_dir).encode(to_model_input(render(cont, 9, 64)[None], torch.device("cpu")))
    torch.testing.assert_close(data.batch([3], "cpu").latents, expected.float(), atol=1e-5, rtol=1e-5)
    # a switch: a continuation's first pixel frame (one latent frame), then another motion (rng: seed + 3)
    switch_rng = np.random.default_rng(recipe.seed + 3)
    skip = int(switch_rng.integers(0, CONTINUATION_MAX_SKIP + 1))
    switch = sample_switch(replace(sample_spec(switch_rng), skip_frames=skip), 1, switch_rng)
    expected = load_vae(vae_dir).encode(to_model_input(render(switch, 9, 64)[None], torch.device("cpu")))
    torch.testing.assert_close(data.batch([5], "cpu").latents, expected.float(), atol=1e-5, rtol=1e-5)
    index = json.loads((cache / "index.json").read_text())
    assert parse_prompt(index["items"][5]["caption"]).motion == switch.motion  # captioned with the new motion
    assert Path(cache / "empty_prompt.safetensors").is_file()


def test_continuation_history_reaches_the_objective(tmp_path, one_thread, monkeypatch):
    """Training on the recipe's cache hands each clip's context_frames to add_noise (its history held clean)."""
    import sanavideo.train.loop as loop
    from sanavideo.data.shapes_text import build_text_encoder
    from sanavideo.train import TrainArgs, train

    _, _, cache = recipe_cache(tmp_path, clips=2)
    text_dir = tmp_path / "text"
    build_text_encoder(
        0, hidden_size=24, num_layers=1, num_heads=2, intermediate_size=32, vocab_size=len(build_tokenizer())
    ).save_pretrained(str(text_dir / "text_encoder"))
    seen = []
    real = loop.add_noise

    def spy(x0, rnd, chunks, args, **kwargs):
        seen.append(kwargs["context_frames"].tolist())
        return real(x0, rnd, chunks, args, **kwargs)

    monkeypatch.setattr(loop, "add_noise", spy)
    run = TrainArgs.from_dict(
        {
            "output_dir": str(tmp_path / "dit"),
            "max_steps": 1,
            "export": False,
            "device": "cpu",
            "model": {"preset": "tiny"},
            "text_encoder": {"trainable": True, "path": str(text_dir)},
            "data": {"cache_dir": str(cache), "batch_size": 4, "max_text_length": 16},
            "objective": {"chunk_frames": 1},
        }
    )
    assert train(run).steps == 1
    assert sorted(seen[0]) == [0, 0, 1, 1]


def test_history_is_one_chunk_of_the_training_config():
    """Continuation and switch clips give one streamed chunk of history: the config's chunk_frames by default."""
    assert history_chunk(EmbeddedRecipe()) == 3  # embedded-shapes.yaml
    assert history_chunk(EmbeddedRecipe(overrides=["objective.chunk_frames=2"])) == 2
    with pytest.raises(
        ValueError, match=r"integer objective.chunk_frames .* got \[2, 3\]; or set context_frames"
    ):
        history_chunk(EmbeddedRecipe(overrides=["objective.chunk_frames=[2, 3]"]))


def test_warm_started_vae_keeps_the_latent_space_it_continues():
    """`--vae-init V`: the VAE stage fits its latent statistics to V's (`--latents-like V`), at the warm-start learning
    rate, so the transformer that `--init-from` brings (trained on V's latents) still reads them; from scratch there
    is no reference. Both weigh the ring around the object like the object (the shipped VAE's loss: no colour
    bleed)."""
    from sanavideo.train.embedded import vae_args

    warm = vae_args(EmbeddedRecipe(out="runs/x", vae_init="checkpoints/shapes-vae"))
    assert warm.init == warm.latents_like == "checkpoints/shapes-vae" and not warm.decoder_only
    cold = vae_args(EmbeddedRecipe(out="runs/x"))
    assert cold.init is None and cold.latents_like is None
    assert warm.lr < cold.lr
    for args in (warm, cold):
        assert args.out == "runs/x/vae" and args.ring_weight == args.foreground_weight > 0
