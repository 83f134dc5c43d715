"""Streaming decode for the causal Wan VAE: latent chunks in, video frames out as soon as they exist.

The Wan decoder is causal in time: `WanCausalDecoder` (`sanavideo.adapters.wan_causal`) keeps each causal
conv's cache across chunks and decodes each chunk in one call, so decoding a video chunk by chunk gives the
same frames as decoding it at once (tested), with the first frames out after the first chunk.
"""

from __future__ import annotations

import torch

from sanavideo.adapters.vae import WanVAE
from sanavideo.adapters.wan_causal import WanCausalDecoder


class WanStreamDecoder:
    """decoder = WanStreamDecoder(vae); for chunk in latent_chunks: frames = decoder.decode(chunk)"""

    def __init__(self, vae: WanVAE) -> None:
        if not isinstance(vae, WanVAE):
            raise TypeError(f"streaming decode needs the causal Wan VAE adapter, got {type(vae).__name__}")
        self.vae = vae
        self._decoder = WanCausalDecoder(vae.module)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, C, f, H', W') -> video (B, 3, T, H, W) in [-1, 1]; the first chunk's first
        latent frame gives 1 video frame, every other latent frame gives `temporal_stride` frames."""
        return self._decoder(self.vae.denormalize(latents)).clamp(-1.0, 1.0)
