"""Where do "still" objects drift? The centroid of every seen "still" prompt's clip, frame by frame.

    python scripts/still_drift.py [MODEL] [--seeds 0 1 2 3 4] [--split seen]

Generates the clips of the text-to-video evaluation (`sanavideo eval shapes --n 24 --seed S`: the same prompts and
noise seeds) whose prompt says the object stays still, in the dtype `sanavideo generate` uses, and prints the
distance of the object's centroid from where it was in frame 0, at the last frame of each block-causal chunk
and the first frame of the next (33 frames = 9 latent frames = 3 chunks of 3: pixel frames 0-8, 9-20, 21-32).
The evaluator fails a still clip whose centroid moves more than 0.03 of the side (1.9 px at 64 px). A step at
frames 8 -> 9 or 20 -> 21 would point at the chunk boundary; a steady slope at the chunks' own frames.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from sanavideo.device import resolve_dtype
from sanavideo.eval.run import eval_specs, generate
from sanavideo.pipeline import SanaVideoPipeline

FRAMES = 33
# chunk ends 8 and 20 and the next chunks' first frames 9 and 21
SHOWN = (4, 8, 9, 12, 16, 20, 21, 24, 28, 32)


def centroids(frames: np.ndarray) -> np.ndarray:
    """(T, 2) x, y of the pixels at least half as far from the background (the border's median) as the
    frame's farthest pixel. frames: uint8 (T, H, W, 3)."""
    pix = frames.astype(np.float32)
    border = np.concatenate([pix[:, 0].reshape(-1, 3), pix[:, -1].reshape(-1, 3)])
    dist = np.linalg.norm(pix - np.median(border, axis=0), axis=-1)  # (T, H, W)
    out = []
    for frame in dist:
        ys, xs = np.nonzero(frame >= 0.5 * frame.max())
        out.append((xs.mean(), ys.mean()))
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: the embedded model)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--split", choices=["seen", "held_out"], default="seen")
    args = parser.parse_args()
    pipe = SanaVideoPipeline.from_pretrained(args.model, dtype=resolve_dtype(None, torch.device("cpu")))
    print("seed prompt | max px | drift from frame 0 at frames " + " ".join(map(str, SHOWN)))
    for seed in args.seeds:
        for i, (prompt, spec) in enumerate(eval_specs(24, seed)[args.split]):
            if spec.motion != "still":
                continue
            frames = generate(pipe, prompt, FRAMES, "t2v", seed + i, spec)
            c = centroids(frames)
            drift = np.linalg.norm(c - c[0], axis=1)  # (T,)
            shown = " ".join(f"{drift[k]:.1f}" for k in SHOWN)
            print(f"{seed} {prompt[:48]:48s} | {drift.max():5.1f} | {shown}")


if __name__ == "__main__":
    main()
