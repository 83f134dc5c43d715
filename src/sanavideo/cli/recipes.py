"""`sanavideo train-vae ...` and `sanavideo train-embedded ...`: the shapes VAE trainer and the embedded model's
whole recipe as subcommands. Their arguments are the modules' own (`--help` lists them)."""

from __future__ import annotations

import argparse

RECIPES = {
    "train-vae": ("sanavideo.train.vae", "train the small causal Wan VAE on the shapes world"),
    "train-embedded": (
        "sanavideo.train.embedded",
        "the embedded model's recipe: VAE, latent cache, transformer",
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (module, summary) in RECIPES.items():
        # no arguments of its own: `parse_args` hands every token after the name to the module (`passthrough`)
        p = sub.add_parser(name, help=summary, description=summary, add_help=False)
        p.set_defaults(func=run, module=module, passthrough=[])


def run(args: argparse.Namespace) -> int:
    import importlib

    importlib.import_module(args.module).main(args.passthrough)
    return 0
