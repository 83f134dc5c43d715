"""A catalogue of bad inputs: each is refused up front with exit code 2 (never a traceback), a message naming
the input and what it should be, and nothing written (or the old file kept intact).

Issue 11 of the tracker lists the cases; this file grows with them.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.cli import main

FAST = ["--frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def model(tiny_folders, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("bad") / "model"
    shutil.copytree(tiny_folders["euler"], folder)
    return folder


GENERATE_CASES = [
    (["--guidance", "inf"], "--guidance must be a finite number >= 1 (1 = no guidance), got inf"),
    (["--guidance", "nan"], "--guidance must be a finite number >= 1 (1 = no guidance), got nan"),
    (["--fps", "0.0001"], "--fps must be a number from 1 to 240, got 0.0001"),
    (["--fps", "nan"], "--fps must be a number from 1 to 240, got nan"),
    (["--fps", "inf"], "--fps must be a number from 1 to 240, got inf"),
    (["--seed", "-1"], "--seed must be from 0 to 2**63 - 1"),
    (["--seed", str(2**64)], "--seed must be from 0 to 2**63 - 1"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--stream", "--chunk-frames", "0"], "--chunk-frames must be >= 1, got 0"),
    (["--stream", "--window", "-2"], "--window must be >= 1, got -2"),
    (["--device", "bogus"], "unknown device 'bogus'; expected auto, cpu, cuda or cuda:N"),
    pytest.param(
        ["--device", "cuda"],
        "requested but no CUDA GPU is available here",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
    ),
]


@pytest.mark.parametrize(
    "extra, message",
    GENERATE_CASES,
    ids=[" ".join(c.values[0] if hasattr(c, "values") else c[0]) for c in GENERATE_CASES],
)
def test_generate_refuses_bad_numbers(model, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "a red circle", "-o", "clip.mp4", "--model", str(model), *FAST, *extra]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_prompts(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "   ", "-o", "clip.mp4", "--model", str(model), *FAST]) == 2
    assert "the prompt is empty or only whitespace ('   ')" in capsys.readouterr().err
    (tmp_path / "prompts.txt").write_bytes(b"a red circle\n\xff\xfe bad bytes\n")
    assert (
        main(["generate", "--prompts-file", "prompts.txt", "-o", "v.mp4", "--model", str(model), *FAST]) == 2
    )
    assert "prompts file prompts.txt is not UTF-8 text" in capsys.readouterr().err
    (tmp_path / "ok.txt").write_text("a red circle\na blue square\n")
    assert (
        main(
            [
                "generate",
                "--prompts-file",
                "ok.txt",
                "--seed",
                str(2**63 - 1),
                "-o",
                "v.mp4",
                "--model",
                str(model),
                *FAST,
            ]
        )
        == 2
    )  # seed + 1 would overflow: refused before the first video
    assert "--seed must be from 0 to 2**63 - 2" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.txt", "prompts.txt"]


def test_outputs_that_cannot_be_written(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.mp4").mkdir()
    assert main(["generate", "a red circle", "-o", "folder.mp4", "--model", str(model), *FAST]) == 2
    assert "output folder.mp4 is a directory; expected a file path" in capsys.readouterr().err
    (tmp_path / "afile").write_text("keep me")
    assert main(["generate", "a red circle", "-o", "afile/clip.mp4", "--model", str(model), *FAST]) == 2
    assert "cannot write afile/clip.mp4: afile is a file, not a directory" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "keep me" and list((tmp_path / "folder.mp4").iterdir()) == []


WRONG_TYPES = [
    (
        "sanavideo.json",
        {"options": {"guidance_scale": "3"}},
        "sanavideo.json: PipelineOptions.guidance_scale must be float, got '3' (str)",
    ),
    (
        "sanavideo.json",
        {"options": {"stream_fresh_noise": "yes"}},
        "sanavideo.json: PipelineOptions.stream_fresh_noise must be bool, got 'yes' (str)",
    ),
    (
        "sanavideo.json",
        {"options": {"frames": 33.5}},
        "sanavideo.json: PipelineOptions.frames must be int, got 33.5",
    ),
    (
        "sanavideo.json",
        {"sampler": {"name": "dpm", "flow_shift": "3"}},
        "sanavideo.json: SamplerConfig.flow_shift must be float, got '3' (str)",
    ),
    (
        "sanavideo.json",
        {"sampler": {"nme": "dpm"}},
        "sanavideo.json: SamplerConfig.__init__() got an unexpected",
    ),
    (
        "transformer/config.json",
        {"num_layers": "2"},
        "transformer/config.json: ModelConfig.num_layers must be int, got '2' (str)",
    ),
    (
        "transformer/config.json",
        {"patch_size": [1, 2]},
        "transformer/config.json: ModelConfig.patch_size must be tuple[int, int, int], got (1, 2)",
    ),
]


@pytest.mark.parametrize("name, change, message", WRONG_TYPES, ids=[f"{n} {c}" for n, c, _ in WRONG_TYPES])
def test_model_files_with_wrong_types_name_the_file_and_field(model, tmp_path, capsys, name, change, message):
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    path = broken / name
    data = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**data, **change}))
    assert (
        main(["generate", "a red circle", "-o", str(tmp_path / "c.mp4"), "--model", str(broken), *FAST]) == 2
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.mp4").exists()


def test_model_config_that_is_not_json_names_the_file(model, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "sanavideo.json").write_text("{not json")
    assert (
        main(["generate", "a red circle", "-o", str(tmp_path / "c.mp4"), "--model", str(broken), *FAST]) == 2
    )
    assert "sanavideo.json" in capsys.readouterr().err
    assert not (tmp_path / "c.mp4").exists()
    json.loads((model / "model_index.json").read_text())  # the original is untouched


def test_api_refuses_fractional_sizes_and_non_finite_latents(model):
    import torch

    from sanavideo.pipeline import SanaVideoPipeline

    pipe = SanaVideoPipeline.from_pretrained(model)
    with pytest.raises(ValueError, match="frames must be a whole number, got 5.7"):
        pipe("a red circle", frames=5.7, height=32, width=32, num_inference_steps=1)
    with pytest.raises(ValueError, match="height must be a whole number, got '32'"):
        pipe.check_size(height="32")
    assert pipe.check_size(32, 32, 5.0).frames == 5  # a whole float is fine
    shape = (1, *pipe.check_size(32, 32, 5, use_resolution_binning=False).latent_shape)
    bad = torch.zeros(shape)
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="latents must be finite; got 1 NaN/inf values"):
        pipe(
            "a red circle",
            frames=5,
            height=32,
            width=32,
            num_inference_steps=1,
            latents=bad,
            use_resolution_binning=False,
        )


def test_stream_switch_past_the_end(tmp_path, capsys):
    out = tmp_path / "s.mp4"
    assert (
        main(
            [
                "generate",
                "a red circle",
                "--stream",
                "--frames",
                "33",
                "--switch",
                "40:a blue square",
                "-o",
                str(out),
            ]
        )
        == 2
    )  # the embedded model streams
    assert (
        "--switch at frame 40 is past the end of the 33-frame video (switch frames go from 1 to 32)"
        in capsys.readouterr().err
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_training_config_syntax_errors_name_the_file(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("output_dir: runs/x\nmodel: [unclosed\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config} is not valid YAML" in err and "<unicode string>" not in err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "training config not found" in capsys.readouterr().err
    assert main(["train", "--config", str(config), "optim.lr=[1"]) == 2
    assert list(tmp_path.iterdir()) == [config]


def test_eval_output_is_checked_before_the_work(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main(["eval", "shapes", "--n", "1", "-o", str(tmp_path / "out")]) == 2
    assert f"output {tmp_path / 'out'} is a directory; expected a .json file path" in capsys.readouterr().err
    assert main(["eval", "vae", "-o", str(tmp_path / "r.json"), "--sheet", str(tmp_path / "out")]) == 2
    assert "expected a .png file path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "out"]


def test_undecodable_prompt(model, tmp_path, capsys):
    bad = b"a red \xff circle".decode("utf-8", "surrogateescape")  # what argv holds for invalid UTF-8
    assert main(["generate", bad, "-o", str(tmp_path / "c.mp4"), "--model", str(model), *FAST]) == 2
    assert "the prompt is not valid UTF-8 text" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder(model, tmp_path, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert (
            main(["generate", "a red circle", "-o", str(locked / "c.mp4"), "--model", str(model), *FAST]) == 2
        )
        assert "Permission denied" in capsys.readouterr().err
    finally:
        os.chmod(locked, 0o700)
    assert list(locked.iterdir()) == []


def test_huge_frames_are_refused_up_front_with_the_estimate(model, tmp_path, capsys):
    out = tmp_path / "c.mp4"
    args = ["generate", "a red circle", "-o", str(out), "--model", str(model), *FAST, "--frames", "40000001"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        "40000001 frames at 32x32 need about" in err
        and "GiB are available on cpu" in err
        and "--stream" in err
    )
    assert not out.exists()


# (argv, message): each refused with exit code 2, the message naming the input and the expected form, and no
# file written into the working folder (which holds only the inputs below).
MODEL_FREE_CASES = [
    (["generate", "a red circle", "--switch", "abc", "--stream"], "--switch must look like FRAME:PROMPT"),
    (
        ["generate", "a red circle", "--switch", "0:x", "--stream"],
        "--switch frame must be >= 1 (frame 0 is the main",
    ),
    (["generate", "a red circle", "--switch", "10:x"], "--switch needs --stream"),
    (["generate", "a red circle", "--image", "notimage.png"], "cannot read image notimage.png"),
    (["generate", "a red circle", "--image", "missing.png"], "image file not found: missing.png"),
    (["generate", "a", "--prompts-file", "empty.txt"], "give either a PROMPT or --prompts-file, not both"),
    (["generate", "--prompts-file", "empty.txt"], "empty.txt contains no prompts"),
    (["generate", "--prompts-file", "missing.txt"], "prompts file not found: missing.txt"),
    (["generate"], "give a PROMPT or --prompts-file FILE"),
    (
        ["generate", "a red circle", "--frames", "6"],
        "frames must be 4k+1 for this VAE (temporal stride 4), got 6",
    ),
    (["generate", "a red circle", "-o", "clip.avi"], "output 'clip.avi' must end in one of"),
    (["generate", "a red circle", "--model", "nowhere"], "nowhere"),
    (["convert", "missing.pth", "out", "--to", "diffusers"], "no such checkpoint: missing.pth"),
    (["convert", "notckpt", "out", "--to", "diffusers"], "notckpt is not a SANA-Video model"),
    (["convert", "ok.yaml", "out", "--to", "diffusers"], "ok.yaml: expected a weight file ending in one of"),
    (["train", "--config", "ok.yaml", "foo"], "override 'foo' must look like key=value"),
    (["train", "--config", "ok.yaml", "bogus_key=1"], "unknown config key(s) ['bogus_key']"),
    (["train", "--config", "ok.yaml", "max_steps=abc"], "max_steps must be an integer, got 'abc'"),
    (["train", "--config", "ok.yaml", "optim.lr=-1"], "optim.lr must be a positive number, got -1"),
    (["train", "--config", "ok.yaml", "optim.lr=.nan"], "optim.lr must be a positive number, got nan"),
    (["train", "--config", "ok.yaml", "optim.grad_clip=-1"], "optim.grad_clip must be >= 0 (0: off), got -1"),
    (["train", "--config", "ok.yaml", "data.num_frames=8"], "data.num_frames must be 4k+1, got 8"),
    (["train", "--config", "ok.yaml", "data.batch_size=0"], "data.batch_size must be >= 1, got 0"),
    (["train", "--config", "ok.yaml", "optim.ema_decay=1"], "optim.ema_decay must be in [0, 1), got 1.0"),
    (["train", "--config", "ok.yaml", "optim.ema_start=-1"], "optim.ema_start must be >= 0, got -1"),
    (
        ["train", "--config", "ok.yaml", "optim.ema_warmup=maybe"],
        "optim.ema_warmup must be true or false, got",
    ),
    (
        ["train", "--config", "ok.yaml", "objective.caption_dropout=2"],
        "objective.caption_dropout must be in [0, 1], got 2",
    ),
    (
        ["train", "--config", "ok.yaml", "objective.shared_prob=1.5"],
        "objective.shared_prob must be in [0, 1], got 1.5",
    ),
    (
        ["train", "--config", "ok.yaml", "--resume", "--resume-from", "notckpt"],
        "give --resume (latest checkpoint) or",
    ),
    (
        ["train", "--config", "ok.yaml"],
        "no training data: set data.cache_dir, data.video_dirs or data.synthetic",
    ),
    (["eval", "shapes", "--n", "0"], "--n must be >= 1, got 0"),
    (["eval", "vae", "--frames", "10"], "--frames must be 1 + 4k, got 10"),
    (
        ["eval", "shapes", "--frames", "10", "--n", "1"],
        "frames must be 4k+1 for this VAE (temporal stride 4), got 10",
    ),
]


@pytest.mark.parametrize("argv, message", MODEL_FREE_CASES, ids=[" ".join(a) for a, _ in MODEL_FREE_CASES])
def test_cli_catalogue(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notimage.png").write_text("not an image")
    (tmp_path / "ok.yaml").write_text("output_dir: runs/x\ndevice: cpu\n")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "notckpt").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, nothing removed


CONVERT_BROKEN = [
    ("missing", "missing keys ['blocks.0.attn.proj.weight']"),
    ("unexpected", "unexpected keys ['extra.weight']"),
    ("mis-shaped", "mis-shaped keys [final_layer.linear.weight: checkpoint (3, 3) vs model (16, 32)]"),
]


@pytest.mark.parametrize("fault, message", CONVERT_BROKEN, ids=[f for f, _ in CONVERT_BROKEN])
def test_convert_refuses_a_checkpoint_that_does_not_match_the_architecture(tmp_path, capsys, fault, message):
    from safetensors.torch import save_file

    from sanavideo.config import get_preset
    from sanavideo.model import SanaVideoTransformer

    state = {k: v.contiguous() for k, v in SanaVideoTransformer(get_preset("tiny")).state_dict().items()}
    if fault == "missing":
        del state["blocks.0.attn.proj.weight"]
    elif fault == "unexpected":
        state["extra.weight"] = torch.zeros(2)
    else:
        state["final_layer.linear.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "broken.safetensors"))
    for to, out in (("diffusers", tmp_path / "out"), ("original", tmp_path / "out.pth")):
        argv = ["convert", str(tmp_path / "broken.safetensors"), str(out), "--to", to, "--config", "tiny"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "broken.safetensors: state dict does not match the model" in err and message in err
        assert not out.exists()


def test_resume_from_another_models_checkpoint(tmp_path, capsys):
    import yaml

    def config(path, layers):
        path.write_text(
            yaml.safe_dump(
                {
                    "output_dir": str(tmp_path / "run"),
                    "max_steps": 1,
                    "log_every": 1,
                    "export": False,
                    "device": "cpu",
                    "model": {"preset": "tiny", "overrides": {"num_layers": layers}},
                    "data": {"synthetic": {"num_samples": 4, "num_classes": 2}, "batch_size": 2},
                }
            )
        )
        return path

    assert main(["train", "--config", str(config(tmp_path / "a.yaml", 2))]) == 0
    assert main(["train", "--config", str(config(tmp_path / "b.yaml", 3)), "max_steps=2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "does not fit this run's model" in err and "Traceback" not in err
