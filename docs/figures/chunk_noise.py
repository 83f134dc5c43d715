"""Plot the per-chunk training sigmas of block-causal training: upstream's rule (scale the integer timestep
index, then shift; what `sanavideo.train.objective.chunk_sigmas` does) against scaling the shifted sigma (what
sanavideo did before 2026-11-27). Writes docs/figures/chunk_noise.png.

    python docs/figures/chunk_noise.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from sanavideo.train.args import ObjectiveArgs  # noqa: E402
from sanavideo.train.objective import chunk_sigmas, logit_normal_sigma  # noqa: E402


def scaled_after_shift(normals: torch.Tensor, uniforms: torch.Tensor, args: ObjectiveArgs) -> torch.Tensor:
    """The old rule: the last chunk's shifted sigma, each earlier one U(0,1) x the next sigma."""
    out = [logit_normal_sigma(normals[:, -1], args)]
    for k in range(normals.shape[1] - 2, -1, -1):
        out.append(out[-1] * uniforms[:, k])
    return torch.stack(out[::-1], dim=1)


def main() -> None:
    args = ObjectiveArgs(flow_shift=3.0, chunk_timesteps="scaled")
    g = torch.Generator().manual_seed(0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, chunks in zip(axes, (2, 3)):
        normals, uniforms = torch.randn(200_000, chunks, generator=g), torch.rand(200_000, chunks, generator=g)
        upstream, old = chunk_sigmas(normals, uniforms, args), scaled_after_shift(normals, uniforms, args)
        for k in range(chunks):
            colour = f"C{k}"
            ax.hist(upstream[:, k].numpy(), bins=60, range=(0, 1), histtype="step", color=colour, lw=1.6,
                    density=True, label=f"chunk {k}: upstream (mean {upstream[:, k].mean():.3f})")
            ax.hist(old[:, k].numpy(), bins=60, range=(0, 1), histtype="step", color=colour, ls="--", lw=1.0,
                    density=True, label=f"chunk {k}: scaled after shift (mean {old[:, k].mean():.3f})")
        ax.set_title(f"{chunks} chunks, flow shift 3")
        ax.set_xlabel("training sigma")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
