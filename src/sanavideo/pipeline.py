"""SanaVideoPipeline: text-to-video and image-to-video with SANA-Video, used by the CLI, demo and Python API.

    pipe = SanaVideoPipeline.from_pretrained("path/to/SANA-Video_2B_480p_diffusers").to("cuda", torch.bfloat16)
    video = pipe("a red circle moves to the right", frames=81, generator=torch.Generator().manual_seed(0)).frames[0]

Stages: check inputs -> encode prompts (docs/reference.md §3.1) -> seeded CPU noise -> (I2V: encode the image into latent
frame 0) -> denoise with CFG (`sanavideo.sampling`) -> VAE decode -> frames. The transformer only predicts
velocity; the sampler decides everything else. `stream()` does the same chunk by chunk (LongSANA).

Around it: model folders (`sanavideo.loading`), per-model options (`sanavideo.options`), request checks
(`sanavideo.checks`), input image and output frames (`sanavideo.media`); names once defined here are re-exported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sanavideo.adapters.text import TextEncoder, add_motion_score
from sanavideo.adapters.vae import VideoVAE, wrap_vae
from sanavideo.checks import (
    GenerationSize,
    check_arguments,
    check_memory,
    check_rollout,
    generation_size,
    memory_estimate,
)
from sanavideo.loading import DEFAULT_MODEL_DIR, load_pipeline_parts, sampler_from_diffusers_config
from sanavideo.media import OUTPUT_TYPES, chunk_to_frames, prepare_image, resize_and_crop, video_output
from sanavideo.model import chunk_layout
from sanavideo.offload import ModelOffload
from sanavideo.options import PipelineOptions, pick
from sanavideo.sampling import SamplerConfig, TextCondition, denoise, initial_noise
from sanavideo.sampling.streaming import PromptSchedule, prompt_schedule_from_frames, stream_latents

# re-exported: earlier code imports these from here
__all__ = [
    "DEFAULT_MODEL_DIR",
    "PipelineOptions",
    "SanaVideoPipeline",
    "SanaVideoPipelineOutput",
    "resize_and_crop",
    "sampler_from_diffusers_config",
]


@dataclass
class SanaVideoPipelineOutput:
    """`frames`: per `output_type`: "pil" list (B) of lists (T) of images; "np" (B, T, H, W, 3) float in
    [0, 1]; "pt" (B, T, 3, H, W) in [0, 1]; "latent" normalised latents (B, C, F, H, W)."""

    frames: Any


class SanaVideoPipeline:
    """Text-to-video and image-to-video generation with a SANA-Video transformer.

    Components: `transformer` (`sanavideo.model.SanaVideoTransformer` or anything with the same call
    contract and a `config` with `in_channels` and `patch_size`), `vae` (a `VideoVAE` adapter or a diffusers
    autoencoder module), `text_encoder` (`TextEncoder`, optional if prompt embeddings are always passed),
    `sampler` (`SamplerConfig`), `options` (`PipelineOptions`).
    """

    def __init__(
        self,
        transformer: torch.nn.Module,
        vae: VideoVAE | torch.nn.Module,
        text_encoder: TextEncoder | None = None,
        sampler: SamplerConfig | None = None,
        options: PipelineOptions | None = None,
    ) -> None:
        self.transformer = transformer.eval()
        self.vae = wrap_vae(vae)
        self.text_encoder = text_encoder
        self.sampler = sampler or SamplerConfig()
        self.options = options or PipelineOptions()
        self.offload: ModelOffload | None = None  # `enable_model_offload`
        latent_channels = self.transformer.config.in_channels
        if self.vae.latent_channels != latent_channels:
            raise ValueError(
                f"the VAE has {self.vae.latent_channels} latent channels but the transformer expects {latent_channels}"
            )

    # -- loading -------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        *,
        transformer: torch.nn.Module | None = None,
        vae: VideoVAE | torch.nn.Module | None = None,
        text_encoder: TextEncoder | torch.nn.Module | None = None,
        tokenizer: Any = None,
        sampler: SamplerConfig | None = None,
        options: PipelineOptions | None = None,
        dtype: torch.dtype | None = None,
    ) -> SanaVideoPipeline:
        """Load a diffusers-layout folder, an upstream-layout `sanavideo.json`/`.yaml` (file or its folder), a
        bare transformer checkpoint (with the other parts passed in), or the embedded model (`path=None`);
        the layouts are described in `sanavideo.loading`.

        `dtype` applies to the transformer and the text encoder (default float32, as diffusers loads, whatever
        the stored precision); the VAE stays float32.
        """
        parts = load_pipeline_parts(
            path,
            transformer=transformer,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            sampler=sampler,
            options=options,
            dtype=dtype,
            default_dir=DEFAULT_MODEL_DIR,
        )
        return cls(parts.transformer, parts.vae, parts.text_encoder, parts.sampler, parts.options)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SanaVideoPipeline:
        """Move the transformer and text encoder to `device`/`dtype`; the VAE moves to `device` in float32. A
        device ends model offload (`enable_model_offload`): every component then lives on it."""
        if device is not None:
            self.offload = None
        self.transformer.to(device=device, dtype=dtype)
        if self.text_encoder is not None:
            self.text_encoder.to(device=device, dtype=dtype)
        if device is not None:
            self.vae.to(device)
        return self

    def enable_model_offload(self, device: torch.device | str = "cuda") -> SanaVideoPipeline:
        """Keep the components in CPU memory and move each to `device` only while its stage runs: the text
        encoder for the prompts, the transformer for denoising, the VAE for encoding an image and decoding (a
        stream keeps the transformer and the VAE there while it runs). The GPU then holds the largest
        component instead of all three (`sanavideo.offload`); `to(device)` ends it."""
        self.to("cpu")
        self.offload = ModelOffload(device)
        return self

    def _on_device(self, *components: Any):
        """A context in which `components` are on the execution device (nothing to do without offload)."""
        return self.offload.onload(*components) if self.offload is not None else nullcontext()

    @property
    def device(self) -> torch.device:
        """The execution device: the offload target, else where the transformer is."""
        if self.offload is not None:
            return self.offload.device
        return next(self.transformer.parameters()).device

    # -- checks --------------------------------------------------------------------------------------------
    def check_size(
        self,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        use_resolution_binning: bool = True,
    ) -> GenerationSize:
        """Validate a request's size (None: the model's default) and return the shapes it will use; errors
        name actual and expected values."""
        opts = self.options
        height, width, frames = pick(height, opts.height), pick(width, opts.width), pick(frames, opts.frames)
        return generation_size(
            height, width, frames, self.vae, self.transformer.config, use_resolution_binning
        )

    def memory_estimate(self, size: GenerationSize, batch: int = 1, cfg: bool = True) -> int:
        """Rough peak bytes of one `__call__` (`sanavideo.checks.memory_estimate`)."""
        return memory_estimate(size, self.transformer.config, batch, cfg)

    def check_memory(self, size: GenerationSize, batch: int = 1, cfg: bool = True) -> None:
        """Refuse, before any work, a request whose estimate exceeds the memory available on its device."""
        check_memory(size, self.memory_estimate(size, batch, cfg), self.device)

    # -- prompts -------------------------------------------------------------------------------------------
    def encode_prompt(
        self,
        prompts: list[str] | None = None,
        negative_prompts: list[str] | None = None,
        motion_score: int | None = None,
    ) -> tuple[TextCondition | None, TextCondition | None]:
        """Text conditions for positive prompts (CHI, motion score) and negative prompts (neither); None for
        a list not given."""
        if self.text_encoder is None:
            raise ValueError(
                "this pipeline has no text encoder; pass prompt_embeds (and negative_prompt_embeds)"
            )
        cond = uncond = None
        with self._on_device(self.text_encoder):
            if prompts is not None:
                prompts = [add_motion_score(p, motion_score) for p in prompts]
                cond = TextCondition(*self.text_encoder.encode(prompts, use_chi=True))
            if negative_prompts is not None:
                uncond = TextCondition(*self.text_encoder.encode(negative_prompts, use_chi=False))
        return cond, uncond

    def _positive(self, prompts: list[str], motion_score: int | None) -> TextCondition:
        """Prompts -> a condition on the model's device; no motion score given: the model's."""
        cond, _ = self.encode_prompt(prompts, motion_score=pick(motion_score, self.options.motion_score))
        return cond.to(self.device)

    def _negative(self, negative_prompt: str | list[str] | None, batch: int) -> TextCondition:
        """Negative prompts (none given: the model's) -> a condition for `batch` samples on the model's device."""
        negative_prompt = pick(negative_prompt, self.options.negative_prompt)
        negatives = [negative_prompt] * batch if isinstance(negative_prompt, str) else list(negative_prompt)
        _, uncond = self.encode_prompt(negative_prompts=negatives)
        return uncond.to(self.device)

    def _prepare_image(self, image: Any, height: int, width: int) -> torch.Tensor:
        """Image -> (1, 3, 1, H, W) in [-1, 1] (`sanavideo.media.prepare_image`)."""
        return prepare_image(image, height, width)

    def _first_frame(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image-to-video: prepared pixels -> the clean normalised latent `(1, C, 1, H', W')` on the device."""
        with self._on_device(self.vae):
            return self.vae.encode(pixels).float().to(self.device)

    # -- generation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        *,
        image: Any = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        use_resolution_binning: bool = True,
        motion_score: int | None = None,
        sampler: str | SamplerConfig | None = None,
        latents: torch.Tensor | None = None,
        chunk_frames: int | None = None,
        rollout: bool | None = None,
        progress: bool = True,
    ) -> SanaVideoPipelineOutput:
        """Generate videos. Keyword arguments follow `diffusers.SanaVideoPipeline`; `None` means the model's
        default (`self.options`). `motion_score` appends `" motion score: N."` to the prompts; `image` turns on
        image-to-video (the image becomes frame 0); `sampler` ("dpm", "euler" or a `SamplerConfig`) overrides
        the model's sampler; `latents` replaces the initial noise; `chunk_frames` samples block-causally over
        chunks of that many latent frames (the model's option `chunk_frames`; unset: full attention); `rollout`
        makes those chunks one after another, each on the clean history of the ones before, as `stream` does
        (the model's option `rollout`; `steps` re-noising Euler steps per chunk, the model's stream window).
        """
        opts = self.options
        steps = int(pick(num_inference_steps, opts.num_inference_steps))
        guidance_scale = float(pick(guidance_scale, opts.guidance_scale))
        chunk_frames = pick(chunk_frames, opts.chunk_frames)
        rollout = bool(pick(rollout, opts.rollout))
        if rollout:
            check_rollout(chunk_frames, sampler, latents, generator)
        if isinstance(sampler, str):
            sampler = SamplerConfig(sampler, self.sampler.flow_shift)
        sampler = sampler or self.sampler

        # 1. check inputs before any work
        check_arguments(output_type, OUTPUT_TYPES, guidance_scale, steps, prompt, prompt_embeds)
        do_cfg = guidance_scale > 1.0
        size = self.check_size(height, width, frames, use_resolution_binning)
        self.check_memory(
            size, len([prompt] if isinstance(prompt, str) or prompt is None else prompt), do_cfg
        )
        pixels = self._prepare_image(image, size.gen_height, size.gen_width) if image is not None else None

        # 2. text conditions: cond (B, L, D); uncond for CFG (negative prompt, never with CHI)
        needs_encoder = prompt is not None or (do_cfg and negative_prompt_embeds is None)
        with self._on_device(self.text_encoder if needs_encoder else None):  # one move for both prompt lists
            if prompt is not None:
                cond = self._positive([prompt] if isinstance(prompt, str) else list(prompt), motion_score)
            else:
                mask = pick(prompt_attention_mask, torch.ones(prompt_embeds.shape[:2]))
                cond = TextCondition(prompt_embeds, mask).to(self.device)
            batch = cond.embeds.shape[0]
            uncond = None
            if do_cfg and negative_prompt_embeds is not None:
                neg_mask = pick(negative_prompt_attention_mask, torch.ones(negative_prompt_embeds.shape[:2]))
                uncond = TextCondition(negative_prompt_embeds, neg_mask).to(self.device)
            elif do_cfg:
                uncond = self._negative(negative_prompt, batch)
        if uncond is not None and uncond.embeds.shape[0] != batch:
            if uncond.embeds.shape[0] != 1:
                raise ValueError(f"got {uncond.embeds.shape[0]} negative prompts for a batch of {batch}")
            uncond = TextCondition(uncond.embeds.expand(batch, -1, -1), uncond.mask.expand(batch, -1))

        # 3. noise (drawn like diffusers' randn_tensor; CPU generators give device-independent latents)
        shape = (batch, *size.latent_shape)  # (B, C, F', H', W')
        noise = None if rollout else initial_noise(shape, generator, self.device, latents)

        # 4. image-to-video: the clean image latent becomes frame 0, (1, C, 1, H', W') -> (B, C, 1, H', W')
        first_frame = self._first_frame(pixels).expand(batch, -1, -1, -1, -1) if pixels is not None else None

        # 5. denoise
        with self._on_device(self.transformer):
            if rollout:
                out = self._rollout(
                    shape, cond, uncond, guidance_scale, steps, chunk_frames, generator, first_frame, progress
                )
            else:
                out = denoise(
                    self.transformer,
                    noise,
                    sampler,
                    steps,
                    cond,
                    uncond,
                    guidance_scale,
                    first_frame=first_frame,
                    progress=progress,
                    chunk_frames=chunk_frames,
                )
        if output_type == "latent":
            return SanaVideoPipelineOutput(frames=out)

        # 6. decode (B, 3, T, H, W) in [-1, 1] and post-process
        with self._on_device(self.vae):
            video = self.vae.decode(out)
        return SanaVideoPipelineOutput(frames=video_output(video, size, output_type))

    def _rollout(
        self,
        shape: tuple[int, ...],
        cond: TextCondition,
        uncond: TextCondition | None,
        guidance_scale: float,
        steps: int,
        chunk_frames: int,
        generator: torch.Generator | list[torch.Generator] | None,
        first_frame: torch.Tensor | None,
        progress: bool,
    ) -> torch.Tensor:
        """`__call__`'s latents (B, C, F', H', W') made chunk by chunk on the clean history, as `stream` makes them."""
        settings = self.options.stream_settings(self.sampler.flow_shift, guidance_scale, chunk_frames, steps)
        generator = generator[0] if isinstance(generator, list) else generator
        chunks = stream_latents(
            self.transformer,
            shape,
            PromptSchedule([(0, cond)], uncond),
            settings,
            generator,
            first_frame=first_frame,
            device=self.device,
        )
        count = len(chunk_layout(shape[2], settings.chunk_frames))
        chunks = tqdm(chunks, total=count, desc="sampling chunks", disable=not progress, leave=False)
        return torch.cat([chunk.latents for chunk in chunks], dim=2)  # chunks along F'

    # -- streaming (LongSANA) ------------------------------------------------------------------------------
    @torch.no_grad()
    def stream(
        self,
        prompt: str | Sequence[tuple[int, str]],
        *,
        frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | None = None,
        guidance_scale: float | None = None,
        image: Any = None,
        motion_score: int | None = None,
        generator: torch.Generator | None = None,
        chunk_frames: int | None = None,
        steps: int | None = None,
        window: int | None = None,
        fresh_noise: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream one long video: yields uint8 frame chunks `(T, H, W, 3)` as soon as each is decoded.

        `prompt`: a prompt, or `(video frame index, prompt)` pairs starting at frame 0 for prompt switches (a
        switch takes effect at the first chunk that starts at or after its frame; the chunk before it is
        re-cached with the new prompt). `chunk_frames` latent frames per chunk (the remainder joins the
        first chunk); `steps` re-noising Euler steps (upstream's 4 at [1000, 960, 889, 727] when None, else
        the grid of the sampler's flow shift); `window`: attend to the last N chunks only; `fresh_noise`:
        re-noise with fresh noise (upstream) or the model's own noise estimate (a deterministic Euler solve);
        `guidance_scale`: classifier-free guidance of every re-noising step (upstream: 1, none).
        Defaults come from the model's options (`stream_*`). Memory stays constant in `frames`.
        """
        stream_decoder = getattr(self.vae, "stream_decoder", None)  # an optional capability of a VideoVAE
        decoder = stream_decoder() if stream_decoder is not None else None
        if decoder is None:
            raise ValueError(
                "streaming needs a VAE that decodes chunk by chunk (the causal Wan VAE); this model has "
                f"{type(self.vae).__name__}"
            )
        switches = [(0, prompt)] if isinstance(prompt, str) else [(int(f), str(p)) for f, p in prompt]
        size = self.check_size(height, width, frames, use_resolution_binning=False)
        settings = self.options.stream_settings(
            self.sampler.flow_shift, guidance_scale, chunk_frames, steps, window, fresh_noise
        )
        with self._on_device(self.text_encoder):  # every prompt of the stream, encoded up front
            conds = [self._positive([p], motion_score) for _, p in switches]
            negative = self._negative(negative_prompt, 1) if settings.guidance_scale > 1 else None
        schedule = prompt_schedule_from_frames(
            [(f, c) for (f, _), c in zip(switches, conds)], self.vae.temporal_stride, negative
        )
        first_frame = None
        if image is not None:
            first_frame = self._first_frame(self._prepare_image(image, size.gen_height, size.gen_width))
        chunks = stream_latents(
            self.transformer,
            (1, *size.latent_shape),
            schedule,
            settings,
            generator,
            first_frame=first_frame,
            device=self.device,
        )

        def frames() -> Iterator[np.ndarray]:
            with self._on_device(self.transformer, self.vae):
                for chunk in chunks:
                    yield chunk_to_frames(
                        decoder.decode(chunk.latents.float())[0]
                    )  # (3, T, H, W) -> (T, H, W, 3)

        # inputs are checked and prompts encoded above, at the call; frames are made as the caller iterates
        return frames()
