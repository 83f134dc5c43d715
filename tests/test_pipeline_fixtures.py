"""Builders and fixtures for tiny random SANA-Video pipelines saved by diffusers (no tests here).

Shared by the pipeline, text-adapter and CLI tests: `from test_pipeline_fixtures import ...` (import
`tiny_folders_fixture` to get the `tiny_folders` fixture). The tiny
pipeline: a 2-layer transformer (2 heads x 8), a Wan VAE (base_dim 8, z_dim 4, non-trivial latents_mean/std),
a 1-layer Gemma2Model (hidden 16) and a word-level tokenizer that adds BOS like Gemma's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

WORDS = (
    "a red green blue circle square triangle moves to the left right up down on black white background "
    "bounces stays still quickly slowly motion score : . , given user prompt"
).split()
LATENT_CHANNELS = 4
TEXT_DIM = 16


def tiny_tokenizer():
    """A word-level tokenizer that adds BOS like Gemma's: ids 0 <pad>, 1 <eos>, 2 <bos>, 3 <unk>, words from 4."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_text_encoder(seed: int = 0):
    from transformers import Gemma2Config, Gemma2Model

    torch.manual_seed(seed)
    config = Gemma2Config(
        vocab_size=64,
        hidden_size=TEXT_DIM,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
    )
    return Gemma2Model(config).eval()


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(
        base_dim=8,
        z_dim=LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.3, -0.2, 0.1, 0.5],
        latents_std=[1.5, 0.8, 2.0, 1.2],
    ).eval()


def tiny_transformer(seed: int = 0):
    from diffusers import SanaVideoTransformer3DModel

    torch.manual_seed(seed)
    model = SanaVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        num_cross_attention_heads=2,
        cross_attention_head_dim=8,
        cross_attention_dim=16,
        caption_channels=TEXT_DIM,
        mlp_ratio=2.0,
        sample_size=8,
        patch_size=(1, 2, 2),
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=64,
    )
    with torch.no_grad():  # make every weight matter (some are zero- or one-initialised)
        g = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def make_scheduler(sampler: str):
    from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler

    if sampler == "dpm":
        return DPMSolverMultistepScheduler(
            use_flow_sigmas=True, flow_shift=8.0, prediction_type="flow_prediction"
        )
    return FlowMatchEulerDiscreteScheduler(shift=8.0)


def save_tiny_pipeline(folder: Path, sampler: str = "dpm", i2v: bool = False) -> Path:
    """Save a tiny random diffusers SanaVideoPipeline (or SanaImageToVideoPipeline) to `folder`."""
    from diffusers import SanaImageToVideoPipeline, SanaVideoPipeline

    cls = SanaImageToVideoPipeline if i2v else SanaVideoPipeline
    pipe = cls(
        tokenizer=tiny_tokenizer(),
        text_encoder=tiny_text_encoder(),
        vae=tiny_vae(),
        transformer=tiny_transformer(),
        scheduler=make_scheduler(sampler),
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", name="tiny_folders")
def tiny_folders_fixture(tmp_path_factory) -> dict[str, Path]:
    """Diffusers-saved tiny folders: "dpm" / "euler" text-to-video, "i2v" image-to-video (Euler)."""
    root = tmp_path_factory.mktemp("tiny")
    return {
        "dpm": save_tiny_pipeline(root / "t2v_dpm", "dpm"),
        "euler": save_tiny_pipeline(root / "t2v_euler", "euler"),
        "i2v": save_tiny_pipeline(root / "i2v_euler", "euler", i2v=True),
    }
