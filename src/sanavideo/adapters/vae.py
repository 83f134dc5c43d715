"""Video VAEs behind one small protocol: encode [-1, 1] pixels to normalised latents, and back (docs/reference.md §3.2).

- Wan2.1 (`diffusers.AutoencoderKLWan`, 480p): stride (4, 8, 8), 16 channels, per-channel normalisation
  `z = (mu - mean) / std` with `latents_mean` / `latents_std` from the VAE config, posterior mean (no sampling).
- LTX-2 (`diffusers.AutoencoderKLLTX2Video`, 720p): stride (8, 32, 32), 128 channels, per-channel buffers
  `latents_mean` / `latents_std` of the VAE and `scaling_factor`: `z = (mu - mean)·scaling / std`.
Decoding inverts the normalisation and clamps the video to [-1, 1]. The VAE stays in float32 (as upstream):
`to(device)` moves it, and the pipeline never casts it to the transformer's dtype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from sanavideo.adapters.cpu_conv import use_onednn_conv3d
from sanavideo.adapters.wan_causal import decode_latents, encode_moments


@runtime_checkable
class VideoVAE(Protocol):
    """What the pipeline needs from a video autoencoder."""

    latent_channels: int
    temporal_stride: int  # pixel frames per latent frame (after the first): T' = (T - 1) // stride + 1
    spatial_stride: int  # pixels per latent pixel along H and W

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """`(B, 3, T, H, W)` in [-1, 1] -> normalised latents `(B, C, T', H', W')`."""
        ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents `(B, C, T', H', W')` -> video `(B, 3, T, H, W)` in [-1, 1]."""
        ...

    def to(self, device: torch.device | str) -> VideoVAE: ...

    def stream_decoder(self):
        """A fresh decoder of consecutive latent chunks (`.decode(chunk)` -> the chunk's frames, equal to
        decoding the whole video at once), or None when this VAE cannot decode a stream."""
        ...


class _DiffusersVAE:
    """Shared code: a diffusers autoencoder with per-channel (mean, std, scale) latent normalisation."""

    def __init__(self, module: torch.nn.Module) -> None:
        from sanavideo.adapters.wan_norm import use_fast_wan_norms  # imports diffusers, as `module` did

        if next(module.parameters()).dtype != torch.float32:
            module = module.float()
        self.module = module.eval()
        use_onednn_conv3d(module)  # batch-1 CPU decoding 1.7x faster (its 3x3x3 convs; same values)
        use_fast_wan_norms(module)  # Wan's RMS norms as one plain reduction (decoding 1.3x faster on a CPU)

    # subclasses fill these from the module
    latent_channels: int
    temporal_stride: int
    spatial_stride: int

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def _shaped_stats(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        mean, std, scale = self._stats()
        shape = (1, self.latent_channels, 1, 1, 1)  # (C,) -> broadcast over (B, C, T, H, W)
        return (
            mean.view(shape).to(self.device, self.dtype),
            std.view(shape).to(self.device, self.dtype),
            scale,
        )

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"VAE input must be a video (B, 3, T, H, W), got {tuple(video.shape)}")
        mu = self._posterior_mean(video.to(self.device, self.dtype))
        mean, std, scale = self._shaped_stats()
        return (mu - mean) * (scale / std)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self._decode_raw(self.denormalize(latents)).clamp(-1.0, 1.0)

    def denormalize(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> the raw latents the VAE's decoder takes."""
        mean, std, scale = self._shaped_stats()
        return latents.to(self.device, self.dtype) * (std / scale) + mean

    def _posterior_mean(self, video: torch.Tensor) -> torch.Tensor:
        return self.module.encode(video).latent_dist.mode()

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.module.decode(z, return_dict=False)[0]

    def to(self, device: torch.device | str) -> _DiffusersVAE:
        self.module.to(device)  # stays float32 (cast in __init__)
        return self

    def stream_decoder(self):
        return None  # only the causal Wan VAE decodes chunk by chunk


class WanVAE(_DiffusersVAE):
    """Wan2.1 VAE (`diffusers.AutoencoderKLWan`)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module)
        cfg = module.config
        self.latent_channels = int(cfg.z_dim)
        self.temporal_stride = int(cfg.scale_factor_temporal)
        self.spatial_stride = int(cfg.scale_factor_spatial)
        for name in ("latents_mean", "latents_std"):
            if len(getattr(cfg, name)) != self.latent_channels:
                raise ValueError(
                    f"Wan VAE config {name} has {len(getattr(cfg, name))} values, expected z_dim={self.latent_channels}"
                )

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        cfg = self.module.config
        return torch.tensor(cfg.latents_mean), torch.tensor(cfg.latents_std), 1.0

    # The same values as diffusers' encode / decode in two network calls instead of one per chunk or latent
    # frame (`sanavideo.adapters.wan_causal`).
    def _posterior_mean(self, video: torch.Tensor) -> torch.Tensor:
        return encode_moments(self.module, video).chunk(2, dim=1)[0]

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return decode_latents(self.module, z)

    def stream_decoder(self):
        from sanavideo.adapters.stream_decode import WanStreamDecoder

        return WanStreamDecoder(self)


class LTX2VAE(_DiffusersVAE):
    """LTX-2 video VAE (`diffusers.AutoencoderKLLTX2Video`)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module)
        self.latent_channels = int(module.config.latent_channels)
        self.temporal_stride = int(module.temporal_compression_ratio)
        self.spatial_stride = int(module.spatial_compression_ratio)

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        return self.module.latents_mean, self.module.latents_std, float(self.module.config.scaling_factor)


VAE_CLASSES = {"AutoencoderKLWan": WanVAE, "AutoencoderKLLTX2Video": LTX2VAE}
VAE_TYPES = {"wan": "AutoencoderKLWan", "ltx2": "AutoencoderKLLTX2Video"}


def wrap_vae(vae: torch.nn.Module | VideoVAE) -> VideoVAE:
    """Wrap a diffusers autoencoder module in its adapter (an adapter is returned as is)."""
    if not isinstance(vae, torch.nn.Module):
        if not isinstance(vae, VideoVAE):
            raise TypeError(
                f"{type(vae).__name__} does not implement the VideoVAE protocol (encode, decode, strides)"
            )
        return vae
    name = type(vae).__name__
    if name not in VAE_CLASSES:
        raise ValueError(f"unsupported VAE class {name}; expected one of {sorted(VAE_CLASSES)}")
    return VAE_CLASSES[name](vae)


def load_vae(path: str | Path, vae_type: str | None = None) -> VideoVAE:
    """Load a diffusers VAE folder (its `config.json` names the class), or force `vae_type` ('wan', 'ltx2')."""
    import diffusers

    from sanavideo.fsutil import read_json

    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"no VAE at {path}: expected a diffusers VAE folder with config.json (e.g. the vae/ folder of "
            "Wan-AI/Wan2.1-T2V-1.3B-Diffusers, or Lightricks/LTX-2 vae/)"
        )
    if vae_type is not None:
        if vae_type not in VAE_TYPES:
            raise ValueError(f"unknown vae type {vae_type!r}; expected one of {sorted(VAE_TYPES)}")
        class_name = VAE_TYPES[vae_type]
    else:
        class_name = read_json(config_file).get("_class_name", "")
        if class_name not in VAE_CLASSES:
            raise ValueError(
                f"{config_file} names VAE class {class_name!r}; supported: {sorted(VAE_CLASSES)}"
            )
    module = getattr(diffusers, class_name).from_pretrained(path, torch_dtype=torch.float32)
    return VAE_CLASSES[class_name](module)
