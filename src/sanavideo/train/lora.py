"""LoRA on the attention and Mix-FFN projections through `peft`, and loading a saved adapter into a model.

Adapter folder (peft's format, so other tools can read it):
    adapter_config.json          peft LoraConfig
    adapter_model.safetensors    keys like blocks.0.attn.qkv.lora_A.weight (no adapter name)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from sanavideo.fsutil import atomic_folder, load_safetensors
from sanavideo.train.args import DEFAULT_LORA_TARGETS

ADAPTER_NAME = "default"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def lora_config(
    rank: int, alpha: float | None = None, dropout: float = 0.0, target_modules: list[str] | None = None
):
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    return LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else rank),
        lora_dropout=dropout,
        target_modules=list(target_modules or DEFAULT_LORA_TARGETS),
    )


def add_lora(model: nn.Module, config, seed: int = 0) -> nn.Module:
    """Inject LoRA layers in place and freeze everything except them. Returns the same model.

    The adapters' initial weights (peft draws lora_A at random) come from `seed` alone, not from the global RNG
    state: two runs, or two ranks, with the same seed start from the same adapters."""
    from peft import inject_adapter_in_model

    for p in model.parameters():
        p.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"LoRA targets {config.target_modules} matched no module of {type(model).__name__}")
    return model


def lora_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Adapter weights under peft's saved names (adapter name removed). `state`: a (gathered) full state dict
    of the model to read instead of the live parameters."""
    state = state if state is not None else {k: v.detach() for k, v in model.state_dict().items()}
    tag = f".{ADAPTER_NAME}."
    return {k.replace(tag, "."): v for k, v in state.items() if "lora_" in k}


def save_lora(directory: str | Path, config, weights: dict[str, torch.Tensor]) -> Path:
    """Write (or replace) an adapter folder atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_folder(directory, keep_others=True) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS_FILE))
        cfg = config.to_dict()
        cfg = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
        (tmp / CONFIG_FILE).write_text(json.dumps(cfg, indent=1, default=str))
    return directory


def read_lora(directory: str | Path):
    """(LoraConfig, weights) of an adapter folder."""
    from peft import LoraConfig

    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} not found: not a LoRA adapter folder")
    raw = json.loads((directory / CONFIG_FILE).read_text())
    config = LoraConfig(
        r=int(raw["r"]),
        lora_alpha=float(raw["lora_alpha"]),
        lora_dropout=float(raw.get("lora_dropout", 0.0)),
        target_modules=list(raw["target_modules"]),
    )
    return config, load_safetensors(directory / WEIGHTS_FILE)


def load_lora(model: nn.Module, directory: str | Path, merge: bool = True, scale: float = 1.0) -> nn.Module:
    """Load an adapter into a SanaVideoTransformer (in place). merge=True folds it into the base weights
    (W += scale * B A * alpha / r) and removes the LoRA layers, leaving the plain model and its key names."""
    from peft import set_peft_model_state_dict

    config, weights = read_lora(directory)
    add_lora(model, config)
    result = set_peft_model_state_dict(model, weights, adapter_name=ADAPTER_NAME)
    missing = [k for k in result.missing_keys if "lora_" in k]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise ValueError(
            f"adapter {directory} does not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    if scale != 1.0:
        for module in _lora_layers(model):
            module.scale_layer(scale)
    for p in model.parameters():
        p.requires_grad_(True)
    if merge:
        merge_lora(model)
    return model


def _lora_layers(model: nn.Module) -> list[nn.Module]:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA layer into its base layer and put the base layer back in its place."""
    from peft.tuners.lora import LoraLayer

    names = [n for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = getattr(parent, child)
        layer.merge(safe_merge=True)
        setattr(parent, child, layer.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
    return model
