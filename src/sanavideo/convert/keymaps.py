"""Key maps between the upstream (NVlabs/Sana) and diffusers layouts of the SANA-Video transformer (docs/reference.md §6).

The maps are data: module paths with a `{i}` block placeholder. A parameter key is `<module path>.<name>`.
Our own modules use the upstream names, so "original" is also this package's layout.
"""

from __future__ import annotations

import re

import torch

# module path renames, original -> diffusers (parameter names unchanged)
MODULE_RENAMES: list[tuple[str, str]] = [
    ("x_embedder.proj", "patch_embedding"),
    ("y_embedder.y_proj.fc1", "caption_projection.linear_1"),
    ("y_embedder.y_proj.fc2", "caption_projection.linear_2"),
    ("t_embedder.mlp.0", "time_embed.emb.timestep_embedder.linear_1"),
    ("t_embedder.mlp.2", "time_embed.emb.timestep_embedder.linear_2"),
    ("t_block.1", "time_embed.linear"),
    ("attention_y_norm", "caption_norm"),
    ("blocks.{i}", "transformer_blocks.{i}"),
    ("blocks.{i}.attn.q_norm", "transformer_blocks.{i}.attn1.norm_q"),
    ("blocks.{i}.attn.k_norm", "transformer_blocks.{i}.attn1.norm_k"),
    ("blocks.{i}.attn.proj", "transformer_blocks.{i}.attn1.to_out.0"),
    ("blocks.{i}.cross_attn.q_linear", "transformer_blocks.{i}.attn2.to_q"),
    ("blocks.{i}.cross_attn.q_norm", "transformer_blocks.{i}.attn2.norm_q"),
    ("blocks.{i}.cross_attn.k_norm", "transformer_blocks.{i}.attn2.norm_k"),
    ("blocks.{i}.cross_attn.proj", "transformer_blocks.{i}.attn2.to_out.0"),
    ("blocks.{i}.mlp.inverted_conv.conv", "transformer_blocks.{i}.ff.conv_inverted"),
    ("blocks.{i}.mlp.depth_conv.conv", "transformer_blocks.{i}.ff.conv_depth"),
    ("blocks.{i}.mlp.point_conv.conv", "transformer_blocks.{i}.ff.conv_point"),
    ("blocks.{i}.mlp.t_conv", "transformer_blocks.{i}.ff.conv_temp"),
    ("final_layer.linear", "proj_out"),
    ("final_layer", ""),  # final_layer.scale_shift_table -> scale_shift_table
]

# one original tensor <-> several diffusers tensors, concatenated along dim 0 in this order
MODULE_SPLITS: list[tuple[str, list[str]]] = [
    (
        "blocks.{i}.attn.qkv",
        [
            "transformer_blocks.{i}.attn1.to_q",
            "transformer_blocks.{i}.attn1.to_k",
            "transformer_blocks.{i}.attn1.to_v",
        ],
    ),
    (
        "blocks.{i}.cross_attn.kv_linear",
        ["transformer_blocks.{i}.attn2.to_k", "transformer_blocks.{i}.attn2.to_v"],
    ),
]

# upstream keys with no counterpart in the model (training buffers and leftovers); dropped on load
ORIGINAL_IGNORED: list[str] = [
    "y_embedder.y_embedding",
    "pos_embed",
    "logvar_linear.weight",
    "logvar_linear.bias",
]


def _pattern(template: str) -> re.Pattern:
    return re.compile("^" + re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)") + "$")


def _fill(template: str, match: re.Match) -> str:
    return template.replace("{i}", match.groupdict().get("i") or "")


def _join(module: str, name: str) -> str:
    return f"{module}.{name}" if module else name


def _split_key(key: str) -> tuple[str, str]:
    module, _, name = key.rpartition(".")
    return module, name


def _renamed(module: str, name: str, renames: list[tuple[re.Pattern, str]], direction: str) -> str:
    """The key `module.name` after the first matching module rename; an unmapped key is an error naming it."""
    for pat, target in renames:
        if m := pat.match(module):
            return _join(_fill(target, m), name)
    raise KeyError(f"no {direction} key for {_join(module, name)!r} (see sanavideo.convert.keymaps)")


def original_to_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert an upstream state dict; every key must be mapped or in ORIGINAL_IGNORED."""
    out: dict[str, torch.Tensor] = {}
    renames = [(_pattern(a), b) for a, b in MODULE_RENAMES]
    splits = [(_pattern(a), parts) for a, parts in MODULE_SPLITS]
    for key, tensor in state.items():
        if key in ORIGINAL_IGNORED:
            continue
        module, name = _split_key(key)
        for pat, parts in splits:
            if m := pat.match(module):
                for part, piece in zip(parts, tensor.chunk(len(parts), dim=0)):
                    out[_join(_fill(part, m), name)] = piece.clone()
                break
        else:
            out[_renamed(module, name, renames, "diffusers")] = tensor
    return out


def diffusers_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert a diffusers state dict; every key must be mapped, and split tensors must be complete."""
    out: dict[str, torch.Tensor] = {}
    renames = [(_pattern(b), a) for a, b in MODULE_RENAMES]
    split_parts = [([_pattern(p) for p in parts], whole) for whole, parts in MODULE_SPLITS]
    pending: dict[str, dict[int, torch.Tensor]] = {}
    counts: dict[str, int] = {}
    for key, tensor in state.items():
        module, name = _split_key(key)
        for patterns, whole in split_parts:
            hit = next(((j, m) for j, p in enumerate(patterns) if (m := p.match(module))), None)
            if hit is not None:
                j, m = hit
                target = _join(_fill(whole, m), name)
                pending.setdefault(target, {})[j] = tensor
                counts[target] = len(patterns)
                break
        else:
            out[_renamed(module, name, renames, "upstream")] = tensor
    for target, pieces in pending.items():
        if len(pieces) != counts[target]:
            missing = sorted(set(range(counts[target])) - set(pieces))
            raise KeyError(
                f"cannot rebuild {target!r}: missing its part(s) {missing} in the diffusers state dict"
            )
        out[target] = torch.cat([pieces[j] for j in range(counts[target])], dim=0)
    return out


def is_diffusers_layout(keys) -> bool:
    return any(k.startswith(("transformer_blocks.", "patch_embedding.")) for k in keys)
