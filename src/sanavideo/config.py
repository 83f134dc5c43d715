"""Typed architecture config of the SANA-Video transformer, with named presets.

The config is saved as JSON beside the weights (`save_pretrained`) and rebuilt from the diffusers
`config.json` or from the shapes of an upstream `.pth` state dict (see `sanavideo.convert`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _matches(value: Any, kind: Any) -> tuple[bool, Any]:
    """(value fits the annotation `kind`, the value as stored: lists become tuples, ints become floats)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return True, value
    if origin is typing.Literal:
        return value in args, value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            ok, converted = _matches(value, option)
            if ok:
                return True, converted
        return False, value
    if kind is type(None):
        return value is None, value
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if kind is str:
        return isinstance(value, str), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return False, value
        checked = [_matches(v, k) for v, k in zip(value, items)]
        return all(ok for ok, _ in checked), tuple(c for _, c in checked)
    return True, value  # other annotations (dicts, paths) are not checked here


def check_field_types(obj: Any) -> None:
    """Check every field of a frozen dataclass against its annotation, storing lists as tuples and ints in float
    fields as floats; a wrong type (e.g. a string from a hand-edited JSON file) raises ValueError naming the
    field, the value and the expected type."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        ok, converted = _matches(value, hints[f.name])
        if not ok:
            kind = hints[f.name]
            expected = kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")
            raise ValueError(
                f"{type(obj).__name__}.{f.name} must be {expected}, got {value!r} ({type(value).__name__})"
            )
        object.__setattr__(obj, f.name, converted)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one SANA-Video transformer.

    The three `numerics` fields are where upstream (NVlabs/Sana) and diffusers differ (docs/reference.md §6.1); the loader
    sets them from the checkpoint's origin so each format reproduces its own reference:
    upstream `.pth` -> integer timesteps, linear-attention eps 1e-8, cross-attention q/k RMSNorm eps 1e-6;
    diffusers folder -> float timesteps, eps 1e-15, eps 1e-5.
    """

    in_channels: int = 16
    out_channels: int = 16
    num_layers: int = 20
    num_heads: int = 20  # linear self-attention heads
    head_dim: int = 112
    cross_num_heads: int = 20
    cross_head_dim: int = 112
    caption_channels: int = 2304
    mlp_ratio: float = 3.0
    patch_size: tuple[int, int, int] = (1, 2, 2)
    t_kernel_size: int = 3
    rope_theta: float = 10000.0
    rope_max_seq_len: int = 1024  # only recorded for the diffusers config; positions are not capped
    norm_eps: float = 1e-6  # LayerNorm of the blocks and the final layer
    qk_norm_eps: float = 1e-5  # self-attention q/k RMSNorm
    caption_norm_eps: float = 1e-5
    sample_size: int = 30  # latent size the model was trained at (diffusers' resolution binning reads it)
    # numerics (upstream defaults)
    integer_timesteps: bool = True
    linear_attn_eps: float = 1e-8
    cross_norm_eps: float = 1e-6
    vae_stride: tuple[int, int, int] = field(default=(4, 8, 8))  # for input checks in pipelines

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("in_channels", "out_channels", "num_layers", "num_heads", "head_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive, got {getattr(self, name)}")
        if self.head_dim % 2:
            raise ValueError(f"ModelConfig.head_dim must be even for RoPE pairs, got {self.head_dim}")
        if self.cross_num_heads * self.cross_head_dim != self.hidden_size:
            raise ValueError(
                f"cross-attention width {self.cross_num_heads}x{self.cross_head_dim} must equal the hidden size "
                f"{self.hidden_size} ({self.num_heads}x{self.head_dim})"
            )
        if self.t_kernel_size != 3:
            raise ValueError(
                f"only a temporal kernel of 3 is supported (as released), got {self.t_kernel_size}"
            )

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def ffn_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def patch_volume(self) -> int:
        return math.prod(self.patch_size)

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"sanavideo_config": self.to_dict()}, indent=2) + "\n")


PRESETS: dict[str, ModelConfig] = {
    # SanaMSVideo_2000M_P2_D20 with the Wan2.1 VAE (docs/reference.md §1.1)
    "2B-480p": ModelConfig(),
    # SanaMSVideo_2000M_P1_D20 with the LTX-2 VAE: 128 latent channels, patch 1, stride (8, 32, 32)
    "2B-720p": ModelConfig(
        in_channels=128, out_channels=128, patch_size=(1, 1, 1), sample_size=22, vae_stride=(8, 32, 32)
    ),
    # tiny configs for tests
    "tiny": ModelConfig(
        num_layers=2,
        num_heads=2,
        head_dim=16,
        cross_num_heads=2,
        cross_head_dim=16,
        caption_channels=24,
        in_channels=4,
        out_channels=4,
        mlp_ratio=2.0,
        patch_size=(1, 2, 2),
        sample_size=8,
    ),
    "tiny-p1": ModelConfig(
        num_layers=2,
        num_heads=4,
        head_dim=8,
        cross_num_heads=2,
        cross_head_dim=16,
        caption_channels=16,
        in_channels=4,
        out_channels=4,
        mlp_ratio=2.5,
        patch_size=(1, 1, 1),
        sample_size=8,
    ),
}


def get_preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name]
