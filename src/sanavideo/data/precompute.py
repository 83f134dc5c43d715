"""Encode raw clips once: VAE latents and text embeddings (or token ids) into a cache folder for training.

Encoders come from a diffusers-layout model folder: `vae/` (AutoencoderKLWan; latents normalised with its
config `latents_mean` / `latents_std`: z = (mu - mean) / std, posterior mean, no sampling), `tokenizer/` and
`text_encoder/` (any transformers encoder; the feature is its last hidden state, padded to `max_text_length`
with a mask). A clip that cannot be read or encoded is skipped with a warning and counted; items already in
the cache are kept, so an interrupted precompute continues where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from sanavideo.data.latents import LatentCacheWriter
from sanavideo.data.precompute_args import PrecomputeArgs  # its request, apart so --help needs no torch
from sanavideo.data.video import (
    full_prompt,
    make_buckets,
    nearest_bucket,
    read_frames,
    resize_crop,
    scan_sources,
)

log = logging.getLogger("sanavideo.data")


@dataclass
class PrecomputeResult:
    cache_dir: str
    written: int  # samples in the cache
    skipped: int  # clips that could not be read or encoded (this run)
    reused: int  # samples already in the cache


class Encoders:
    """The VAE and text encoder of a diffusers-layout folder, through the pipeline's adapters
    (`sanavideo.adapters`), so cached features are exactly what the pipeline computes at inference."""

    def __init__(
        self,
        folder: str | Path,
        device: torch.device,
        chi: str = "video",
        lowercase: bool = True,
        max_length: int = 300,
        load_text_encoder: bool = True,
        load_vae: bool = True,
    ) -> None:
        from sanavideo.adapters.text import PromptFormat, TextEncoder, load_text_model, resolve_chi
        from sanavideo.adapters.vae import load_vae

        folder = Path(folder)
        self.device = device
        self.vae = load_vae(folder / "vae").to(device) if load_vae else None
        self.format = PromptFormat(chi=resolve_chi(chi), max_length=max_length, lowercase=lowercase)
        if not load_text_encoder and self.format.chi is not None:
            raise ValueError(
                "token ids only (a trainable text encoder) needs chi='none': the encoder would "
                "have to see the instruction prefix that the stored ids leave out"
            )
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
        model = load_text_model(folder).to(device) if load_text_encoder else None
        self.text = TextEncoder(tokenizer, model, self.format)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """(3, T, H, W) in [-1, 1] -> normalised latents (C, T', H', W')."""
        return self.vae.encode(video[None].to(self.device))[0].float().cpu()

    def encode_prompt(
        self, prompt: str, with_embeddings: bool, use_chi: bool = True
    ) -> dict[str, torch.Tensor]:
        """input_ids and prompt_mask (L,), and prompt_embeds (L, D) zeroed at padding when asked."""
        tok = self.text.tokenize([prompt], use_chi=use_chi)
        item = {"input_ids": tok.input_ids[0].long(), "prompt_mask": tok.attention_mask[0].long()}
        if with_embeddings:
            emb, mask = self.text.encode([prompt], use_chi=use_chi)
            item["prompt_embeds"] = (emb[0] * mask[0, :, None].to(emb.dtype)).float().cpu()
            item["prompt_mask"] = mask[0].long().cpu()
        return item


def precompute(args: PrecomputeArgs) -> PrecomputeResult:
    from sanavideo.device import resolve_device

    device = resolve_device(args.device)
    out = Path(args.output)
    writer = LatentCacheWriter(out)
    embed_dtype = getattr(torch, args.embed_dtype)
    enc = Encoders(
        args.encoders,
        device,
        chi=args.chi,
        lowercase=args.lowercase,
        max_length=args.max_text_length,
        load_text_encoder=args.store_embeddings,
    )
    buckets = make_buckets(args.resolution, args.bucket_multiple)
    records, skipped = scan_sources(args.video_dirs)
    log.info("precompute: %d clips found, %d skipped while scanning", len(records), skipped)

    def encode_prompt(prompt: str, use_chi: bool = True) -> dict[str, torch.Tensor]:
        item = enc.encode_prompt(prompt, args.store_embeddings, use_chi)
        if "prompt_embeds" in item:
            item["prompt_embeds"] = item["prompt_embeds"].to(embed_dtype)
        return item

    reused = 0
    for n, rec in enumerate(records):
        caption = full_prompt(
            rec.caption(args.caption_proportion), rec.motion_score if args.motion_score else None
        )
        key = f"{rec.key}|{caption}|{args.num_frames}|{args.resolution}"
        name = hashlib.sha1(key.encode()).hexdigest()[:20]
        if writer.item_path(name).is_file():
            writer.add(rec.key, name, None, caption, rec.motion_score)
            reused += 1
            continue
        try:
            frames = read_frames(rec.open(), args.num_frames, args.frame_stride)  # (T, H, W, 3)
            size = nearest_bucket(frames.shape[1], frames.shape[2], buckets)
            latents = enc.encode_video(resize_crop(frames, size))
        except Exception as err:  # a broken clip must never stop the run
            log.warning("skipping unreadable clip %s (%s: %s)", rec.key, type(err).__name__, err)
            skipped += 1
            continue
        writer.add(rec.key, name, {"latents": latents, **encode_prompt(caption)}, caption, rec.motion_score)
        if (n + 1) % 50 == 0:
            log.info("precompute: %d/%d clips", n + 1, len(records))
    writer.finish(
        encode_prompt("", use_chi=False),  # as a negative prompt
        encoders=str(args.encoders),
        num_frames=args.num_frames,
        resolution=args.resolution,
        max_text_length=args.max_text_length,
        store_embeddings=args.store_embeddings,
        chi=args.chi,
        lowercase=args.lowercase,
        skipped=skipped,
    )
    entries = writer.entries
    log.info("precompute: %d samples in %s (%d reused), %d clips skipped", len(entries), out, reused, skipped)
    return PrecomputeResult(str(out), len(entries), skipped, reused)
