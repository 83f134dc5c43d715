"""Whole-clip forward of the causal Wan VAE (`diffusers.AutoencoderKLWan`), for training, decoding and streaming.

diffusers' `encode` runs the encoder on frame 0 and then on 4-frame chunks, and `decode` runs the decoder one
latent frame at a time, each call carrying a cache of every causal conv's last input frames. Because every
temporal conv is causal and the temporal strides line up with those chunk borders, the same cache makes it
exact to call the encoder on frame 0 and then on all remaining frames at once (their count a multiple of the
temporal stride), and the decoder on latent frame 0 and then on all remaining latent frames at once. Two calls
instead of T/4 or T' calls: several times faster on a CPU, and differentiable end to end (gradients flow
through the cache), so the VAE trainer uses it too. Tested against diffusers' chunked calls. Large videos go
through in bounded pieces (`MAX_PIXELS_PER_CALL`), so memory does not grow with the length.

`WanCausalEncoder` and `WanCausalDecoder` keep the cache across calls, so a video encodes and its latent chunks
decode as they arrive (streaming), one batched call per chunk, with the same values as in one shot.
"""

from __future__ import annotations

import torch


def _conv_cache(module: torch.nn.Module, part: str) -> list:
    """One empty slot per causal conv of the encoder or decoder (diffusers' cache layout)."""
    return [None] * module._cached_conv_counts[part]


# Frames x height x width of one encoder / decoder call. Activations grow with it (the Wan2.1 decoder keeps 96
# channels at full resolution), so a call covers at most this many pixel-frames: all frames after frame 0 of
# a 33-frame clip at 64x64, one latent frame at 480x832 (as diffusers decodes). Results do not depend on it.
MAX_PIXELS_PER_CALL = 2**21


def _frames_per_call(height: int, width: int, stride: int, max_pixels: int) -> int:
    """Pixel frames per call: a multiple of the temporal stride within the budget (at least one stride)."""
    return max(1, max_pixels // (height * width * stride)) * stride


def encode_moments(
    module: torch.nn.Module, video: torch.Tensor, max_pixels: int = MAX_PIXELS_PER_CALL
) -> torch.Tensor:
    """Video (B, 3, T, H, W) in [-1, 1], T = 1 + stride*k -> posterior moments (B, 2*z_dim, T', H/s, W/s).

    Same values as `module.encode(video).latent_dist.parameters`; wrap in diffusers'
    `DiagonalGaussianDistribution` for the mean / sample / KL.
    """
    return WanCausalEncoder(module, max_pixels)(video)


class _CausalCalls:
    """What the encoder and decoder share: one network half, its conv cache kept across calls, frame 0 of the
    first call run alone (diffusers' layout), everything after it in calls of `step` frames."""

    part: str  # "encoder" or "decoder"

    def __init__(self, module: torch.nn.Module, max_pixels: int = MAX_PIXELS_PER_CALL) -> None:
        self.module = module
        self.max_pixels = max_pixels
        self._cache = _conv_cache(module, self.part)
        self._first = True

    def _run(self, x: torch.Tensor, step: int, **first_kwargs) -> torch.Tensor:
        """x (B, C, f, h, w) through the network half, frames in order; outputs concatenated along frames."""
        net = getattr(self.module, self.part)
        parts = []
        if self._first and x.shape[2] > 0:
            parts.append(net(x[:, :, :1], feat_cache=self._cache, feat_idx=[0], **first_kwargs))
            x = x[:, :, 1:]
            self._first = False
        for start in range(0, x.shape[2], step):
            parts.append(net(x[:, :, start : start + step], feat_cache=self._cache, feat_idx=[0]))
        return torch.cat(parts, dim=2)


class WanCausalEncoder(_CausalCalls):
    """Encode a video in consecutive pieces, carrying the causal-conv cache: the first piece has 1 + 4k frames,
    every later one 4k (k >= 1), and `encoder(a) ++ encoder(b) == encode_moments(a ++ b)`. Frame 0 is encoded
    alone (diffusers' layout), everything else in calls of at most `max_pixels` pixel-frames. Output: moments
    (B, 2*z_dim, f, h, w)."""

    part = "encoder"

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        module = self.module
        stride = int(module.config.scale_factor_temporal)
        frames = video.shape[2]
        if (frames - self._first) % stride or frames < 1:
            expected = f"1 + {stride}k" if self._first else f"a multiple of {stride}"
            raise ValueError(f"this piece of the video must have {expected} frames, got {frames}")
        step = _frames_per_call(video.shape[3], video.shape[4], stride, self.max_pixels)
        x = video
        if module.config.patch_size is not None:
            from diffusers.models.autoencoders.autoencoder_kl_wan import patchify

            x = patchify(x, patch_size=module.config.patch_size)  # (B, 3, T, H, W) -> (B, 3*p*p, T, H/p, W/p)
        return module.quant_conv(self._run(x, step))


class WanCausalDecoder(_CausalCalls):
    """Decode latent chunks in order with one decoder call per chunk (two for the first, whose frame 0 is
    decoded alone; more where a chunk exceeds `max_pixels` pixel-frames), carrying the causal-conv cache:
    `decoder(z0) ++ decoder(z1) == decode(z0 ++ z1)`.

    Input: raw latents (B, z_dim, f, h, w) as the VAE's decoder takes them (not normalised). Output: video
    (B, 3, T, H, W), unclamped; the first chunk's latent frame 0 gives one frame, every other latent frame
    `scale_factor_temporal` frames.
    """

    part = "decoder"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        module = self.module
        spatial, stride = int(module.config.scale_factor_spatial), int(module.config.scale_factor_temporal)
        step = _frames_per_call(z.shape[3] * spatial, z.shape[4] * spatial, stride, self.max_pixels) // stride
        out = self._run(module.post_quant_conv(z), step, first_chunk=True)  # post_quant_conv: 1x1x1
        if module.config.patch_size is not None:
            from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

            # (B, 3*p*p, T, H/p, W/p) -> (B, 3, T, H, W)
            out = unpatchify(out, patch_size=module.config.patch_size)
        return out


def decode_latents(
    module: torch.nn.Module, z: torch.Tensor, max_pixels: int = MAX_PIXELS_PER_CALL
) -> torch.Tensor:
    """Raw latents (B, z_dim, T', h, w) -> video (B, 3, T, H, W), unclamped: `module.decode`'s values in as few
    calls as `max_pixels` pixel-frames per call allow (two for a short clip)."""
    return WanCausalDecoder(module, max_pixels)(z)
