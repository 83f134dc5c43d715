"""The `sanavideo` command line: one subcommand per module in this package.

Each subcommand module defines `register(subparsers)` (adds its parser and sets `func`) and keeps its heavy
imports inside the function that runs it, so `sanavideo --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = ["convert", "generate", "train", "precompute", "plot_loss", "eval"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sanavideo", description="SANA-Video: efficient video generation")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"sanavideo.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"sanavideo {args.command}: error: {err}", file=sys.stderr)
        return 2
