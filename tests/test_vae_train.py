"""The small Wan2.1-style VAE: presets keep Wan's strides, and a tiny CPU training run learns and saves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sanavideo.train.vae import VAE_PRESETS, VAETrainArgs, build_vae, render_pool, train_vae


def main(argv: list[str]):
    """`sanavideo train-vae ARGV`, its errors raised rather than printed."""
    from sanavideo.cli import parse_args
    from sanavideo.cli.recipes import vae_args

    return train_vae(vae_args(parse_args(["train-vae", *argv])))


@pytest.mark.parametrize("preset", sorted(VAE_PRESETS))
def test_presets_have_wan_strides(preset):
    vae = build_vae(preset).eval()
    z_dim = VAE_PRESETS[preset]["z_dim"]
    x = torch.zeros(1, 3, 9, 32, 32)  # 9 frames = 4*2 + 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        assert z.shape == (1, z_dim, 3, 4, 4)  # (B, C, (T-1)/4 + 1, H/8, W/8)
        assert vae.decode(z).sample.shape == x.shape


def test_tiny_training_learns_normalises_and_saves(tmp_path, monkeypatch):
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file

    from sanavideo.adapters.wan_norm import FastWanRMSNorm

    fast_norm_calls = [0]
    fast_forward = FastWanRMSNorm.forward

    def counted(self, x):
        fast_norm_calls[0] += 1
        return fast_forward(self, x)

    monkeypatch.setattr(FastWanRMSNorm, "forward", counted)

    args = VAETrainArgs(
        out=str(tmp_path / "vae"),
        render=24,
        preset="test",
        steps=30,
        batch=2,
        frames=9,
        size=32,
        lr=3e-3,
        warmup=3,
        log_every=10,
        eval_clips=4,
        stats_clips=8,
    )
    result = train_vae(args, log=lambda msg: None)
    assert result.steps == 30 and len(result.losses) == 3
    assert fast_norm_calls[0] > 0  # the trainer's VAE runs the fast RMS norms (sanavideo.adapters.wan_norm)
    assert result.fixed_loss_end < 0.9 * result.fixed_loss_start, (
        result.fixed_loss_start,
        result.fixed_loss_end,
    )
    assert np.isfinite(result.psnr_db)
    z_dim = VAE_PRESETS["test"]["z_dim"]
    assert len(result.latents_mean) == len(result.latents_std) == z_dim
    assert all(s > 0 for s in result.latents_std)

    weights = tmp_path / "vae" / "diffusion_pytorch_model.safetensors"
    assert {t.dtype for t in load_file(weights).values()} == {torch.float16}  # saved as fp16 safetensors
    vae = AutoencoderKLWan.from_pretrained(tmp_path / "vae", torch_dtype=torch.float32)
    assert vae.config.latents_mean == pytest.approx(result.latents_mean)
    assert vae.config.latents_std == pytest.approx(result.latents_std)
    report = json.loads((tmp_path / "vae" / "vae_train_report.json").read_text())
    assert report["psnr_db"] == pytest.approx(result.psnr_db) and report["steps"] == 30

    # The normalised posterior means of training clips are roughly zero-mean, unit-std per channel.
    vae = vae.float().eval()
    clips = torch.from_numpy(render_pool(8, 9, 32, seed=args.seed))  # the first training clips
    x = clips.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # (B, T, H, W, 3) -> (B, 3, T, H, W)
    with torch.no_grad():
        mu = vae.encode(x).latent_dist.mean
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    z = (mu - mean) / std
    assert z.mean().abs() < 0.5 and 0.5 < z.std() < 2.0


def test_decoder_only_fine_tuning_keeps_the_latent_space(tmp_path):
    """--decoder-only: the encoder's weights and the latent normalisation are those of --init, bit for bit; the
    decoder trains."""
    from safetensors.torch import load_file

    base = dict(render=12, preset="test", batch=2, frames=9, size=32, warmup=1, eval_clips=2, stats_clips=4)
    train_vae(VAETrainArgs(out=str(tmp_path / "a"), steps=3, **base), log=lambda msg: None)
    train_vae(
        VAETrainArgs(
            out=str(tmp_path / "b"),
            steps=4,
            lr=3e-3,
            seed=1,
            init=str(tmp_path / "a"),
            decoder_only=True,
            **base,
        ),
        log=lambda msg: None,
    )
    a = load_file(tmp_path / "a" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "b" / "diffusion_pytorch_model.safetensors")
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    assert frozen and all(torch.equal(a[k], b[k]) for k in frozen)
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    config_a = json.loads((tmp_path / "a" / "config.json").read_text())
    config_b = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config_b["latents_mean"] == config_a["latents_mean"]
    assert config_b["latents_std"] == config_a["latents_std"]
    with pytest.raises(ValueError, match="give the VAE with --init"):
        train_vae(VAETrainArgs(out=str(tmp_path / "c"), steps=1, decoder_only=True, **base))


def test_latents_like_fits_the_normalisation_to_the_reference(tmp_path):
    """--latents-like REF: latents_mean / latents_std are fitted so that this VAE's normalised latents match REF's.
    With the encoder unchanged (lr 0), the fit returns REF's own statistics; a channel that runs against REF's
    (negative std in REF) is refused."""
    base = dict(render=12, preset="test", batch=2, frames=9, size=32, warmup=1, eval_clips=2, stats_clips=4)
    train_vae(VAETrainArgs(out=str(tmp_path / "ref"), steps=2, **base), log=lambda msg: None)
    config = json.loads((tmp_path / "ref" / "config.json").read_text())
    rng = np.random.default_rng(0)  # REF's statistics moved far from its measured ones
    config["latents_mean"] = (np.array(config["latents_mean"]) + rng.normal(size=4)).tolist()
    config["latents_std"] = (np.array(config["latents_std"]) * rng.uniform(0.5, 2.0, size=4)).tolist()
    (tmp_path / "ref" / "config.json").write_text(json.dumps(config))
    ref = str(tmp_path / "ref")
    result = train_vae(
        VAETrainArgs(out=str(tmp_path / "b"), steps=1, lr=0.0, init=ref, latents_like=ref, **base),
        log=lambda msg: None,
    )
    assert result.latents_mean == pytest.approx(config["latents_mean"], rel=1e-4, abs=1e-4)
    assert result.latents_std == pytest.approx(config["latents_std"], rel=1e-4)

    config["latents_std"][1] *= -1.0
    (tmp_path / "ref" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"latent channels \[1\] of this VAE do not follow"):
        main(
            ["--render", "12", "--preset", "test", "--frames", "9", "--size", "32", "--steps", "1"]
            + ["--eval-clips", "2", "--stats-clips", "4", "--out", str(tmp_path / "c")]
            + ["--init", ref, "--latents-like", ref, "--lr", "0"]
        )
    with pytest.raises(ValueError, match="with --decoder-only the encoder"):
        train_vae(
            VAETrainArgs(out=str(tmp_path / "d"), init=ref, latents_like=ref, decoder_only=True, **base)
        )


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="4k\\+1"):
        main(["--render", "2", "--out", str(tmp_path), "--frames", "8", "--preset", "test"])
    with pytest.raises(ValueError, match="exactly one data source"):
        main(["--out", str(tmp_path), "--preset", "test"])


def test_object_crops_contain_the_object_and_keep_pixels_per_step():
    from sanavideo.train.vae import sample_batch, window_batches

    pool = torch.from_numpy(render_pool(6, 9, 64, seed=3))
    crops = sample_batch(pool, 12, 9, torch.Generator().manual_seed(0), crop=32)
    assert crops.shape == (12, 9, 32, 32, 3)
    mid = crops[:, 4].to(torch.int16)
    on_object = (mid - mid[:, :1, :1]).abs().amax(-1) > 12  # (12, 32, 32)
    assert bool(on_object.flatten(1).any(1).all())  # every crop shows its object
    assert window_batches((17, 33), 8, crop=32, size=64) == [
        (17, 8, 0),
        (33, 4, 0),
        (17, 32, 32),
        (33, 16, 32),
    ]


def test_pixel_weights_mark_the_object_and_its_outline():
    from sanavideo.train.vae import pixel_weights

    x = -torch.ones(1, 3, 2, 12, 12)  # black clip of 2 frames, a white 4x4 square at rows/cols 4..7
    x[:, :, :, 4:8, 4:8] = 1.0
    w = pixel_weights(x, foreground_weight=10.0, edge_weight=5.0)[0, 0, 1]  # (H, W) of frame 1
    assert w.shape == (12, 12)
    assert w[0, 0] == 1.0  # background, far from the object
    assert w[5, 5] == 11.0  # inside, away from the outline
    assert w[4, 4] == 16.0 and w[4, 6] == 16.0  # the object's own outline pixels
    assert w[3, 5] == 6.0 and w[3, 3] == 6.0  # background pixels touching the object
    assert w[2, 5] == 1.0  # two pixels out: background again
    assert torch.equal(
        pixel_weights(x, 10.0)[0, 0, 1], torch.where(w > 10.0, 11.0, 1.0)
    )  # no edge term by default
    ring = pixel_weights(x, 10.0, ring_weight=10.0)[0, 0, 1]
    assert ring[3, 5] == 11.0 and ring[3, 3] == 11.0 and ring[4, 4] == 11.0  # both sides of the outline alike
    assert ring[5, 5] == 11.0 and ring[2, 5] == 1.0 and ring[0, 0] == 1.0


def test_pixel_weights_contrast_reference_equalises_low_contrast_objects():
    from sanavideo.train.vae import pixel_weights

    x = torch.zeros(2, 3, 1, 12, 12)  # two gray clips (0 in [-1, 1])
    x[0, :, :, 4:8, 4:8] = 0.5  # clip 0: a dim square, contrast sqrt(3) * 0.5 = 0.866
    x[1, :, :, 4:8, 4:8] = torch.tensor([1.0, 1.0, -1.0])[:, None, None, None]  # clip 1: contrast sqrt(3)
    plain = pixel_weights(x, 10.0, ring_weight=10.0)
    scaled = pixel_weights(x, 10.0, ring_weight=10.0, contrast_reference=1.5)
    factor = (1.5 / (3**0.5 * 0.5)) ** 2  # 3.0 for the dim square
    assert torch.allclose(scaled[0] - 1.0, (plain[0] - 1.0) * factor)  # extra weights only, the 1 kept
    assert scaled[0, 0, 0, 0, 0] == 1.0 and torch.isclose(
        scaled[0, 0, 0, 5, 5], torch.tensor(1.0 + 10.0 * factor)
    )
    assert torch.equal(scaled[1], plain[1])  # contrast above the reference: never scaled down
    x[0, :, :, 4:8, 4:8] = 0.06  # barely visible: the scale stops at 16
    assert (
        scaled.shape == plain.shape and pixel_weights(x, 10.0, contrast_reference=1.5)[0].max() == 1.0 + 160.0
    )


def test_pixel_weights_speed_reference_weighs_fast_objects_more():
    from sanavideo.train.vae import object_speed, pixel_weights

    x = torch.zeros(3, 3, 5, 16, 16)  # three gray clips of 5 frames
    for t in range(5):
        x[0, :, t, 4:8, 4:8] = 1.0  # clip 0: a still square
        x[1, :, t, 4:8, 2 + t : 6 + t] = 1.0  # clip 1: 1 px per frame to the right
        x[2, :, t, 2 + 3 * t // 2 : 6 + 3 * t // 2, 4:8] = 1.0  # clip 2: down by 1, 2, 1 (and 2) px per frame
    x[2, :, 4] = 0.0  # the object gone from the last frame: that pair does not count
    mask = (x.abs().amax(dim=1, keepdim=True) > 0.05).float()
    assert torch.allclose(object_speed(mask), torch.tensor([0.0, 1.0, 4 / 3]))
    plain = pixel_weights(x, 10.0)
    fast = pixel_weights(x, 10.0, speed_reference=0.5)
    assert torch.equal(fast[0], plain[0])  # still: never scaled down
    assert torch.allclose(fast[1] - 1.0, (plain[1] - 1.0) * 4.0)  # (1 / 0.5)^2, extra weights only
    assert torch.allclose(fast[2] - 1.0, (plain[2] - 1.0) * (4 / 3 / 0.5) ** 2)
    # times the contrast scale (1.5 / sqrt(3))^2 = 0.75 -> at least 1, so 4 for clip 1; the product stops at 16
    assert torch.allclose(pixel_weights(x, 10.0, contrast_reference=1.5, speed_reference=0.5)[1], fast[1])
    assert pixel_weights(x, 10.0, speed_reference=0.1)[1].max() == 1.0 + 160.0
