"""How often can a VAE's reconstruction pass the shape check on the text-to-video evaluation's own clips?

    python scripts/vae_eval_ceiling.py VAE [VAE ...] [--n 24] [--seeds 0 1]

For each draw (`sanavideo eval shapes --n N --seed S`: the same prompts and `ClipSpec`s), every clip is rendered
at 33 frames, judged as rendered, then encoded and decoded by each VAE (a VAE folder or a model folder with
`vae/`) and judged again. A generated clip decoded by a VAE cannot be expected to pass more often than the
truth passed through it: this is the ceiling of the evaluation's shape check for that decoder
(docs/embedded-model.md). Prints the clips where any column fails (with the fill ratio that names the shape)
and the pass counts.
"""

from __future__ import annotations

import argparse

import numpy as np

from sanavideo.adapters.vae import load_vae
from sanavideo.data.shapes import render
from sanavideo.eval.run import eval_specs
from sanavideo.eval.shapes import evaluate_clip
from sanavideo.eval.vae import reconstruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vaes", nargs="+", help="VAE folders (or model folders with vae/)")
    parser.add_argument(
        "--n", type=int, default=24, help="prompts per split, as in `sanavideo eval shapes --n`"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="the draws (`--seed`)")
    args = parser.parse_args()
    vaes = [load_vae(path) for path in args.vaes]
    passed = np.zeros(len(vaes) + 1, dtype=int)  # ground truth, then each VAE
    clips = 0
    print("draw split prompt | ground truth | " + " | ".join(args.vaes))
    for seed in args.seeds:
        for split, pairs in eval_specs(args.n, seed).items():
            for prompt, spec in pairs:
                truth = render(spec, 33, 64)  # uint8 (T, H, W, 3)
                recons = [reconstruct(vae, truth[None])[0] for vae in vaes]
                reports = [evaluate_clip(clip, prompt) for clip in (truth, *recons)]
                ok = [bool(r.shape_ok) for r in reports]
                passed += ok
                clips += 1
                if not all(ok):
                    cells = [f"{'ok ' if o else 'BAD'} {r.fill_ratio:.2f}" for o, r in zip(ok, reports)]
                    print(f"{seed} {split[:4]} {prompt[:55]:55s} " + " | ".join(cells), flush=True)
    print(
        f"shape check passed, of {clips} clips: ground truth {passed[0]}; "
        + "; ".join(f"{path} {count}" for path, count in zip(args.vaes, passed[1:]))
    )


if __name__ == "__main__":
    main()
