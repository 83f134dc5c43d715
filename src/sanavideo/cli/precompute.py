"""`sanavideo precompute DIR... --encoders MODEL -o CACHE`: VAE latents and text embeddings for training."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "precompute",
        help="encode video clips into a latent/text cache for training",
        description="Folders of *.mp4 + *.json sidecars ({prompt, motion_score}) or upstream *.zip shards. "
        "Unreadable clips are skipped and counted.",
    )
    p.add_argument("video_dirs", nargs="+", help="data folders")
    p.add_argument(
        "--encoders", required=True, help="diffusers-layout folder with vae/, tokenizer/, text_encoder/"
    )
    p.add_argument("-o", "--output", required=True, help="cache folder")
    p.add_argument("--num-frames", type=int, default=81, help="pixel frames per clip, 4k+1 (default 81)")
    p.add_argument("--frame-stride", type=int, default=1)
    p.add_argument("--resolution", type=int, default=480, help="bucket area ~ resolution^2 pixels")
    p.add_argument("--bucket-multiple", type=int, default=16, help="VAE stride x patch (default 16)")
    p.add_argument("--max-text-length", type=int, default=300)
    p.add_argument("--no-motion-score", action="store_true", help="do not append ' motion score: N.'")
    p.add_argument(
        "--ids-only",
        action="store_true",
        help="store token ids only (for text_encoder.trainable), no text encoder needed",
    )
    p.add_argument(
        "--chi",
        default="video",
        choices=["video", "image", "none"],
        help="instruction prefix of the text encoder, as the pipeline uses it (default video)",
    )
    p.add_argument("--no-lowercase", action="store_true", help="keep the prompts' case")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    import logging

    from sanavideo.data.precompute import PrecomputeArgs, precompute

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = precompute(
        PrecomputeArgs(
            video_dirs=ns.video_dirs,
            encoders=ns.encoders,
            output=ns.output,
            num_frames=ns.num_frames,
            frame_stride=ns.frame_stride,
            resolution=ns.resolution,
            bucket_multiple=ns.bucket_multiple,
            max_text_length=ns.max_text_length,
            motion_score=not ns.no_motion_score,
            store_embeddings=not ns.ids_only,
            chi=ns.chi,
            lowercase=not ns.no_lowercase,
            device=ns.device,
        )
    )
    print(
        f"{result.written} samples in {result.cache_dir} ({result.reused} reused); {result.skipped} clips skipped"
    )
    return 0
