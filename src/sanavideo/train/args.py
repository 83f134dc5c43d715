"""Typed run arguments of `sanavideo train`, loaded from YAML (data only) plus `key=value` overrides.

Every YAML key maps to a dataclass field; an unknown key or a value of the wrong type is an error that names
the key, its dotted path and what was expected. `TrainArgs.to_dict()` is what checkpoints record.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from sanavideo.fsutil import read_yaml

# Attention and Mix-FFN projections (upstream key names, docs/reference.md §1.10); the FFN ones are 1x1 Conv2d.
DEFAULT_LORA_TARGETS = [
    "attn.qkv",
    "attn.proj",
    "cross_attn.q_linear",
    "cross_attn.kv_linear",
    "cross_attn.proj",
    "mlp.inverted_conv.conv",
    "mlp.point_conv.conv",
]


@dataclass
class ModelArgs:
    preset: str = "tiny"  # a name in sanavideo.config.PRESETS
    overrides: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields replacing the preset's
    init_from: str | None = None  # weights for SanaVideoTransformer.from_pretrained (sets the architecture)
    gradient_checkpointing: bool = False
    compile: bool = False  # torch.compile each block


@dataclass
class TextEncoderArgs:
    """Joint training of the text encoder from token ids (the batch carries ids and masks)."""

    trainable: bool = False
    path: str | None = None  # a folder with text_encoder/ (+ tokenizer/), or a transformers model folder
    config: dict[str, Any] | None = None  # a transformers config (with model_type) to build one from scratch
    lr: float | None = None  # None: the transformer's learning rate


@dataclass
class DataArgs:
    cache_dir: str | None = None  # written by `sanavideo precompute`
    video_dirs: list[str] = field(default_factory=list)  # raw clips, precomputed into output_dir/cache first
    # diffusers-layout folder with vae/, text_encoder/, tokenizer/ (for video_dirs)
    encoders: str | None = None
    # SyntheticSpec fields: a generated latent set (tests, smoke runs)
    synthetic: dict[str, Any] | None = None
    num_frames: int = 81  # pixel frames per clip, 4k+1
    frame_stride: int = 1
    resolution: int = 480  # aspect buckets of about resolution**2 pixels
    max_text_length: int = 300
    chi: str = "video"  # prompt instruction prefix for precompute: video, image or none (see adapters.text)
    lowercase: bool = True  # lower-case prompts for precompute (as the pipeline's text adapter)
    batch_size: int = 1  # per rank and micro-step; global = batch_size * world_size * grad_accum
    in_memory: bool = True  # hold the cache on the training device (no per-step disk IO)
    caption_proportion: dict[str, float] = field(default_factory=lambda: {"prompt": 1.0})
    # keep only clips whose motion score lies in [min, max] (upstream's filter; None: no bound)
    motion_score_min: float | None = None
    motion_score_max: float | None = None
    # keep only clips whose caption matches this regular expression (case-insensitive; a curriculum's sub-world)
    caption_pattern: str | None = None


@dataclass
class ObjectiveArgs:
    flow_shift: float = 3.0  # training shift of the sigma schedule (docs/reference.md §4.1)
    logit_mean: float = 0.0
    logit_std: float = 1.0
    num_train_timesteps: int = 1000
    caption_dropout: float = 0.1  # probability of replacing the caption by the null caption
    null_caption: str = "embedding"  # "embedding": fixed random buffer (upstream); "empty": the empty prompt
    i2v_prob: float = 0.0  # probability that frame 0 is clean (t = 0) and left out of the loss
    chunk_frames: int | list[int] | None = None  # block-causal training over chunks of latent frames
    chunk_timesteps: str = "scaled"  # per-chunk sigmas, non-decreasing: "scaled", "sorted" or "shared"
    # probability that a sample takes one sigma for all its chunks anyway: the regime of text-to-video
    # sampling, where no less-noisy earlier chunk shows the motion and only the caption can say it
    shared_prob: float = 0.0
    # loss weight of "object" latent positions: those whose clean latent differs from their frame's median
    # latent by at least object_threshold x the frame's largest difference (on a uniform background, as in the
    # shapes world, the object and its blur); the per-frame loss is the weighted mean, so 1.0 is the plain mean
    object_weight: float = 1.0
    object_threshold: float = 0.4


@dataclass
class OptimArgs:
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-10
    weight_decay: float = 0.0
    warmup_steps: int = 500  # linear warm-up, then constant (or the cosine decay below)
    # cosine decay from the end of the warm-up to step decay_steps, down to lr * final_lr_ratio, constant
    # after; 0: no decay
    decay_steps: int = 0
    final_lr_ratio: float = 0.1
    grad_clip: float = 0.1  # max global grad norm; 0 disables
    grad_accum: int = 1
    ema_decay: float = 0.9999  # 0 disables EMA
    ema_start: int = 0  # optimizer step from which EMA averages (before: copies)
    # decay of the n-th averaging update min(ema_decay, (1 + n) / (10 + n)), so a run of a few thousand steps
    # exports its trained weights, not ~e^(-steps * (1 - ema_decay)) of its initial ones; false: upstream's
    # constant ema_rate
    ema_warmup: bool = True


@dataclass
class LoraArgs:
    rank: int = 0  # 0: full fine-tuning
    alpha: float | None = None  # None: alpha = rank
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))


@dataclass
class TrainArgs:
    output_dir: str = "runs/train"
    max_steps: int = 1000  # optimizer steps
    max_seconds: float | None = None  # also stop (checkpoint, export) once training has run this long
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    precision: str = "auto"  # auto (bf16 autocast where supported), bf16, fp32
    log_every: int = 10
    checkpoint_every: int = 500  # 0: only at the end
    keep_checkpoints: int = 2
    resume: str | None = None  # "auto" (latest in output_dir), a checkpoint folder, or None
    export: bool = True  # write output_dir/final with the (EMA) weights via save_pretrained
    export_components_from: str | None = None  # copy vae/, tokenizer/, scheduler/ ... into the export
    model: ModelArgs = field(default_factory=ModelArgs)
    text_encoder: TextEncoderArgs = field(default_factory=TextEncoderArgs)
    data: DataArgs = field(default_factory=DataArgs)
    objective: ObjectiveArgs = field(default_factory=ObjectiveArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    lora: LoraArgs = field(default_factory=LoraArgs)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainArgs:
        return _build(cls, data, "")

    def replace(self, **changes: Any) -> TrainArgs:
        return TrainArgs.from_dict(_merge(self.to_dict(), changes))


def validate(a: TrainArgs) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ValueError(msg)

    need(a.max_steps >= 0, f"max_steps must be >= 0, got {a.max_steps}")
    need(
        a.precision in ("auto", "bf16", "fp32"), f"precision must be auto, bf16 or fp32, got {a.precision!r}"
    )
    need(a.log_every >= 1, f"log_every must be >= 1, got {a.log_every}")
    need(a.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {a.checkpoint_every}")
    need(a.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {a.keep_checkpoints}")
    d, o, p = a.data, a.objective, a.optim
    need(
        (d.num_frames - 1) % 4 == 0 and d.num_frames >= 1, f"data.num_frames must be 4k+1, got {d.num_frames}"
    )
    need(d.batch_size >= 1, f"data.batch_size must be >= 1, got {d.batch_size}")
    sources = [d.cache_dir is not None, bool(d.video_dirs), d.synthetic is not None]
    need(sum(sources) <= 1, "set only one of data.cache_dir, data.video_dirs and data.synthetic")
    need(
        not d.video_dirs or d.encoders is not None, "data.video_dirs needs data.encoders (a VAE/text folder)"
    )
    need(
        0.0 <= o.caption_dropout <= 1.0,
        f"objective.caption_dropout must be in [0, 1], got {o.caption_dropout}",
    )
    need(0.0 <= o.i2v_prob <= 1.0, f"objective.i2v_prob must be in [0, 1], got {o.i2v_prob}")
    need(0.0 <= o.shared_prob <= 1.0, f"objective.shared_prob must be in [0, 1], got {o.shared_prob}")
    need(o.flow_shift > 0, f"objective.flow_shift must be > 0, got {o.flow_shift}")
    need(
        math.isfinite(o.object_weight) and o.object_weight > 0,
        f"objective.object_weight must be a positive number (1: unweighted), got {o.object_weight}",
    )
    need(
        0.0 < o.object_threshold <= 1.0,
        f"objective.object_threshold must be in (0, 1], got {o.object_threshold}",
    )
    need(
        o.null_caption in ("embedding", "empty"),
        f"objective.null_caption must be embedding or empty, got {o.null_caption!r}",
    )
    need(
        o.chunk_timesteps in ("scaled", "sorted", "shared"),
        f"objective.chunk_timesteps must be scaled, sorted or shared, got {o.chunk_timesteps!r}",
    )
    need(p.grad_accum >= 1, f"optim.grad_accum must be >= 1, got {p.grad_accum}")
    need(math.isfinite(p.lr) and p.lr > 0, f"optim.lr must be a positive number, got {p.lr}")
    need(p.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {p.warmup_steps}")
    need(
        p.decay_steps == 0 or p.decay_steps > p.warmup_steps,
        f"optim.decay_steps must be 0 (no decay) or more than optim.warmup_steps ({p.warmup_steps}), "
        f"got {p.decay_steps}",
    )
    need(
        0.0 <= p.final_lr_ratio <= 1.0,
        f"optim.final_lr_ratio must be in [0, 1], got {p.final_lr_ratio}",
    )
    need(
        math.isfinite(p.grad_clip) and p.grad_clip >= 0,
        f"optim.grad_clip must be >= 0 (0: off), got {p.grad_clip}",
    )
    need(0.0 <= p.ema_decay < 1.0, f"optim.ema_decay must be in [0, 1), got {p.ema_decay}")
    need(p.ema_start >= 0, f"optim.ema_start must be >= 0, got {p.ema_start}")
    need(a.lora.rank >= 0, f"lora.rank must be >= 0, got {a.lora.rank}")
    need(
        not (a.lora.rank and a.text_encoder.trainable),
        "lora.rank > 0 with text_encoder.trainable is not supported (LoRA adapts the transformer only)",
    )
    te = a.text_encoder
    need(
        not te.trainable or te.path is not None or te.config is not None,
        "text_encoder.trainable needs text_encoder.path or text_encoder.config",
    )


# -- YAML and overrides ------------------------------------------------------------------------------------
def load_args(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainArgs:
    """Read a YAML file (optional) and apply `dotted.key=value` overrides (values parsed as YAML)."""
    data: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"training config not found: {path}")
        loaded = read_yaml(path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
        data = loaded
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. optim.lr=1e-4)")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({err})") from None
    return TrainArgs.from_dict(data)


def save_args(args: TrainArgs, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(args.to_dict(), sort_keys=False))


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = (
            _merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "overrides"
            else v
        )
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {type(data).__name__}: {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        full = [f"{where}{u}" for u in unknown]
        raise ValueError(f"unknown config key(s) {full}; expected one of {[f'{where}{n}' for n in names]}")
    kwargs = {name: _convert(hints[name], data[name], f"{where}{name}") for name in names if name in data}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where + ".")
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ValueError(f"{where} must not be null")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(f"{where}: {value!r} matches none of {tp}: {errors}")
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {type(value).__name__}: {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        items = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ValueError(f"{where} must be a list of {len(items)} values, got {value!r}")
        return tuple(_convert(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(items, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {type(value).__name__}: {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {type(value).__name__}: {value!r}")
        return value
    raise TypeError(f"unsupported field type {tp} at {where}")
