"""`sanavideo train-vae ...` and `sanavideo train-embedded ...`: the shapes VAE trainer and the embedded model's
whole recipe as subcommands. Their flags mirror the fields of `VAETrainArgs` and `EmbeddedRecipe`
(sanavideo.train.recipe_args, torch-free): type, default and help come from the field (sanavideo.cli.fields)."""

from __future__ import annotations

import argparse
import inspect

# flag -> the VAETrainArgs field it sets (the fields with no flag keep their defaults)
VAE_FLAGS: dict[str, str] = {
    "--out": "out",
    "--data": "data",
    "--render": "render",
    "--preset": "preset",
    "--foreground-weight": "foreground_weight",
    "--edge-weight": "edge_weight",
    "--ring-weight": "ring_weight",
    "--contrast-reference": "contrast_reference",
    "--speed-reference": "speed_reference",
    "--init": "init",
    "--decoder-only": "decoder_only",
    "--widen-decoder": "widen_decoder",
    "--latents-like": "latents_like",
    "--steps": "steps",
    "--batch": "batch",
    "--frames": "frames",
    "--size": "size",
    "--lr": "lr",
    "--warmup": "warmup",
    "--kl-weight": "kl_weight",
    "--device": "device",
    "--bf16": "bf16",
    "--seed": "seed",
    "--log-every": "log_every",
    "--time-budget": "time_budget_s",
    "--eval-clips": "eval_clips",
    "--stats-clips": "stats_clips",
    "--crop": "crop",
    "--checkpoint-every": "checkpoint_every_s",
}
# flag (or positional) -> the EmbeddedRecipe field it sets
EMBEDDED_FLAGS: dict[str, str] = {
    "--out": "out",
    "--device": "device",
    "--seed": "seed",
    "--clips": "clips",
    "--continuation-clips": "continuation_clips",
    "--switch-clips": "switch_clips",
    "--vae-clips": "vae_clips",
    "--vae-steps": "vae_steps",
    "--vae-seconds": "vae_seconds",
    "--vae-batch": "vae_batch",
    "--dit-steps": "dit_steps",
    "--dit-seconds": "dit_seconds",
    "--config": "config",
    "--vae-from": "vae_from",
    "--vae-init": "vae_init",
    "--init-from": "init_from",
    "overrides": "overrides",
}


def _vae_extra() -> dict[str, dict]:
    """What a field's type does not say."""
    from sanavideo.train.recipe_args import VAE_PRESETS

    return {
        "preset": {"choices": sorted(VAE_PRESETS)},
        "frames": {"type": int, "nargs": "+"},
        "bf16": {"action": argparse.BooleanOptionalAction},
        "decoder_only": {"action": "store_true"},
    }


EMBEDDED_EXTRA = {"overrides": {"nargs": "*", "type": str, "metavar": "key=value"}}


def _add_flags(p: argparse.ArgumentParser, flags: dict[str, str], cls: type, extra: dict[str, dict]) -> None:
    from sanavideo.cli.fields import add_field_argument

    for flag, name in flags.items():
        kwargs = dict(extra.get(name, {}))
        if flag.startswith("--") and flag[2:].replace("-", "_") != name:  # --time-budget sets time_budget_s
            kwargs.update(dest=name, metavar=flag[2:].upper().replace("-", "_"))
        add_field_argument(p, flag, cls, name, **kwargs)


def register(sub: argparse._SubParsersAction) -> None:
    from sanavideo.train.recipe_args import EmbeddedRecipe, VAETrainArgs

    summary = "train the small causal Wan VAE on the shapes world"
    p = sub.add_parser("train-vae", help=summary, description=VAETrainArgs.__doc__)
    _add_flags(p, VAE_FLAGS, VAETrainArgs, _vae_extra())
    p.set_defaults(func=run_vae)

    summary = "the embedded model's recipe: VAE, latent cache, transformer"
    p = sub.add_parser(
        "train-embedded",
        help=summary,
        description=inspect.cleandoc(EmbeddedRecipe.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_flags(p, EMBEDDED_FLAGS, EmbeddedRecipe, EMBEDDED_EXTRA)
    p.set_defaults(func=run_embedded)


def vae_args(ns: argparse.Namespace):
    """The `VAETrainArgs` of a parsed `train-vae` command line."""
    from sanavideo.cli.fields import from_args
    from sanavideo.train.recipe_args import VAETrainArgs

    return from_args(VAETrainArgs, ns, frames=tuple(ns.frames))


def embedded_recipe(ns: argparse.Namespace):
    """The `EmbeddedRecipe` of a parsed `train-embedded` command line."""
    from sanavideo.cli.fields import from_args
    from sanavideo.train.recipe_args import EmbeddedRecipe

    return from_args(EmbeddedRecipe, ns, overrides=list(ns.overrides))


def run_vae(ns: argparse.Namespace) -> int:
    from sanavideo.train.vae import train_vae

    train_vae(vae_args(ns))
    return 0


def run_embedded(ns: argparse.Namespace) -> int:
    import logging

    from sanavideo.train.embedded import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    folder = run(embedded_recipe(ns), log=lambda msg: print(msg, flush=True))
    print(f"embedded model written to {folder}", flush=True)
    return 0
