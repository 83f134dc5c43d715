"""Flags that mirror dataclass fields take their type, default and help from the field (sanavideo.cli.fields): every
mirrored field is documented, the flag shows that documentation, and no flag's default drifts from the field's
(or from None, "the model's", for the per-request options of `generate`)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from sanavideo.cli import build_parser
from sanavideo.cli.fields import add_field_argument, add_field_arguments, field_default, field_doc, from_args
from sanavideo.cli.generate import OPTION_FLAGS, STREAM_FLAGS, SWITCH_FLAGS
from sanavideo.cli.precompute import FLAGS as PRECOMPUTE_FLAGS
from sanavideo.cli.recipes import EMBEDDED_FLAGS, VAE_FLAGS, embedded_recipe, vae_args
from sanavideo.data.precompute_args import PrecomputeArgs
from sanavideo.demo.limits import DemoLimits
from sanavideo.eval.requests import EvalRequest, VAEReportRequest
from sanavideo.options import PipelineOptions
from sanavideo.train.recipe_args import EmbeddedRecipe, VAETrainArgs

# subcommands whose mirrored flags default to None: the model's value of the field, picked per request
MODEL_DEFAULTS = {"generate"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return dict(parser._subparsers._group_actions[0].choices)


def _mirrored() -> list[tuple[str, argparse.Action]]:
    return [
        (name, action)
        for name, sub in _subparsers().items()
        for action in sub._actions
        if hasattr(action, "mirrors")
    ]


def test_the_flags_that_mirror_fields_are_made_from_them():
    flags = {name: {a.dest for n, a in _mirrored() if n == name} for name in _subparsers()}
    assert flags["generate"] == {
        flag[2:].replace("-", "_") for flag in [*OPTION_FLAGS, *STREAM_FLAGS, *SWITCH_FLAGS]
    }
    assert flags["demo"] == {f.name for f in dataclasses.fields(DemoLimits)}
    assert flags["precompute"] == set(PRECOMPUTE_FLAGS.values())
    assert flags["eval"] == {"n", "long_frames", "long_clips", "seed", "frames", "mode"}
    assert flags["train-vae"] == set(VAE_FLAGS.values())
    assert flags["train-embedded"] == set(EMBEDDED_FLAGS.values())


@pytest.mark.parametrize("command,action", _mirrored(), ids=lambda x: getattr(x, "dest", x))
def test_a_mirrored_flag_has_its_fields_doc_and_default(command, action):
    for cls, name in action.mirrors:
        doc = field_doc(cls, name)  # raises when the field has no documentation
        assert doc.replace("%", "%%") in action.help
    cls, name = action.mirrors[0]
    defaults = [field_default(c, n) for c, n in action.mirrors]
    if command in MODEL_DEFAULTS:
        assert action.default is None, f"{command} {action.option_strings}: None is the model's default"
        assert "the model's" in action.help
    elif action.default_per_field:  # e.g. eval --n: 12 prompts per split for shapes, 32 clips for vae
        assert action.default is None
        assert all(f"(default: {d})" in action.help for d in defaults)
    elif field_default(cls, name) is dataclasses.MISSING:
        assert action.required, f"{command} {action.option_strings}: {cls.__name__}.{name} has no default"
    else:  # one default for all the fields the flag sets (e.g. eval --frames: shapes and vae)
        assert defaults == [action.default] * len(defaults), f"{command} {action.option_strings}"
    hint = type(field_default(cls, name))
    if action.type is not None and hint in (int, float):
        assert action.type is hint  # e.g. --guidance is a float like guidance_scale


@pytest.mark.parametrize(
    "cls",
    [
        PipelineOptions,
        DemoLimits,
        PrecomputeArgs,
        EvalRequest,
        VAEReportRequest,
        VAETrainArgs,
        EmbeddedRecipe,
    ],
)
def test_every_option_field_is_documented(cls):
    for f in dataclasses.fields(cls):
        assert field_doc(cls, f.name)


def test_help_lists_the_docs(capsys):
    from sanavideo.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "most sampling steps of one request (default: 50)" in out
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"{field_doc(PipelineOptions, 'frames')} (default: the model's)" in out


def test_the_recipes_flags_default_to_their_dataclasses():
    # no flag given: the recipe runs with the dataclass's own defaults (also those of the fields with no flag)
    from sanavideo.cli import parse_args

    assert vae_args(parse_args(["train-vae", "--out", "o"])) == VAETrainArgs(out="o")
    assert embedded_recipe(parse_args(["train-embedded"])) == EmbeddedRecipe()
    ns = parse_args(["train-vae", "--out", "o", "--frames", "17", "33", "--time-budget", "9", "--no-bf16"])
    assert vae_args(ns) == VAETrainArgs(out="o", frames=(17, 33), time_budget_s=9.0, bf16=False)
    ns = parse_args(["train-embedded", "a=1", "--vae-from", "v", "--dit-seconds", "5", "b=2"])
    assert embedded_recipe(ns) == EmbeddedRecipe(vae_from="v", dit_seconds=5.0, overrides=["a=1", "b=2"])
    with pytest.raises(SystemExit):  # --out has no default
        parse_args(["train-vae"])


def test_the_recipes_help_lists_the_docs(capsys):
    from sanavideo.cli import main

    recipes = [("train-vae", VAETrainArgs, VAE_FLAGS), ("train-embedded", EmbeddedRecipe, EMBEDDED_FLAGS)]
    for command, cls, flags in recipes:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = "".join(capsys.readouterr().out.split())  # no whitespace: help text wraps at hyphens too
        for flag, name in flags.items():
            default = field_default(cls, name)
            shown = "" if default in (None, [], dataclasses.MISSING) else f"(default:{default})"
            assert "".join(field_doc(cls, name).split()) + shown in out, (command, flag)
            assert flag in out if flag.startswith("-") else "key=value" in out


def test_the_helper():
    @dataclasses.dataclass
    class Args:
        path: str = dataclasses.field(metadata={"help": "where"})
        rate: float = dataclasses.field(default=0.5, metadata={"help": "a 50% rate"})
        count: int | None = dataclasses.field(default=None, metadata={"help": "how many"})
        bare: int = 3

    parser = argparse.ArgumentParser()
    add_field_argument(parser, "--path", Args, "path")
    add_field_argument(parser, "--rate", Args, "rate")
    add_field_argument(parser, "--count", Args, "count", model_default=True)
    with pytest.raises(TypeError, match="Args.bare has no documentation"):
        add_field_argument(parser, "--bare", Args, "bare")
    with pytest.raises(TypeError, match="Args.bare has no documentation"):
        add_field_arguments(argparse.ArgumentParser(), Args)
    assert "a 50% rate (default: 0.5)" in " ".join(parser.format_help().split())
    with pytest.raises(SystemExit):  # no default: a required flag
        parser.parse_args([])
    args = parser.parse_args(["--path", "p", "--count", "2"])
    assert (args.rate, args.count) == (0.5, 2) and isinstance(args.count, int)
    assert from_args(Args, args, bare=4) == Args(path="p", rate=0.5, count=2, bare=4)

    @dataclasses.dataclass
    class Other:
        clips: int = dataclasses.field(default=32, metadata={"help": "clips"})

    parser = argparse.ArgumentParser()
    action = add_field_argument(
        parser, "--n", Args, "count", context="a", also=[("b", Other, "clips")], default_per_field=True
    )
    assert action.mirrors == [(Args, "count"), (Other, "clips")] and action.default is None
    assert "a: how many (default: None); b: clips (default: 32)" in " ".join(parser.format_help().split())


def test_building_the_parser_loads_no_torch():
    # the option dataclasses are read for --help; `sanavideo --help` must not pay for importing torch
    code = "import sys; from sanavideo.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
