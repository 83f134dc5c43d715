"""`sanavideo eval vae`: PSNR per frame, shapes checks on reconstructions, streamed long clip, decode speed."""

from __future__ import annotations

import json

import numpy as np
import torch

from sanavideo.cli import main
from sanavideo.eval.vae import _to_uint8, object_mask, stream_reconstruct
from sanavideo.train.vae import build_vae, psnr_db, to_model_input


def _vae_folder(tmp_path):
    vae = build_vae("test", seed=0)
    vae.register_to_config(latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    vae.save_pretrained(tmp_path / "vae")
    return tmp_path / "vae"


def test_streamed_reconstruction_equals_one_shot(tmp_path):
    from sanavideo.adapters.vae import load_vae
    from sanavideo.data.shapes import ClipSpec, render

    vae = load_vae(_vae_folder(tmp_path))
    clip = render(ClipSpec("red", "circle", "bounces"), 73, 32)  # 1 + 32 + 32 + 8: a short last piece
    streamed = stream_reconstruct(vae, clip, piece_frames=32, chunk_latents=2)
    with torch.no_grad():
        one_shot = _to_uint8(vae.decode(vae.encode(to_model_input(clip[None], "cpu"))))[0]
    assert streamed.shape == clip.shape
    assert np.abs(streamed.astype(int) - one_shot.astype(int)).max() <= 1  # rounding of equal floats


def test_cli_report(tmp_path, capsys):
    folder = _vae_folder(tmp_path)
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "eval",
                "vae",
                "--model",
                str(folder),
                "--n",
                "3",
                "--frames",
                "9",
                "--long-frames",
                "41",
                "-o",
                str(out),
                "--sheet",
                str(tmp_path / "strip.png"),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    held = report["held_out"]
    assert len(held["psnr_db_per_frame"]) == 9
    assert abs(held["min_frame_psnr_db"] - min(held["psnr_db_per_frame"])) < 1e-3
    assert min(held["clip_psnr_db"]) - 0.01 <= held["psnr_db"] <= max(held["clip_psnr_db"]) + 0.01
    assert held["shapes_ground_truth"]["all"] == 1.0  # rendered clips pass the evaluator
    assert held["shapes_reconstructed"]["all"] < 1.0  # an untrained VAE does not
    failed = held[
        "failed_reconstructions"
    ]  # each with the measured fill ratio of the truth and the reconstruction
    assert failed and all(
        f["fill_ratio_truth"] > 0.4 for f in failed
    )  # rendered shapes fill 0.5-1.0 of their box
    assert all(f["fill_ratio"] != f["fill_ratio_truth"] for f in failed)
    assert report["long_clip"]["frames"] == 41 and "psnr_db_first_20" in report["long_clip"]
    assert report["decode"]["max_abs_diff_vs_one_shot"] < 1e-4 and report["decode"]["frames_per_second"] > 0
    assert (tmp_path / "strip.png").stat().st_size > 0
    assert "held-out: PSNR" in capsys.readouterr().out
    assert psnr_db(0.0) > 90 and abs(float(psnr_db(255.0**2)) - 0.0) < 1e-9
    assert 0 < held["object_psnr_db"] < 60
    assert set(held["region_psnr_db"]) == {"interior", "outline", "ring", "far_background"}


def test_region_masks_partition_the_frame_around_the_object():
    from sanavideo.eval.vae import region_masks

    clip = np.zeros((1, 2, 12, 12, 3), np.uint8)  # black, a white 4x4 square at rows/cols 4..7
    clip[:, :, 4:8, 4:8] = 255
    masks = region_masks(object_mask(clip))
    assert (sum(m.astype(int) for m in masks.values()) == 1).all()  # every pixel in exactly one region
    frame = {name: m[0, 1] for name, m in masks.items()}
    assert frame["interior"].sum() == 4 and frame["interior"][5:7, 5:7].all()
    assert frame["outline"].sum() == 12 and frame["outline"][4, 4]
    assert frame["ring"].sum() == 36 - 16 and frame["ring"][3, 3] and not frame["ring"][2, 5]
    assert frame["far_background"][0, 0] and frame["far_background"].sum() == 144 - 36


def test_object_mask_is_the_rendered_object():
    from sanavideo.data.shapes import ClipSpec, render, shape_mask, trajectory

    spec = ClipSpec("blue", "square", "right", background="white")
    clip = render(spec, 5, 64)
    mask = object_mask(clip[None])[0]
    obj = spec.object_size(64)
    x, y = trajectory(spec, 5, 64)[2]
    assert mask[2].sum() == shape_mask("square", 64, obj, x, y).sum() > 0


def test_cli_takes_a_model_folder_and_refuses_bad_frames(tmp_path, capsys):
    folder = _vae_folder(tmp_path)  # --model names the folder holding vae/
    assert (
        main(["eval", "vae", "--model", str(folder.parent), "--frames", "10", "-o", str(tmp_path / "r.json")])
        == 2
    )
    assert "--frames must be 1 + 4k, got 10" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
