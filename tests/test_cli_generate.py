"""`sanavideo generate` writes playable videos from a tiny model folder, and nothing on bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.cli import main
from sanavideo.video_io import read_video

FAST = ["--frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def model(tiny_folders, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "model"
    shutil.copytree(tiny_folders["euler"], folder)
    (folder / "sanavideo.json").write_text(json.dumps({"options": {"fps": 12}}))
    return folder


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--help"])
    assert exit_info.value.code == 0
    assert "--prompts-file" in capsys.readouterr().out


def test_generate_mp4(model, tmp_path):
    out = tmp_path / "clip.mp4"
    assert (
        main(["generate", "a red circle moves to the right", "-o", str(out), "--model", str(model), *FAST])
        == 0
    )
    frames, fps = read_video(out)
    assert frames.shape == (5, 32, 32, 3) and fps == pytest.approx(12)  # fps from the model's options


def test_dtype_defaults_to_bf16_where_native(model, tmp_path, monkeypatch):
    """No --dtype: bfloat16 where the device runs it natively, float32 elsewhere; --dtype overrides."""
    import torch

    from sanavideo import device
    from sanavideo.pipeline import SanaVideoPipeline

    seen = []
    original = SanaVideoPipeline.to

    def recording_to(self, device=None, dtype=None):
        seen.append(dtype)
        return original(self, device, dtype)

    monkeypatch.setattr(SanaVideoPipeline, "to", recording_to)
    for native, extra in ((True, []), (False, []), (True, ["--dtype", "float32"])):
        monkeypatch.setattr(device, "native_bf16", lambda _device, native=native: native)
        out = tmp_path / f"clip{len(seen)}.mp4"
        assert main(["generate", "a red circle", "-o", str(out), "--model", str(model), *FAST, *extra]) == 0
        assert out.is_file()
    assert seen == [torch.bfloat16, torch.float32, torch.float32]


def test_chunk_frames_without_stream(model, tmp_path):
    """--chunk-frames outside --stream samples block-causally (the pipeline's chunk_frames)."""
    fast = [*FAST, "--frames", "9"]  # the last --frames wins: 9 frames, 3 latent frames
    videos = []
    for extra in ([], [], ["--chunk-frames", "1"]):  # PNG frames: lossless, so equal runs compare equal
        out = tmp_path / f"run{len(videos)}" / "clip.png"
        out.parent.mkdir()
        assert main(["generate", "a red circle", "-o", str(out), "--model", str(model), *fast, *extra]) == 0
        videos.append(np.stack([np.asarray(Image.open(f)) for f in sorted(out.parent.glob("clip_*.png"))]))
    assert videos[0].shape == (9, 32, 32, 3)
    np.testing.assert_array_equal(videos[0], videos[1])
    assert np.abs(videos[0].astype(int) - videos[2].astype(int)).max() > 0


def test_rollout_flag(model, tmp_path, capsys):
    """--rollout samples chunk by chunk (other frames than the joint block-causal sampler); a model whose
    option turns rollout on samples so by default and --no-rollout turns it off; --sampler with rollout is
    refused."""
    on = tmp_path / "model_rollout"
    shutil.copytree(model, on)
    (on / "sanavideo.json").write_text(json.dumps({"options": {"fps": 12, "rollout": True}}))
    fast = [*FAST, "--frames", "9", "--chunk-frames", "1"]
    runs = {
        "joint": (model, []),
        "rollout": (model, ["--rollout"]),
        "model option": (on, []),
        "switched off": (on, ["--no-rollout"]),
        "off, dpm": (on, ["--no-rollout", "--sampler", "dpm"]),
    }
    videos = {}
    for name, (folder, extra) in runs.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "") / "clip.png"
        out.parent.mkdir()
        assert main(["generate", "a red circle", "-o", str(out), "--model", str(folder), *fast, *extra]) == 0
        videos[name] = np.stack([np.asarray(Image.open(f)) for f in sorted(out.parent.glob("clip_*.png"))])
    assert videos["rollout"].shape == (9, 32, 32, 3)
    assert np.abs(videos["joint"].astype(int) - videos["rollout"].astype(int)).max() > 0
    np.testing.assert_array_equal(videos["model option"], videos["rollout"])
    np.testing.assert_array_equal(videos["switched off"], videos["joint"])
    out = tmp_path / "refused.mp4"
    argv = ["generate", "a red circle", "-o", str(out), "--model", str(model), *fast, "--rollout"]
    assert main([*argv, "--sampler", "dpm"]) != 0
    assert "needs rollout=False" in capsys.readouterr().err and not out.exists()


def test_image_to_video_gif(model, tmp_path):
    image = tmp_path / "first.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    out = tmp_path / "clip.gif"
    args = [
        "generate",
        "a square",
        "-o",
        str(out),
        "--model",
        str(model),
        "--image",
        str(image),
        "--fps",
        "8",
    ]
    assert main([*args, "--sampler", "dpm", "--guidance", "1", *FAST]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 5 and gif.info["duration"] == pytest.approx(125, abs=10)  # GIF stores 1/100 s


def test_prompts_file(model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n\n# skipped\na blue square\n")
    out = tmp_path / "v.mp4"
    assert (
        main(["generate", "--prompts-file", str(prompts), "-o", str(out), "--model", str(model), *FAST]) == 0
    )
    assert sorted(p.name for p in tmp_path.glob("v_*.mp4")) == ["v_000.mp4", "v_001.mp4"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--frames", "6"], "frames must be 4k+1"),
        (["--height", "40"], "multiples of the VAE stride x patch = 16 x 16, got 40x32"),
        (["--guidance", "0.5"], "--guidance must be a finite number >= 1 (1 = no guidance), got 0.5"),
        (["--image", "MISSING.png"], "image file not found"),
        (["-o", "clip.avi"], "must end in one of"),
        (["--model", "NOT_A_MODEL"], "model path does not exist"),
    ],
)
def test_bad_input_writes_nothing(model, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = ["generate", "a red circle", "-o", "clip.mp4", "--model", str(model), *FAST, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
