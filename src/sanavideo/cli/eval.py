"""`sanavideo eval shapes|vae [--model PATH] ...`: score a model, or its VAE, on the shapes world."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from sanavideo.cli.fields import add_field_argument
    from sanavideo.eval.requests import MODES, EvalRequest, VAEReportRequest

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
    # flags from the request fields: a flag sets the `shapes` field or, for `vae`, the other one
    for flag, shapes, vae in (("--n", "n", "clips"), ("--long-frames", "long_frames", "long_frames")):
        also = [("vae", VAEReportRequest, vae)]
        add_field_argument(p, flag, EvalRequest, shapes, context="shapes", also=also, default_per_field=True)
    for flag in ("--seed", "--frames"):
        name = flag[2:]
        add_field_argument(
            p, flag, EvalRequest, name, context="shapes", also=[("vae", VAEReportRequest, name)]
        )
    add_field_argument(p, "--long-clips", EvalRequest, "long_clips", context="shapes")
    add_field_argument(p, "--mode", EvalRequest, "mode", context="shapes", choices=MODES)
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        default=None,
        help="shapes: transformer and text encoder dtype (default: as sanavideo generate, bfloat16 where it is "
        "native, else float32)",
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


def given(**values: int | None) -> dict[str, int]:
    """The flags given on the command line; the others take their request field's default."""
    return {name: value for name, value in values.items() if value is not None}


def _run_shapes(args: argparse.Namespace, output: str) -> int:
    import torch

    from sanavideo.device import resolve_dtype
    from sanavideo.eval.run import EvalRequest, contact_sheet, evaluate_model, format_table, write_json
    from sanavideo.pipeline import SanaVideoPipeline

    request = EvalRequest(
        seed=args.seed,
        frames=args.frames,
        mode=args.mode,
        long_clips=args.long_clips,
        **given(n=args.n, long_frames=args.long_frames),
    )
    dtype = resolve_dtype(args.dtype, torch.device("cpu"))
    pipe = SanaVideoPipeline.from_pretrained(args.model, dtype=dtype)
    pipe.check_size(frames=request.frames)
    if request.long_frames:
        pipe.check_size(frames=request.long_frames)
    rows: list | None = [] if args.sheet else None
    result = evaluate_model(pipe, request, sheet_rows=rows)
    result["dtype"] = str(dtype).removeprefix("torch.")
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
    request = VAEReportRequest(
        frames=args.frames, seed=args.seed, **given(clips=args.n, long_frames=args.long_frames)
    )
    report, images = vae_report(vae, request)
    report["model"] = str(folder)
    atomic_write_json(report, output, indent=1)
    print(f"wrote {output}")
    if args.sheet:
        strip_png(images, args.sheet)
        print(f"wrote {args.sheet}")
    return 0
