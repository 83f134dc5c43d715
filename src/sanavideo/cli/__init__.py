"""The `sanavideo` command line: one subcommand per module in this package.

Each subcommand module defines `register(subparsers)` (adds its parser and sets `func`) and keeps its heavy
imports inside the function that runs it, so `sanavideo --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = ["convert", "generate", "train", "precompute", "plot_loss", "eval", "recipes", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sanavideo", description="SANA-Video: efficient video generation")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"sanavideo.cli.{name}").register(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # argparse gives a positional list (`key=value` overrides) only the tokens before the first flag; the rest
    # of them arrive here, e.g. `train --config X --resume lr=1 data.batch_size=2`.
    if extras and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extras):
        args.overrides = [*args.overrides, *extras]
    elif extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: writers delete their temporary files


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    # bad input, or a file we cannot read or write (missing, permissions)
    except (ValueError, OSError) as err:
        print(f"sanavideo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sanavideo {args.command}: interrupted; nothing partial was written", file=sys.stderr)
        return 130
