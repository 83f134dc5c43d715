"""The embedded recipe's data steps: clips rendered in parallel equal the serial ones, and the latent cache it
writes is the one `sanavideo precompute` writes (loadable, one item per clip, latents = the VAE's encoding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sanavideo.adapters.vae import load_vae
from sanavideo.data.latents import load_cache
from sanavideo.data.shapes import render, render_many, sample_spec
from sanavideo.data.shapes_text import build_tokenizer
from sanavideo.train.embedded import EmbeddedRecipe, build_latent_cache
from sanavideo.train.vae import build_vae, render_pool, save_vae, to_model_input


def test_parallel_rendering_equals_serial():
    rng = np.random.default_rng(4)
    specs = [sample_spec(rng) for _ in range(300)]
    parallel = render_many(specs, 5, 16, workers=2)
    assert np.array_equal(parallel, np.stack([render(s, 5, 16) for s in specs]))


def test_latent_cache_of_the_recipe(tmp_path, one_thread):
    vae_dir = tmp_path / "vae"
    vae_dir.mkdir()
    pool = torch.from_numpy(render_pool(2, 9, 64, seed=0))
    save_vae(build_vae("test"), vae_dir, pool, torch.device("cpu"), batch=2, frames=9)
    build_tokenizer(model_max_length=16).save_pretrained(str(tmp_path / "text" / "tokenizer"))
    recipe = EmbeddedRecipe(out=str(tmp_path / "run"), device="cpu", clips=3, frames=9, max_text_length=16)

    cache = build_latent_cache(recipe, vae_dir, tmp_path / "text", log=lambda _: None)
    data = load_cache(cache)
    assert len(data) == 3 and data.text_len == 16 and data.has("input_ids")
    # the first clip is the recipe's first spec (seed + 1), encoded by the saved VAE
    spec = sample_spec(np.random.default_rng(recipe.seed + 1))
    expected = load_vae(vae_dir).encode(to_model_input(render(spec, 9, 64)[None], torch.device("cpu")))
    torch.testing.assert_close(data.batch([0], "cpu").latents, expected.float(), atol=1e-5, rtol=1e-5)
    assert Path(cache / "empty_prompt.safetensors").is_file()
