"""A generated latent data set with a structure a tiny model can learn: for smoke runs and tests.

Each of `num_classes` classes is a smooth random latent pattern that drifts along the width by a
class-specific number of pixels per frame; its "caption" is a fixed random embedding (or token-id sequence)
per class. A sample is its class pattern scaled by 1 +- `jitter`. A model that reads the caption and the
noisy input can predict the velocity far better than one that ignores either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sanavideo.data.latents import LatentSet


@dataclass
class SyntheticSpec:
    num_samples: int = 64
    num_classes: int = 4
    channels: int = 4
    frames: int = 5  # latent frames
    height: int = 8
    width: int = 8
    text_len: int = 8
    caption_channels: int = 24
    vocab_size: int = 64  # token ids for a trainable text encoder (0 is padding)
    jitter: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_samples", "num_classes", "channels", "frames", "height", "width", "text_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyntheticSpec.{name} must be >= 1, got {getattr(self, name)}")
        if self.vocab_size < self.text_len + 1:
            raise ValueError(f"vocab_size {self.vocab_size} must exceed text_len {self.text_len}")


def class_patterns(spec: SyntheticSpec, gen: torch.Generator) -> torch.Tensor:
    """(K, C, F, H, W) smooth moving patterns with unit standard deviation."""
    K, C = spec.num_classes, spec.channels
    coarse = torch.randn(K, C, 3, 3, generator=gen)
    field = F.interpolate(coarse, size=(spec.height, spec.width * 2), mode="bicubic", align_corners=True)
    frames = []
    for f in range(spec.frames):
        shifts = [(k + 1) * f for k in range(K)]  # class k drifts k+1 pixels per frame
        frames.append(
            torch.stack([field[k].roll(s, dims=-1)[..., : spec.width] for k, s in enumerate(shifts)])
        )
    pats = torch.stack(frames, dim=2)  # F x (K, C, H, W) -> (K, C, F, H, W)
    return (pats - pats.mean()) / pats.std()


def synthetic_set(spec: SyntheticSpec) -> LatentSet:
    gen = torch.Generator().manual_seed(spec.seed)
    pats = class_patterns(spec, gen)
    K, L = spec.num_classes, spec.text_len
    embeds = torch.randn(K, L, spec.caption_channels, generator=gen)
    ids = torch.randint(1, spec.vocab_size, (K, L), generator=gen)
    lengths = [max(1, L // 2 + k % max(1, L - L // 2)) for k in range(K)]
    masks = torch.zeros(K, L, dtype=torch.long)
    for k, n in enumerate(lengths):
        masks[k, :n] = 1
    ids = ids * masks
    scale = 1 + spec.jitter * (2 * torch.rand(spec.num_samples, generator=gen) - 1)
    items, captions = [], []
    for i in range(spec.num_samples):
        k = i % K
        items.append(
            {
                "latents": pats[k] * scale[i],
                "prompt_embeds": embeds[k] * masks[k, :, None],
                "prompt_mask": masks[k],
                "input_ids": ids[k],
            }
        )
        captions.append(f"class {k}")
    empty = {
        "prompt_embeds": torch.zeros(L, spec.caption_channels),
        "prompt_mask": torch.zeros(L, dtype=torch.long).index_fill(0, torch.tensor([0]), 1),
        "input_ids": torch.zeros(L, dtype=torch.long),
    }
    return LatentSet.from_items(items, captions, empty)
