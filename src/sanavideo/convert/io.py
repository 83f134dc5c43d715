"""Reading and writing SANA-Video transformer checkpoints in three layouts, with format detection.

- original: an upstream `.pth` (weights under "state_dict" or raw) or `.safetensors` with upstream keys;
  the architecture is inferred from tensor shapes (head_dim 112, as released, unless a config is given).
- diffusers: a `SanaVideoTransformer3DModel` folder (config.json + safetensors), or a pipeline root whose
  `transformer/` holds one.
- sanavideo: our `save_pretrained` folder (config.json with a "sanavideo_config" key + model.safetensors,
  upstream keys).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from sanavideo.config import ModelConfig
from sanavideo.convert.keymaps import (
    ORIGINAL_IGNORED,
    diffusers_to_original,
    is_diffusers_layout,
    original_to_diffusers,
)
from sanavideo.fsutil import (
    atomic_folder,
    atomic_path,
    load_plain_torch,
    load_safetensors,
    read_json,
    read_yaml,
)

SANAVIDEO_WEIGHTS = "model.safetensors"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
DIFFUSERS_CLASS = "SanaVideoTransformer3DModel"
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")

# numerics of each origin (docs/reference.md §6.1): (integer timesteps, linear-attention eps, cross-attn q/k norm eps)
ORIGINAL_NUMERICS = dict(integer_timesteps=True, linear_attn_eps=1e-8, cross_norm_eps=1e-6)
DIFFUSERS_NUMERICS = dict(integer_timesteps=False, linear_attn_eps=1e-15, cross_norm_eps=1e-5)


# -- diffusers config <-> ModelConfig ------------------------------------------------------------------
def config_to_diffusers(cfg: ModelConfig) -> dict:
    return {
        "_class_name": DIFFUSERS_CLASS,
        "_diffusers_version": "0.42.1",
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "num_attention_heads": cfg.num_heads,
        "attention_head_dim": cfg.head_dim,
        "num_layers": cfg.num_layers,
        "num_cross_attention_heads": cfg.cross_num_heads,
        "cross_attention_head_dim": cfg.cross_head_dim,
        "cross_attention_dim": cfg.hidden_size,
        "caption_channels": cfg.caption_channels,
        "mlp_ratio": cfg.mlp_ratio,
        "dropout": 0.0,
        "attention_bias": False,
        "sample_size": cfg.sample_size,
        "patch_size": list(cfg.patch_size),
        "norm_elementwise_affine": False,
        "norm_eps": cfg.norm_eps,
        "interpolation_scale": None,
        "guidance_embeds": False,
        "guidance_embeds_scale": 0.1,
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": cfg.rope_max_seq_len,
    }


def config_from_diffusers(data: dict) -> ModelConfig:
    unsupported = {
        "attention_bias": (data.get("attention_bias", False), False),
        "guidance_embeds": (data.get("guidance_embeds", False), False),
        "norm_elementwise_affine": (data.get("norm_elementwise_affine", False), False),
        "qk_norm": (data.get("qk_norm", "rms_norm_across_heads"), "rms_norm_across_heads"),
    }
    for name, (actual, expected) in unsupported.items():
        if actual != expected:
            raise ValueError(
                f"unsupported diffusers transformer config: {name}={actual!r}, expected {expected!r}"
            )
    heads, head_dim = data.get("num_attention_heads", 20), data.get("attention_head_dim", 112)
    if data.get("cross_attention_dim", heads * head_dim) != heads * head_dim:
        raise ValueError(
            f"cross_attention_dim={data['cross_attention_dim']} must equal the hidden size {heads * head_dim}"
        )
    in_ch = data.get("in_channels", 16)
    return ModelConfig(
        in_channels=in_ch,
        out_channels=data.get("out_channels") or in_ch,
        num_layers=data.get("num_layers", 20),
        num_heads=heads,
        head_dim=head_dim,
        cross_num_heads=data.get("num_cross_attention_heads", 20),
        cross_head_dim=data.get("cross_attention_head_dim", 112),
        caption_channels=data.get("caption_channels", 2304),
        mlp_ratio=data.get("mlp_ratio", 2.5),
        patch_size=tuple(data.get("patch_size", (1, 2, 2))),
        norm_eps=data.get("norm_eps", 1e-6),
        sample_size=data.get("sample_size", 30),
        rope_max_seq_len=data.get("rope_max_seq_len", 1024),
        vae_stride=(8, 32, 32) if in_ch == 128 else (4, 8, 8),
        **DIFFUSERS_NUMERICS,
    )


def infer_config_from_original(state: dict[str, torch.Tensor], head_dim: int = 112) -> ModelConfig:
    """Architecture from upstream tensor shapes. Head counts are not in the shapes: head_dim 112 is assumed
    (all released SANA-Video 2B models); pass an explicit config for others."""
    try:
        patch_w = state["x_embedder.proj.weight"]
        hidden, in_ch = patch_w.shape[:2]
        patch = tuple(patch_w.shape[2:])
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        ffn_hidden = state["blocks.0.mlp.point_conv.conv.weight"].shape[1]
        caption = state["y_embedder.y_proj.fc1.weight"].shape[1]
        out_features = state["final_layer.linear.weight"].shape[0]
    except (KeyError, ValueError) as err:
        raise ValueError(f"not an upstream SANA-Video state dict: {err!r} missing") from err
    if hidden % head_dim:
        raise ValueError(
            f"cannot infer the number of attention heads: the tensors give hidden size {hidden}, which is not a "
            f"multiple of the assumed head_dim {head_dim}; give the architecture (`--config`: a preset name, a "
            "diffusers config.json, or an upstream training YAML with model.linear_head_dim; `config=` in Python)"
        )
    volume = patch[0] * patch[1] * patch[2]
    return ModelConfig(
        in_channels=in_ch,
        out_channels=out_features // volume,
        num_layers=depth,
        num_heads=hidden // head_dim,
        head_dim=head_dim,
        cross_num_heads=hidden // head_dim,
        cross_head_dim=head_dim,
        caption_channels=caption,
        mlp_ratio=ffn_hidden / hidden,
        patch_size=patch,
        sample_size=30 if patch[1] == 2 else 22,
        vae_stride=(8, 32, 32) if in_ch == 128 else (4, 8, 8),
        **ORIGINAL_NUMERICS,
    )


def config_for(spec: str | Path, state: dict[str, torch.Tensor]) -> ModelConfig:
    """The architecture named by `spec`: a preset name, a diffusers or sanavideo config.json, or an upstream
    training YAML (its `model.linear_head_dim`; the rest is read from the tensor shapes of `state`)."""
    from sanavideo.config import PRESETS

    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--config {spec}: not a preset ({sorted(PRESETS)}) and no such file")
    if path.suffix in (".yaml", ".yml"):
        data = read_yaml(path) or {}
        head_dim = (data.get("model") or {}).get("linear_head_dim") if isinstance(data, dict) else None
        if not isinstance(head_dim, int):
            raise ValueError(
                f"{path}: expected an upstream training YAML with an integer model.linear_head_dim"
            )
        return infer_config_from_original(state, head_dim=head_dim)
    data = read_json(path)
    if "sanavideo_config" in data:
        return ModelConfig.from_dict(data["sanavideo_config"])
    if data.get("_class_name") == DIFFUSERS_CLASS:
        return config_from_diffusers(data)
    raise ValueError(
        f"{path} is neither a diffusers {DIFFUSERS_CLASS} config.json nor a sanavideo config.json"
    )


# -- reading -------------------------------------------------------------------------------------------
def _read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    data = load_plain_torch(path)
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path} holds no state dict of tensors (raw or under 'state_dict')")
    return data


def _read_diffusers_folder(folder: Path) -> dict[str, torch.Tensor]:
    single = folder / DIFFUSERS_WEIGHTS
    if single.exists():
        return load_safetensors(single)
    index = folder / (DIFFUSERS_WEIGHTS + ".index.json")
    if index.exists():
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(read_json(index)["weight_map"].values())):
            state.update(load_safetensors(folder / shard))
        return state
    raise FileNotFoundError(
        f"{folder} has a diffusers config.json but no {DIFFUSERS_WEIGHTS} (or sharded index)"
    )


NULL_CAPTION_FILE = "null_caption.safetensors"  # beside a transformer folder's weights: upstream's learned
NULL_CAPTION_KEY = "y_embedder.y_embedding"  # null caption (caption dropout), which diffusers has no slot for


def _with_null_caption(state: dict[str, torch.Tensor], folder: Path) -> dict[str, torch.Tensor]:
    side = folder / NULL_CAPTION_FILE
    if side.is_file():
        state = {**state, NULL_CAPTION_KEY: load_safetensors(side)["null_caption"]}
    return state


def read_null_caption(path: str | Path) -> torch.Tensor | None:
    """The learned null caption (L, caption_channels) a checkpoint carries (upstream key or side file), if any."""
    return read_checkpoint(path)[0].get(NULL_CAPTION_KEY)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelConfig | None, str]:
    """(state dict in our/upstream layout, config if the files say it, origin) for any supported path. A folder's
    `null_caption.safetensors` comes back under upstream's key `y_embedder.y_embedding`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if path.is_file():
        if path.suffix not in WEIGHT_SUFFIXES:
            raise ValueError(
                f"{path}: expected a weight file ending in one of {WEIGHT_SUFFIXES}, or a model folder"
            )
        state = _read_weight_file(path)
        if is_diffusers_layout(state):
            return diffusers_to_original(state), None, "diffusers"
        return state, None, "original"
    if (path / "model_index.json").exists():
        if not (path / "transformer").is_dir():
            raise FileNotFoundError(f"{path} is a diffusers pipeline folder without a transformer/ subfolder")
        return read_checkpoint(path / "transformer")
    config_file = path / "config.json"
    if config_file.exists():
        data = read_json(config_file)
        try:
            if "sanavideo_config" in data:
                config, layout = ModelConfig.from_dict(data["sanavideo_config"]), "sanavideo"
            elif data.get("_class_name") == DIFFUSERS_CLASS:
                config, layout = config_from_diffusers(data), "diffusers"
            else:
                config = layout = None
        except ValueError as err:
            raise ValueError(f"{config_file}: {err}") from None
        if layout == "sanavideo":
            return _with_null_caption(load_safetensors(path / SANAVIDEO_WEIGHTS), path), config, layout
        if layout == "diffusers":
            return (
                _with_null_caption(diffusers_to_original(_read_diffusers_folder(path)), path),
                config,
                layout,
            )
        raise ValueError(
            f"{config_file} describes {data.get('_class_name', 'an unknown model')!r}, not a SANA-Video transformer"
        )
    raise ValueError(
        f"{path} is not a SANA-Video model: expected a .pth/.safetensors file, a folder with config.json "
        f"(diffusers {DIFFUSERS_CLASS} or sanavideo), or a diffusers pipeline folder with model_index.json"
    )


def strict_state_check(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if shapes:
        problems.append("mis-shaped keys [" + "; ".join(shapes) + "]")
    if problems:
        raise ValueError("state dict does not match the model: " + ", ".join(problems))


def load_transformer(cls, path, config: ModelConfig | None = None, dtype: torch.dtype | None = None):
    state, file_config, origin = read_checkpoint(path)
    state = {k: v for k, v in state.items() if k not in ORIGINAL_IGNORED}
    if config is None:
        config = file_config or infer_config_from_original(state)
    with torch.device("meta"):
        model = cls(config)
    strict_state_check(model, state)
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


# -- writing -------------------------------------------------------------------------------------------
def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_transformer(model, directory: str | Path) -> None:
    """Write a sanavideo folder: weights and config.json are published together (other files there stay)."""
    with atomic_folder(directory, keep_others=True) as tmp:
        save_file(_contiguous(model.state_dict()), str(tmp / SANAVIDEO_WEIGHTS))
        model.config.save(tmp / "config.json")


def save_null_caption(null_caption: torch.Tensor, directory: str | Path) -> None:
    with atomic_path(Path(directory) / NULL_CAPTION_FILE) as tmp:
        save_file({"null_caption": null_caption.detach().cpu().contiguous()}, str(tmp))


def save_diffusers(state: dict[str, torch.Tensor], config: ModelConfig, directory: str | Path) -> None:
    """Write a diffusers `SanaVideoTransformer3DModel` folder from an upstream-layout state dict. Training-only
    upstream keys are dropped, except the learned null caption, which goes beside the weights as
    `null_caption.safetensors` (diffusers has no slot for it; `read_checkpoint` brings it back). The files are
    published together; other files in the folder stay."""
    with atomic_folder(directory, keep_others=True) as tmp:
        if NULL_CAPTION_KEY in state:
            save_null_caption(state[NULL_CAPTION_KEY], tmp)
        state = {k: v for k, v in state.items() if k not in ORIGINAL_IGNORED}
        save_file(_contiguous(original_to_diffusers(state)), str(tmp / DIFFUSERS_WEIGHTS))
        (tmp / "config.json").write_text(json.dumps(config_to_diffusers(config), indent=2) + "\n")


def save_original(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Write an upstream-layout checkpoint: `.pth` as {"state_dict": ...}, or `.safetensors`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            save_file(_contiguous(state), str(tmp))
        elif path.suffix in (".pth", ".pt"):
            torch.save({"state_dict": _contiguous(state)}, str(tmp))
        else:
            raise ValueError(
                f"original checkpoint path must end in .pth, .pt or .safetensors, got {path.name!r}"
            )
