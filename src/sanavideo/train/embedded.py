"""The recipe of the embedded default model (`sanavideo/assets/shapes-tiny`), end to end, device-agnostic; its
four steps are described on `EmbeddedRecipe` (train/recipe_args.py).

    sanavideo train-embedded --out runs/embedded --vae-seconds 2700 --dit-seconds 3600   # CPU
    sanavideo train-embedded --out runs/embedded --vae-init src/sanavideo/assets/shapes-tiny/vae ...
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from sanavideo.data.shapes import CROSSING_SECONDS, FPS
from sanavideo.device import resolve_device
from sanavideo.train.recipe_args import EmbeddedRecipe, VAETrainArgs  # torch-free, for the CLI

# A continuation clip starts up to this many frames into its trajectory: a whole ping-pong period (there and
# back across the canvas) at normal speed.
CONTINUATION_MAX_SKIP = round(2 * CROSSING_SECONDS * FPS)


def vae_args(recipe: EmbeddedRecipe) -> VAETrainArgs:
    """Step 1's VAE training arguments: the shipped VAE's loss (object and the background ring around it weighted
    alike, docs/embedded-model.md), from scratch at lr 1e-3; warm-started (`vae_init`) at lr 2e-4 with its latent
    statistics fitted to the VAE it starts from (`--latents-like`), so a transformer trained on that VAE's latents
    (`init_from`) still reads these after a short fine-tune."""
    warm = recipe.vae_init is not None
    return VAETrainArgs(
        out=str(recipe.root / "vae"),
        render=recipe.vae_clips,
        preset="patch2",
        steps=recipe.vae_steps,
        batch=recipe.vae_batch,
        frames=(17, 33),
        crop=recipe.size // 2,
        size=recipe.size,
        lr=2e-4 if warm else 1e-3,
        warmup=30 if warm else 100,
        foreground_weight=10.0,
        ring_weight=10.0,
        device=str(resolve_device(recipe.device)),
        seed=recipe.seed,
        log_every=50,
        time_budget_s=recipe.vae_seconds,
        init=recipe.vae_init,
        latents_like=recipe.vae_init,
    )


def train_embedded_vae(recipe: EmbeddedRecipe, log=print) -> Path:
    from sanavideo.train.vae import train_vae

    args = vae_args(recipe)
    result = train_vae(args, log=log)
    log(f"vae: {result.steps} steps, held-out PSNR {result.psnr_db:.2f} dB")
    return Path(args.out)


def history_chunk(recipe: EmbeddedRecipe) -> int:
    """The training config's `objective.chunk_frames`: the latent frames of one streamed chunk (an integer)."""
    from sanavideo.train import load_args

    chunk = load_args(recipe.config, recipe.overrides).objective.chunk_frames
    if not isinstance(chunk, int):
        raise ValueError(
            f"the embedded recipe's continuation clips need an integer objective.chunk_frames in {recipe.config}, "
            f"got {chunk!r}; or set context_frames"
        )
    return chunk


def build_latent_cache(recipe: EmbeddedRecipe, vae_dir: Path, text_dir: Path, log=print) -> Path:
    """Render clips, encode them with the trained VAE, tokenize their captions; write `precompute`'s cache layout.

    `recipe.clips` clips start where their caption's motion begins; `recipe.continuation_clips` more start
    `skip_frames` into the same endless trajectory (against a wall, after a reflection) and give their first
    `recipe.context_frames` latent frames (default: the training config's chunk) as clean history, as a streamed
    chunk's history is; `recipe.switch_clips` more are continuations whose object changes its motion right after
    that history, with the new motion in the caption, as after a prompt switch in a stream."""
    from dataclasses import replace

    from transformers import AutoTokenizer

    from sanavideo.adapters.vae import load_vae
    from sanavideo.data.latents import LatentCacheWriter
    from sanavideo.data.shapes import caption, render_many, sample_spec, sample_switch
    from sanavideo.train.vae import to_model_input

    device = resolve_device(recipe.device)
    vae = load_vae(vae_dir).to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(text_dir / "tokenizer"))
    writer = LatentCacheWriter(recipe.root / "cache")
    rng = np.random.default_rng(recipe.seed + 1)
    # separate streams for the continuations and the switches, so that the clips before them do not depend on them
    continuation_rng = np.random.default_rng(recipe.seed + 2)
    switch_rng = np.random.default_rng(recipe.seed + 3)
    history_latents = recipe.context_frames or history_chunk(recipe)
    history_frames = 1 + vae.temporal_stride * (history_latents - 1)  # the same history in pixel frames

    def tokens(text: str) -> dict[str, torch.Tensor]:
        tok = tokenizer(
            [text],
            padding="max_length",
            max_length=recipe.max_text_length,
            truncation=True,
            return_tensors="pt",
        )
        return {"input_ids": tok.input_ids[0].long(), "prompt_mask": tok.attention_mask[0].long()}

    def draw(i: int):  # clip i: (spec, caption rng, context latent frames)
        if i < recipe.clips:
            return sample_spec(rng), rng, 0
        if i < recipe.clips + recipe.continuation_clips:
            skip = int(continuation_rng.integers(1, CONTINUATION_MAX_SKIP + 1))
            return (
                replace(sample_spec(continuation_rng), skip_frames=skip),
                continuation_rng,
                history_latents,
            )
        skip = int(switch_rng.integers(0, CONTINUATION_MAX_SKIP + 1))
        history = replace(sample_spec(switch_rng), skip_frames=skip)
        return sample_switch(history, history_frames, switch_rng), switch_rng, history_latents

    total = recipe.clips + recipe.continuation_clips + recipe.switch_clips
    block, batch, start = 2048, 64, time.perf_counter()
    for first in range(0, total, block):
        drawn = [draw(i) for i in range(first, min(first + block, total))]
        specs = [spec for spec, _, _ in drawn]
        clips = torch.from_numpy(render_many(specs, recipe.frames, recipe.size))  # (n, T, H, W, 3)
        latents = torch.cat(
            [  # (n, C, T', H', W')
                vae.encode(to_model_input(clips[i : i + batch], device)).float().cpu()
                for i in range(0, len(drawn), batch)
            ]
        )
        for j, (spec, text_rng, context) in enumerate(drawn):
            text = caption(spec, text_rng)
            name = f"{first + j:06d}"
            tensors = {"latents": latents[j], **tokens(text)}
            writer.add(name, name, tensors, text, spec.motion_score, context_frames=context)
    writer.finish(
        tokens(""),
        encoders=str(vae_dir),
        num_frames=recipe.frames,
        resolution=recipe.size,
        max_text_length=recipe.max_text_length,
        store_embeddings=False,
        chi="none",
        lowercase=True,
        skipped=0,
    )
    shape = writer.entries[0]["shape"]
    log(f"cache: {len(writer.entries)} clips encoded in {time.perf_counter() - start:.1f} s, latents {shape}")
    return writer.root


def train_embedded_transformer(recipe: EmbeddedRecipe, cache: Path, text_dir: Path, log=print) -> Path:
    from sanavideo.train import load_args, train

    overrides = [
        f"output_dir={recipe.root / 'dit'}",
        f"data.cache_dir={cache}",
        f"text_encoder.path={text_dir}",
        f"max_steps={recipe.dit_steps}",
        f"max_seconds={recipe.dit_seconds}",
        f"device={recipe.device}",
        f"seed={recipe.seed}",
        f"data.max_text_length={recipe.max_text_length}",
        *recipe.overrides,
    ]
    if recipe.init_from is not None:
        overrides.append(f"model.init_from={Path(recipe.init_from) / 'transformer'}")
    result = train(load_args(recipe.config, overrides))
    log(
        f"transformer: {result.steps} steps, {result.samples_per_second:.0f} samples/s, "
        f"last loss {result.losses[-1]:.4f}"
    )
    return Path(result.export_dir)


def assemble(recipe: EmbeddedRecipe, final: Path, vae_dir: Path, target: Path) -> Path:
    """Write (or replace, as a whole) the diffusers-layout pipeline folder the package ships."""
    from sanavideo.fsutil import atomic_folder

    with atomic_folder(target) as tmp:
        _write_pipeline_folder(recipe, final, vae_dir, tmp)
    return target


def _write_pipeline_folder(recipe: EmbeddedRecipe, final: Path, vae_dir: Path, target: Path) -> None:
    from diffusers import DPMSolverMultistepScheduler

    from sanavideo.convert.io import save_diffusers
    from sanavideo.fsutil import atomic_write_json
    from sanavideo.model import SanaVideoTransformer

    model = SanaVideoTransformer.from_pretrained(final / "transformer")
    state = {k: v.half() for k, v in model.state_dict().items()}
    save_diffusers(state, model.config, target / "transformer")
    shutil.copytree(
        vae_dir, target / "vae", ignore=shutil.ignore_patterns(".*", "best", "vae_train_report.json")
    )
    shutil.copytree(final / "text_encoder", target / "text_encoder")
    shutil.copytree(final / "tokenizer", target / "tokenizer")
    import yaml

    objective = yaml.safe_load((final / "train_config.yaml").read_text())["objective"]
    chunk = objective["chunk_frames"]
    if not isinstance(chunk, int):
        raise ValueError(f"the embedded recipe trains with an integer objective.chunk_frames, got {chunk!r}")
    shift = float(objective["flow_shift"])
    DPMSolverMultistepScheduler(
        use_flow_sigmas=True, flow_shift=shift, prediction_type="flow_prediction"
    ).save_pretrained(target / "scheduler")
    index = {
        "_class_name": "SanaVideoPipeline",
        "_diffusers_version": "0.42.1",
        "transformer": ["diffusers", "SanaVideoTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
        "text_encoder": ["transformers", "Gemma2Model"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
    }
    atomic_write_json(index, target / "model_index.json", indent=2)
    options = {
        "chi": "none",
        "lowercase_prompts": True,
        "max_sequence_length": recipe.max_text_length,
        "negative_prompt": "",
        "height": recipe.size,
        "width": recipe.size,
        "frames": recipe.frames,
        "num_inference_steps": 20,
        # 2, not 3: squares keep their corners (shape 94% / 98% against 90% / 92% over two draws of 24, image-to-video
        # colour, shape and motion kept 88% / 96% against 79% / 96%; docs/embedded-model.md, session 16)
        "guidance_scale": 2.0,
        "fps": 16,
        # sample block-causally, as trained: with full attention the first chunk came out empty (a red circle
        # appeared only after half a second in 8 of 8 clips; docs/embedded-model.md)
        "chunk_frames": chunk,
        # chunk by chunk on the clean history, as streams do: every check 87% / 94% against 79% / 85% for all
        # chunks at once, "still" objects no longer drift (five draws of 24; docs/embedded-model.md, session 20)
        "rollout": True,
        "stream_chunk_frames": chunk,
        "stream_steps": 8,
        "stream_window": 2,
        "stream_fresh_noise": False,
        # measured on the shipped model (n = 8 per split, docs/embedded-model.md): colour 75% / 75% with
        # guidance 3 vs 25% / 50% without
        "stream_guidance_scale": 3.0,
    }
    atomic_write_json({"options": options}, target / "sanavideo.json", indent=2)


def run(recipe: EmbeddedRecipe, log=print) -> Path:
    from sanavideo.data.shapes_text import build_text_encoder, build_tokenizer

    torch.manual_seed(recipe.seed)
    recipe.root.mkdir(parents=True, exist_ok=True)
    if recipe.init_from is not None:
        text_dir = Path(recipe.init_from)  # its text_encoder/ and tokenizer/
    else:
        text_dir = recipe.root / "text"
        tokenizer = build_tokenizer(model_max_length=recipe.max_text_length)
        tokenizer.save_pretrained(str(text_dir / "tokenizer"))
        build_text_encoder(recipe.seed, vocab_size=len(tokenizer)).save_pretrained(
            str(text_dir / "text_encoder")
        )
    t0 = time.perf_counter()
    vae_dir = Path(recipe.vae_from) if recipe.vae_from is not None else train_embedded_vae(recipe, log)
    log(f"[{time.perf_counter() - t0:.0f} s] vae done")
    cache = build_latent_cache(recipe, vae_dir, text_dir, log)
    log(f"[{time.perf_counter() - t0:.0f} s] cache done")
    final = train_embedded_transformer(recipe, cache, text_dir, log)
    log(f"[{time.perf_counter() - t0:.0f} s] transformer done")
    return assemble(recipe, final, vae_dir, recipe.root / "shapes-tiny")
