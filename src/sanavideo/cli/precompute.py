"""`sanavideo precompute DIR... --encoders MODEL -o CACHE`: VAE latents and text embeddings for training."""

from __future__ import annotations

import argparse

# flag -> the PrecomputeArgs field it sets (type, default and help from the field)
FLAGS: dict[str | tuple[str, ...], str] = {
    "video_dirs": "video_dirs",
    "--encoders": "encoders",
    ("-o", "--output"): "output",
    "--num-frames": "num_frames",
    "--frame-stride": "frame_stride",
    "--resolution": "resolution",
    "--bucket-multiple": "bucket_multiple",
    "--max-text-length": "max_text_length",
    "--chi": "chi",
    "--device": "device",
}
# what a field's type does not say
EXTRA = {"video_dirs": {"nargs": "+", "type": str}, "chi": {"choices": ["video", "image", "none"]}}


def register(subparsers) -> None:
    from sanavideo.cli.fields import add_field_argument
    from sanavideo.data.precompute_args import PrecomputeArgs

    p = subparsers.add_parser(
        "precompute",
        help="encode video clips into a latent/text cache for training",
        description="Folders of *.mp4 + *.json sidecars ({prompt, motion_score}) or upstream *.zip shards. "
        "Unreadable clips are skipped and counted.",
    )
    for flag, name in FLAGS.items():
        add_field_argument(p, flag, PrecomputeArgs, name, **EXTRA.get(name, {}))
    # switches that turn a field off
    p.add_argument("--no-motion-score", action="store_true", help="do not append ' motion score: N.'")
    p.add_argument(
        "--ids-only",
        action="store_true",
        help="store token ids only (for text_encoder.trainable), no text encoder needed",
    )
    p.add_argument("--no-lowercase", action="store_true", help="keep the prompts' case")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    import logging

    from sanavideo.cli.fields import from_args
    from sanavideo.data.precompute import PrecomputeArgs, precompute

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = precompute(
        from_args(
            PrecomputeArgs,
            ns,
            motion_score=not ns.no_motion_score,
            store_embeddings=not ns.ids_only,
            lowercase=not ns.no_lowercase,
        )
    )
    print(
        f"{result.written} samples in {result.cache_dir} ({result.reused} reused); {result.skipped} clips skipped"
    )
    return 0
