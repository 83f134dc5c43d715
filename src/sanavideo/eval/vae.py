"""How well a video VAE reconstructs the shapes world: `sanavideo eval vae [--model PATH]`.

Measures, on clips the VAE never saw (held-out colour/shape/motion combinations, a fresh seed):
- reconstruction PSNR (8-bit scale) per frame index over `frames`-long clips, its mean, and the PSNR over the
  object's pixels alone (a VAE that paints the background and loses the object can still score 22 dB overall),
  and per region (`region_masks`: the object's interior and outline, the background ring around it, the rest);
- the shapes evaluator (`sanavideo.eval.shapes`) on the ground-truth clips and on their reconstructions
  (colour, shape, motion, one object, ...), so a VAE that loses the object or its motion shows up as failures;
- one long clip (961 frames = 60 s) encoded and decoded in streaming mode (piece by piece through the causal
  cache, as `generate --stream` decodes): PSNR of its first and last 100 frames, to show drift;
- streaming decode speed at the clips' size (chunks of `chunk_latents` latent frames, best of 3) and its
  largest difference from a one-shot decode.
Everything goes into one JSON-able dict; `strip_png` draws ground truth over reconstruction.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from sanavideo.adapters.vae import WanVAE
from sanavideo.adapters.wan_causal import WanCausalDecoder, WanCausalEncoder
from sanavideo.eval.requests import VAEReportRequest
from sanavideo.pixels import to_uint8
from sanavideo.train.vae import dilate_erode, psnr_db, to_model_input


def _to_uint8(video: torch.Tensor) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    return to_uint8(video).permute(0, 2, 3, 4, 1).numpy()


def reconstruct(vae: WanVAE, clips: np.ndarray) -> np.ndarray:
    """uint8 clips (B, T, H, W, 3) -> the VAE's reconstructions, uint8 (B, T, H, W, 3): one `encode` and one
    `decode` call on CPU, without gradients."""
    with torch.no_grad():
        return _to_uint8(vae.decode(vae.encode(to_model_input(clips, "cpu"))))


def object_mask(clips: np.ndarray) -> np.ndarray:
    """uint8 clips (N, T, H, W, 3) -> bool (N, T, H, W): pixels unlike the clip's background colour (taken from
    the corner pixel of frame 0; objects start away from the corners)."""
    background = clips[:, :1, :1, :1].astype(np.int16)  # (N, 1, 1, 1, 3)
    return np.abs(clips.astype(np.int16) - background).max(axis=-1) > 12


def region_masks(on: np.ndarray) -> dict[str, np.ndarray]:
    """An object mask (N, T, H, W) (`object_mask`) -> four bool masks of its shape that partition every frame:
    the object's interior, its outline (object pixels with background in their 3x3 neighbourhood), the
    background ring (background pixels with object in theirs) and the far background. A VAE that bleeds the
    object's colour outwards fails in the ring; one that erodes the object, on its outline."""
    dilated, eroded = dilate_erode(torch.from_numpy(on).float()[:, None])  # (N, T, H, W) -> (N, 1, T, H, W)
    dilated, eroded = dilated[:, 0].numpy() > 0.5, eroded[:, 0].numpy() > 0.5  # -> bool (N, T, H, W)
    return {
        "interior": eroded,
        "outline": on & ~eroded,
        "ring": dilated & ~on,
        "far_background": ~dilated,
    }


@torch.no_grad()
def stream_reconstruct(
    vae: WanVAE, clip: np.ndarray, piece_frames: int = 32, chunk_latents: int = 3
) -> np.ndarray:
    """Encode a uint8 clip (T, H, W, 3) piece by piece and decode its posterior means chunk by chunk, both
    through the causal cache, as a stream would: uint8 (T, H, W, 3)."""
    encoder, decoder = WanCausalEncoder(vae.module), WanCausalDecoder(vae.module)
    latents = []
    first = 1 + piece_frames
    for start, stop in [(0, first)] + [
        (a, a + piece_frames) for a in range(first, clip.shape[0], piece_frames)
    ]:
        video = to_model_input(clip[None, start:stop], "cpu")
        latents.append(encoder(video).chunk(2, dim=1)[0])  # posterior mean (1, C, f, h, w)
    z = torch.cat(latents, dim=2)
    frames = [decoder(z[:, :, i : i + chunk_latents]) for i in range(0, z.shape[2], chunk_latents)]
    return _to_uint8(torch.cat(frames, dim=2))[0]


@torch.no_grad()
def decode_speed(vae: WanVAE, frames: int, size: int, chunk_latents: int, repeats: int = 3) -> dict:
    """Streaming decode of random latents for a `frames`-long clip: frames/s (best of `repeats`) and the largest
    difference from decoding all latents in one call."""
    stride = vae.spatial_stride
    latent_frames = (frames - 1) // vae.temporal_stride + 1
    z = torch.randn(
        1,
        vae.latent_channels,
        latent_frames,
        size // stride,
        size // stride,
        generator=torch.Generator().manual_seed(0),
    )
    one_shot = WanCausalDecoder(vae.module)(z)
    best, streamed = float("inf"), None
    for _ in range(repeats):
        decoder = WanCausalDecoder(vae.module)
        start = time.perf_counter()
        streamed = torch.cat(
            [decoder(z[:, :, i : i + chunk_latents]) for i in range(0, latent_frames, chunk_latents)], 2
        )
        best = min(best, time.perf_counter() - start)
    return {
        "frames": frames,
        "size": size,
        "chunk_latent_frames": chunk_latents,
        "frames_per_second": frames / best,
        "max_abs_diff_vs_one_shot": float((streamed - one_shot).abs().max()),
        "threads": torch.get_num_threads(),
    }


def vae_report(vae: WanVAE, request: VAEReportRequest, log=print) -> tuple[dict, dict]:
    """Run every measurement of the module docstring. Returns (report, images for `strip_png`)."""
    from sanavideo.data.shapes import caption, render, sample_spec
    from sanavideo.eval.shapes import evaluate_clip, pass_rates

    r = request
    rng = np.random.default_rng(r.seed + 7_000_003)
    specs = [sample_spec(rng, held_out=True) for _ in range(r.clips)]
    prompts = [caption(spec, rng, motion_score=False) for spec in specs]
    clips = np.stack([render(spec, r.frames, r.size) for spec in specs])  # (N, T, H, W, 3)
    recs = np.concatenate([reconstruct(vae, clips[i : i + r.batch]) for i in range(0, len(clips), r.batch)])
    sq = (recs.astype(np.float64) - clips.astype(np.float64)) ** 2  # (N, T, H, W, 3)
    per_frame = psnr_db(sq.mean(axis=(0, 2, 3, 4)))  # PSNR of each frame index over all clips
    on = object_mask(clips)  # (N, T, H, W)
    on_object = on[..., None]  # (N, T, H, W, 1)
    truth_reports = [evaluate_clip(c, p) for c, p in zip(clips, prompts)]
    rec_reports = [evaluate_clip(c, p) for c, p in zip(recs, prompts)]
    report = {
        "request": asdict(r),
        "held_out": {
            "clips": r.clips,
            "frames": r.frames,
            "psnr_db": float(psnr_db(sq.mean())),
            "psnr_db_per_frame": [round(float(v), 3) for v in per_frame],
            "min_frame_psnr_db": float(per_frame.min()),
            "object_psnr_db": float(psnr_db((sq * on_object).sum() / max(3 * on_object.sum(), 1))),
            "region_psnr_db": {
                name: float(psnr_db(sq[mask].mean())) for name, mask in region_masks(on).items()
            },
            "clip_psnr_db": [round(float(v), 3) for v in psnr_db(sq.mean(axis=(1, 2, 3, 4)))],
            "shapes_ground_truth": pass_rates(truth_reports),
            "shapes_reconstructed": pass_rates(rec_reports),
            "failed_reconstructions": [
                {  # the fill ratio names the shape: rendered circles ~0.81, squares 1.0 (eval.shapes)
                    "prompt": p,
                    "failures": rep.failures(),
                    "shape_measured": rep.shape_measured,
                    "fill_ratio": rep.fill_ratio,
                    "fill_ratio_truth": truth.fill_ratio,
                }
                for p, rep, truth in zip(prompts, rec_reports, truth_reports)
                if rep.failures() and truth.passed
            ],
        },
    }
    log(
        f"held-out: PSNR {report['held_out']['psnr_db']:.2f} dB (lowest frame {per_frame.min():.2f} dB, "
        f"object pixels {report['held_out']['object_psnr_db']:.2f} dB; by region "
        + ", ".join(f"{k} {v:.1f}" for k, v in report["held_out"]["region_psnr_db"].items())
        + "); "
        f"shapes checks on reconstructions: {report['held_out']['shapes_reconstructed']['all']:.0%} all passed"
    )
    images = {"clips": clips[:4], "recs": recs[:4]}
    if r.long_frames:
        from sanavideo.data.shapes import parse_prompt

        spec = _long_spec(parse_prompt(r.long_prompt))
        long_clip = render(spec, r.long_frames, r.size)
        long_rec = stream_reconstruct(vae, long_clip, chunk_latents=r.chunk_latents)
        err = (long_rec.astype(np.float64) - long_clip.astype(np.float64)) ** 2
        n = min(100, r.long_frames // 2)
        first, last = float(psnr_db(err[:n].mean())), float(psnr_db(err[-n:].mean()))
        report["long_clip"] = {
            "prompt": r.long_prompt,
            "frames": r.long_frames,
            "psnr_db": float(psnr_db(err.mean())),
            f"psnr_db_first_{n}": first,
            f"psnr_db_last_{n}": last,
            "last_minus_first_db": last - first,
            "psnr_db_per_second": [
                round(float(v), 3)
                for v in psnr_db(
                    err[: (r.long_frames // 16) * 16].reshape(-1, 16 * r.size * r.size * 3).mean(axis=1)
                )
            ],
            "shapes_reconstructed": evaluate_clip(long_rec, r.long_prompt).checks(),
        }
        log(
            f"long clip ({r.long_frames} frames, streamed): first {n} frames {first:.2f} dB, last {n} {last:.2f} dB"
        )
        images["long"] = (long_clip, long_rec)
    report["decode"] = decode_speed(vae, max(r.frames, 81), r.size, r.chunk_latents)
    log(
        f"streaming decode at {r.size}x{r.size}: {report['decode']['frames_per_second']:.0f} frames/s "
        f"({report['decode']['threads']} threads), max difference from one-shot {report['decode']['max_abs_diff_vs_one_shot']:.1e}"
    )
    return report, images


def _long_spec(prompt):
    """The ClipSpec a prompt names (default size and speed)."""
    from sanavideo.data.shapes import ClipSpec

    return ClipSpec(
        colour=prompt.colour or "red",
        shape=prompt.shape or "circle",
        motion=prompt.motion or "bounces",
        background=prompt.background or "black",
    )


def strip_png(images: dict, path: str | Path, frame_indices=(0, 8, 16, 32), scale: int = 2) -> None:
    """Ground truth over reconstruction, for the first held-out clips at `frame_indices`, and the long clip at
    as many evenly spread frames from first to last; written atomically."""
    from PIL import Image

    from sanavideo.fsutil import atomic_path

    rows = []
    for clip, rec in zip(images["clips"], images["recs"]):
        idx = [i for i in frame_indices if i < clip.shape[0]]
        rows += [
            np.concatenate([clip[i] for i in idx], axis=1),
            np.concatenate([rec[i] for i in idx], axis=1),
        ]
    if "long" in images:
        clip, rec = images["long"]
        last = clip.shape[0] - 1
        idx = [round(last * k / (len(frame_indices) - 1)) for k in range(len(frame_indices))]  # evenly spread
        rows += [
            np.concatenate([clip[i] for i in idx], axis=1),
            np.concatenate([rec[i] for i in idx], axis=1),
        ]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=128) for r in rows]
    image = Image.fromarray(np.concatenate(rows, axis=0))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
