"""Run arguments: YAML is data validated against the dataclasses; every shipped config loads; the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanavideo.cli import main
from sanavideo.train.args import TrainArgs, load_args, save_args

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")) + [
    Path(__file__).resolve().parents[1]
    / "src"
    / "sanavideo"
    / "train"
    / "embedded-shapes.yaml"  # package data
]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path):
    args = load_args(path)
    assert args.max_steps > 0
    if args.model.preset:
        from sanavideo.config import get_preset

        get_preset(args.model.preset).replace(**args.model.overrides)


def test_configs_exist():
    assert {p.name for p in CONFIGS} >= {
        "tiny-synthetic.yaml",
        "sana-video-2b-480p.yaml",
        "sana-video-2b-480p-lora.yaml",
        "embedded-shapes.yaml",
    }


def test_unknown_key_is_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_steps: 5\noptim:\n  lr: 1e-4\n  lerning_rate: 3\n")
    with pytest.raises(ValueError, match=r"optim\.lerning_rate"):
        load_args(cfg)
    cfg.write_text("max_step: 5\n")
    with pytest.raises(ValueError, match="max_step"):
        load_args(cfg)
    assert main(["train", "--config", str(cfg)]) == 2


def test_types_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lr: 1e-4\n  betas: [0.9, 0.99]\n")
    args = load_args(cfg, ["optim.warmup_steps=7", "data.batch_size=3", "objective.chunk_frames=[2, 3]"])
    assert args.optim.lr == 1e-4 and args.optim.betas == (0.9, 0.99) and args.optim.warmup_steps == 7
    assert args.data.batch_size == 3 and args.objective.chunk_frames == [2, 3]
    with pytest.raises(ValueError, match=r"data\.batch_size must be an integer, got 'two'"):
        load_args(cfg, ["data.batch_size=two"])
    with pytest.raises(ValueError, match="num_frames must be 4k\\+1, got 80"):
        load_args(None, ["data.num_frames=80"])
    with pytest.raises(ValueError, match="key=value"):
        load_args(None, ["lr"])
    with pytest.raises(ValueError, match=r"optim\.decay_steps must be 0 .*warmup_steps \(7\), got 7"):
        load_args(cfg, ["optim.warmup_steps=7", "optim.decay_steps=7"])
    with pytest.raises(ValueError, match=r"optim\.final_lr_ratio must be in \[0, 1\], got 1.5"):
        load_args(cfg, ["optim.final_lr_ratio=1.5"])
    # the saved form loads back to the same arguments
    save_args(args, tmp_path / "saved.yaml")
    assert load_args(tmp_path / "saved.yaml") == args
    assert TrainArgs.from_dict(args.to_dict()) == args


@pytest.mark.parametrize("command", ["train", "precompute", "plot-loss"])
def test_cli_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_cli_train_runs_with_flags(tmp_path):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            str(Path(__file__).resolve().parents[1] / "configs" / "tiny-synthetic.yaml"),
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--lora-rank",
            "2",
            "--device",
            "cpu",
            "data.batch_size=2",
            "log_every=1",
            "export=false",
        ]
    )
    assert code == 0
    assert load_args(out / "config.yaml").lora.rank == 2
    assert (out / "checkpoints" / "step-00000002").is_dir()
