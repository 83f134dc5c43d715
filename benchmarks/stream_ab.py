"""A/B of streaming speed between pipeline folders: `SanaVideoPipeline.stream` (decode included) of the same prompt
and seed, the folders taking turns in one process so that the VM's drift over minutes hits both alike.

    python benchmarks/stream_ab.py FOLDER_A [FOLDER_B] [--frames 241] [--repeats 3] [--pytorch-conv]
        [--diffusers-norms] [--dtypes float32 bfloat16]

Prints, per repeat and folder, the wall time and generated frames per second. `--pytorch-conv` adds, for each
folder, the same pipeline with its VAE loaded as plain diffusers (PyTorch choosing every conv kernel) instead of
through the adapter that routes batch-1 3x3x3 convs to oneDNN (`sanavideo.adapters.cpu_conv`) and runs the RMS
norms as one plain reduction (`sanavideo.adapters.wan_norm`); `--diffusers-norms` adds, for each folder and dtype,
the adapter's VAE with diffusers' own RMS norms put back. `--dtypes` loads every folder once per dtype of the
transformer and text encoder (default: float32 alone).
"""

from __future__ import annotations

import argparse
import time

import torch

from sanavideo.pipeline import SanaVideoPipeline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+")
    p.add_argument("--frames", type=int, default=241)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--prompt", default="a red circle bounces around")
    p.add_argument("--pytorch-conv", action="store_true", help="also each folder with an unrouted VAE")
    p.add_argument(
        "--diffusers-norms", action="store_true", help="also each folder with diffusers' VAE RMS norms"
    )
    p.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32"])
    args = p.parse_args()
    torch.set_num_threads(2)
    pipes = {
        folder if len(args.dtypes) == 1 else f"{folder} ({dtype})": SanaVideoPipeline.from_pretrained(
            folder, dtype=getattr(torch, dtype)
        )
        for folder in args.folders
        for dtype in args.dtypes
    }
    if args.pytorch_conv:
        from diffusers import AutoencoderKLWan

        for folder in args.folders:
            pipe = SanaVideoPipeline.from_pretrained(folder)
            pipe.vae.module = AutoencoderKLWan.from_pretrained(
                f"{folder}/vae", torch_dtype=torch.float32
            ).eval()
            pipes[f"{folder} (plain diffusers VAE)"] = pipe
    if args.diffusers_norms:
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm

        for folder in args.folders:
            for dtype in args.dtypes:
                pipe = SanaVideoPipeline.from_pretrained(folder, dtype=getattr(torch, dtype))
                for module in pipe.vae.module.modules():
                    if isinstance(module, WanRMS_norm):
                        module.__class__ = WanRMS_norm  # undo sanavideo.adapters.wan_norm
                pipes[f"{folder} ({dtype}, diffusers' RMS norms)"] = pipe
    for rep in range(args.repeats):
        for folder, pipe in pipes.items():
            start = time.perf_counter()
            frames = 0
            for chunk in pipe.stream(
                args.prompt, frames=args.frames, generator=torch.Generator().manual_seed(0)
            ):
                frames += len(chunk)  # (T, H, W, 3) uint8
            seconds = time.perf_counter() - start
            print(
                f"{rep} {folder}: {frames} frames in {seconds:.2f} s, {frames / seconds:.1f} frames/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
