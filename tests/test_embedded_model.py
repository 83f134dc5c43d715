"""The embedded default model ships in the package and loads offline in ours and in diffusers' pipeline."""

from __future__ import annotations

import numpy as np
import torch

from sanavideo.pipeline import DEFAULT_MODEL_DIR, SanaVideoPipeline


def test_folder_is_complete_and_small():
    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    names = {p.relative_to(DEFAULT_MODEL_DIR).as_posix() for p in files}
    for part in (
        "model_index.json",
        "sanavideo.json",
        "transformer/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "tokenizer/tokenizer.json",
        "scheduler/scheduler_config.json",
    ):
        assert part in names
    assert sum(p.stat().st_size for p in files) < 40 * 2**20


def test_default_pipeline_generates_and_streams():
    pipe = SanaVideoPipeline.from_pretrained()
    assert pipe.transformer.config.in_channels == pipe.vae.latent_channels == 16
    out = pipe(
        "a red circle moves right",
        frames=9,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        progress=False,
    )
    assert out.frames.shape == (1, 9, 64, 64, 3) and np.isfinite(out.frames).all()
    chunks = list(
        pipe.stream("a red circle bounces", frames=29, steps=2, generator=torch.Generator().manual_seed(0))
    )
    assert sum(len(c) for c in chunks) == 29 and all(c.dtype == np.uint8 for c in chunks)


def test_readme_prompt_draws_from_the_first_frame():
    """The README's prompt at the model's defaults: the circle is there from frame 0. (Sampled with full
    attention, unlike its block-causal training, the first chunk of this model came out empty.)"""
    pipe = SanaVideoPipeline.from_pretrained()
    assert pipe.options.chunk_frames == pipe.options.stream_chunk_frames  # sampled as trained
    video = pipe(
        "a red circle moves right",
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        progress=False,
    ).frames[0]
    distance = np.linalg.norm(
        video - np.median(video[:, 0], axis=(0, 1)), axis=-1
    )  # (T, H, W) from the border
    drawn = (distance > 0.25).sum(axis=(1, 2))  # pixels of each frame that differ from the background
    assert drawn[:9].min() >= 30, drawn.tolist()


def test_diffusers_loads_the_embedded_folder():
    from diffusers import SanaVideoPipeline as DiffusersPipeline

    pipe = DiffusersPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    out = pipe(
        "a red circle moves right",
        height=64,
        width=64,
        frames=5,
        num_inference_steps=2,
        complex_human_instruction=None,
        max_sequence_length=32,
        use_resolution_binning=False,
        output_type="np",
    )
    assert out.frames.shape == (1, 5, 64, 64, 3)
