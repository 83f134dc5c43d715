"""Streaming decode for the causal Wan2.1 VAE: latent chunks in, video frames out as soon as they exist.

The Wan decoder is causal in time and already decodes one latent frame at a time, carrying a cache of
each causal conv's last input frames. `WanStreamDecoder` keeps that cache across chunks, so decoding a
video chunk by chunk gives the same frames as decoding it at once (tested), with the first frames out
after the first chunk.
"""

from __future__ import annotations

import torch

from sanavideo.adapters.vae import WanVAE


class WanStreamDecoder:
    """decoder = WanStreamDecoder(vae); for chunk in latent_chunks: frames = decoder.decode(chunk)"""

    def __init__(self, vae: WanVAE) -> None:
        if not isinstance(vae, WanVAE):
            raise TypeError(f"streaming decode needs the causal Wan VAE adapter, got {type(vae).__name__}")
        module = vae.module
        if module.config.patch_size is not None:
            raise ValueError("streaming decode supports Wan2.1 VAEs (patch_size None), not Wan2.2 patchified ones")
        self.vae = vae
        # one slot per causal conv of the decoder (diffusers' AutoencoderKLWan cache layout)
        self._feat_cache: list = [None] * module._cached_conv_counts["decoder"]
        self._first = True

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, C, f, H', W') -> video (B, 3, T, H, W) in [-1, 1]; the first chunk's first
        latent frame gives 1 video frame, every other latent frame gives `temporal_stride` frames."""
        module = self.vae.module
        mean, std, scale = self.vae._shaped_stats()
        z = latents.to(self.vae.device, self.vae.dtype) * (std / scale) + mean
        x = module.post_quant_conv(z)
        frames = []
        for i in range(x.shape[2]):
            out = module.decoder(
                x[:, :, i : i + 1], feat_cache=self._feat_cache, feat_idx=[0], first_chunk=self._first
            )
            self._first = False
            frames.append(out)
        return torch.cat(frames, dim=2).clamp(-1.0, 1.0)
