"""`sanavideo eval shapes [--model PATH] [--n N] [--seed S]`: score a model on the shapes world."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on the synthetic shapes world (colour, shape, motion, long-clip consistency)",
        description="Generate clips for seen and held-out shapes-world prompts and check each with the shapes "
        "evaluator; prints a table of pass rates and writes every result to JSON.",
    )
    p.add_argument("suite", choices=["shapes"], help="the evaluation suite")
    p.add_argument("--model", default=None, help="model folder (default: the embedded model)")
    p.add_argument("--n", type=int, default=12, help="prompts per split (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=33, help="frames per clip (4k+1)")
    p.add_argument("--mode", choices=["t2v", "stream"], default="t2v",
                   help="generate with the pipeline's sampler or chunk by chunk through the streaming cache")
    p.add_argument("--long-frames", type=int, default=0,
                   help="also stream one clip of this many frames per split for the long-clip checks (e.g. 961)")
    p.add_argument("--sheet", default=None, help="also write a PNG contact sheet of the generated clips")
    p.add_argument("-o", "--output", default="eval_shapes.json", help="JSON results (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sanavideo.eval.run import EvalRequest, contact_sheet, evaluate_model, format_table, write_json
    from sanavideo.pipeline import SanaVideoPipeline

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    pipe = SanaVideoPipeline.from_pretrained(args.model)
    pipe.check_size(frames=args.frames)
    if args.long_frames:
        pipe.check_size(frames=args.long_frames)
    request = EvalRequest(n=args.n, seed=args.seed, frames=args.frames, long_frames=args.long_frames, mode=args.mode)
    rows: list | None = [] if args.sheet else None
    result = evaluate_model(pipe, request, sheet_rows=rows)
    print(format_table(result))
    write_json(result, args.output)
    print(f"wrote {args.output}")
    if args.sheet:
        contact_sheet(rows, args.sheet)
        print(f"wrote {args.sheet}")
    return 0
