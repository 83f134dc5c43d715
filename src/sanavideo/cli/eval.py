"""`sanavideo eval shapes|vae [--model PATH] ...`: score a model, or its VAE, on the shapes world."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model (or its VAE) on the synthetic shapes world",
        description="shapes: generate clips for seen and held-out shapes-world prompts and check each with the "
        "shapes evaluator. vae: reconstruct held-out clips and one long streamed clip with the model's VAE "
        "(PSNR per frame, shapes checks on the reconstructions, drift, streaming decode speed). Prints a summary "
        "and writes every result to JSON.",
    )
    p.add_argument("suite", choices=["shapes", "vae"], help="the evaluation suite")
    p.add_argument(
        "--model",
        default=None,
        help="model folder, or for vae also a VAE folder (default: the embedded model)",
    )
    p.add_argument("--n", type=int, default=None, help="prompts per split / held-out clips (default 12 / 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=33, help="frames per clip (4k+1)")
    p.add_argument(
        "--mode",
        choices=["t2v", "i2v", "stream"],
        default="t2v",
        help="shapes: generate with the pipeline's sampler (i2v: from each clip's rendered first frame) "
        "or chunk by chunk through the streaming cache",
    )
    p.add_argument(
        "--long-frames",
        type=int,
        default=None,
        help="also one clip of this many frames, streamed (default: 0 for shapes, 961 for vae)",
    )
    p.add_argument(
        "--sheet", default=None, help="also write a PNG contact sheet (vae: ground truth over reconstruction)"
    )
    p.add_argument("-o", "--output", default=None, help="JSON results (default eval_SUITE.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    output = args.output or f"eval_{args.suite}.json"
    from sanavideo.fsutil import check_writable

    check_writable(output, "a .json file path")
    if args.sheet:
        check_writable(args.sheet, "a .png file path")
    return (_run_vae if args.suite == "vae" else _run_shapes)(args, output)


def _run_shapes(args: argparse.Namespace, output: str) -> int:
    from sanavideo.eval.run import EvalRequest, contact_sheet, evaluate_model, format_table, write_json
    from sanavideo.pipeline import SanaVideoPipeline

    pipe = SanaVideoPipeline.from_pretrained(args.model)
    long_frames = args.long_frames or 0
    pipe.check_size(frames=args.frames)
    if long_frames:
        pipe.check_size(frames=long_frames)
    request = EvalRequest(
        n=args.n or 12, seed=args.seed, frames=args.frames, long_frames=long_frames, mode=args.mode
    )
    rows: list | None = [] if args.sheet else None
    result = evaluate_model(pipe, request, sheet_rows=rows)
    print(format_table(result))
    write_json(result, output)
    print(f"wrote {output}")
    if args.sheet:
        contact_sheet(rows, args.sheet)
        print(f"wrote {args.sheet}")
    return 0


def _run_vae(args: argparse.Namespace, output: str) -> int:
    from sanavideo.adapters.vae import WanVAE, load_vae
    from sanavideo.eval.vae import VAEReportRequest, strip_png, vae_report
    from sanavideo.fsutil import atomic_write_json
    from sanavideo.pipeline import DEFAULT_MODEL_DIR

    folder = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    if not (folder / "config.json").is_file() and (folder / "vae" / "config.json").is_file():
        folder = folder / "vae"  # a whole model folder: its VAE
    vae = load_vae(folder)
    if not isinstance(vae, WanVAE):
        raise ValueError(
            f"eval vae measures causal Wan VAEs (streaming); {folder} holds {type(vae.module).__name__}"
        )
    if (args.frames - 1) % vae.temporal_stride:
        raise ValueError(f"--frames must be 1 + {vae.temporal_stride}k, got {args.frames}")
    long_frames = 961 if args.long_frames is None else args.long_frames
    request = VAEReportRequest(
        clips=args.n or 32, frames=args.frames, long_frames=long_frames, seed=args.seed
    )
    report, images = vae_report(vae, request)
    report["model"] = str(folder)
    atomic_write_json(report, output, indent=1)
    print(f"wrote {output}")
    if args.sheet:
        strip_png(images, args.sheet)
        print(f"wrote {args.sheet}")
    return 0
