"""Which objects does a shapes-world VAE reconstruct with the wrong shape? (docs/embedded-model.md, issue 9)

    python scripts/vae_shape_probe.py [VAE] [--frames 33]

VAE: a VAE folder or a model folder with `vae/` (default: checkpoints/shapes-vae). For every shape, size and
speed, six 33-frame clips (one per colour, moving right, up, down, left, bouncing and right again) are rendered
twice: with the object's top-left corner on the latent grid (a multiple of the VAE's spatial stride, as a
clip starting at the canvas centre has it) and shifted by half a latent pixel. Each clip is encoded and decoded,
and the shapes evaluator reads the reconstruction; prints the shape check's pass count per row and the median
fill ratio that names the shape (circle ~0.79, square 1.0; the border between them 0.89).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from sanavideo.adapters.vae import load_vae
from sanavideo.data.shapes import PALETTE_NAMES, SIZE_FACTORS, ClipSpec, caption, render
from sanavideo.eval.shapes import evaluate_clip
from sanavideo.eval.vae import reconstruct

MOTIONS = ("right", "up", "down", "left", "bounces", "right")


def start_fraction(canvas: int, obj: int, offset: int) -> float:
    """start_x / start_y putting the object's top-left corner at the canvas centre's grid point + offset."""
    return (canvas // 2 - obj // 2 + offset) / (canvas - obj)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vae", nargs="?", default="checkpoints/shapes-vae")
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--size", type=int, default=64)
    args = p.parse_args()
    path = Path(args.vae)
    vae = load_vae(path / "vae" if (path / "vae").is_dir() else path)
    stride = vae.spatial_stride
    rng = np.random.default_rng(0)
    total = clips = 0
    print("| shape | size | speed | on the latent grid | half a latent pixel off |")
    print("|---|---|---|---|---|")
    for shape in ("circle", "square", "triangle"):
        for size in ("small", "medium", "big"):
            for speed in ("normal", "quickly"):
                cells = []
                for offset in (0, stride // 2):
                    passed, fills = 0, []
                    for colour, motion in zip(PALETTE_NAMES, MOTIONS):
                        spec = ClipSpec(
                            colour, shape, motion, size=size, scale=SIZE_FACTORS[size], speed=speed
                        )
                        at = start_fraction(args.size, spec.object_size(args.size), offset)
                        spec = replace(spec, start_x=at, start_y=at)
                        clip = render(spec, args.frames, args.size)
                        frames = reconstruct(vae, clip[None])[0]  # uint8 (T, H, W, 3)
                        report = evaluate_clip(frames, caption(spec, rng, motion_score=False))
                        passed += bool(report.shape_ok)
                        fills.append(report.fill_ratio)
                    cells.append(f"{passed}/{len(MOTIONS)} (fill {np.nanmedian(fills):.2f})")
                    total, clips = total + passed, clips + len(MOTIONS)
                print(f"| {shape} | {size} | {speed} | {cells[0]} | {cells[1]} |", flush=True)
    print(f"shape check passed by {total} of {clips} reconstructions ({100 * total / clips:.0f}%)")


if __name__ == "__main__":
    main()
