"""Every `sanavideo` subcommand answers --help, and `python -m sanavideo` is the same program."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sanavideo.cli import SUBCOMMANDS, build_parser, main

NAMES = sorted(build_parser()._subparsers._group_actions[0].choices)


def test_every_module_is_a_subcommand():
    assert len(NAMES) == len(SUBCOMMANDS) + 1  # `recipes` registers two
    assert {"generate", "train", "convert", "eval", "train-vae", "train-embedded"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert name in capsys.readouterr().out


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "sanavideo", "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in out.stdout


def test_train_overrides_on_both_sides_of_flags_and_resume_takes_no_value(capsys):
    from sanavideo.cli import parse_args

    ns = parse_args(["train", "--config", "c.yaml", "max_steps=3", "--resume", "output_dir=x", "optim.lr=1"])
    assert ns.overrides == ["max_steps=3", "output_dir=x", "optim.lr=1"] and ns.resume == "auto"
    ns = parse_args(
        ["train", "--config", "c.yaml", "--resume-from", "runs/a/checkpoints/step-00000010", "seed=2"]
    )
    assert ns.resume_from.endswith("step-00000010") and ns.overrides == ["seed=2"] and ns.resume is None
    with pytest.raises(SystemExit):
        parse_args(["train", "--config", "c.yaml", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_recipe_subcommands_hand_their_arguments_to_the_recipe(tmp_path, capsys, one_thread):
    with pytest.raises(SystemExit) as done:
        main(["train-embedded", "--help"])
    assert done.value.code == 0 and "--vae-seconds" in capsys.readouterr().out
    out = tmp_path / "vae"
    argv = [
        "train-vae",
        "--out",
        str(out),
        "--render",
        "2",
        "--preset",
        "test",
        "--steps",
        "2",
        "--frames",
        "5",
        "--size",
        "32",
        "--eval-clips",
        "2",
        "--stats-clips",
        "2",
        "--batch",
        "2",
        "--log-every",
        "1",
    ]
    assert main(argv) == 0
    assert (out / "config.json").is_file() and (out / "vae_train_report.json").is_file()
    assert main(["train-vae", "--out", str(out), "--render", "2", "--frames", "6"]) == 2  # its own checks
    assert "--frames must be 4k+1" in capsys.readouterr().err
