"""`sanavideo convert SRC DST --to {diffusers,original}`: convert a transformer checkpoint losslessly."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a SANA-Video transformer between the upstream and diffusers layouts",
        description="Convert a SANA-Video transformer checkpoint. SRC: an upstream .pth/.safetensors, a diffusers "
        "transformer or pipeline folder, or a sanavideo folder. DST: a folder (--to diffusers) or a "
        ".pth/.safetensors file (--to original).",
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--to", choices=["diffusers", "original"], required=True)
    p.add_argument(
        "--config",
        default=None,
        help="architecture when the tensors do not say it (head count): a preset name, a diffusers "
        "config.json, or an upstream training YAML (model.linear_head_dim)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sanavideo.convert.io import (
        ORIGINAL_IGNORED,
        config_for,
        infer_config_from_original,
        read_checkpoint,
        save_diffusers,
        save_original,
        strict_state_check,
    )
    from sanavideo.model import SanaVideoTransformer

    state, config, origin = read_checkpoint(args.src)
    model_state = {k: v for k, v in state.items() if k not in ORIGINAL_IGNORED}
    if args.config is not None:
        config = config_for(args.config, model_state)
    config = config or infer_config_from_original(model_state)
    # shapes only: every tensor must be there, and no other, before anything is written
    with torch.device("meta"):
        try:
            strict_state_check(SanaVideoTransformer(config), model_state)
        except ValueError as err:
            raise ValueError(f"{args.src}: {err}") from None
    if args.to == "diffusers":
        save_diffusers(state, config, args.dst)
    else:
        save_original(state, args.dst)
    print(f"converted {origin} checkpoint {args.src} -> {args.to} {args.dst} ({len(state)} tensors)")
    return 0
