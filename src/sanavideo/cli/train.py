"""`sanavideo train --config FILE.yaml [key=value ...]`: train or fine-tune (also under torchrun)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a SANA-Video transformer",
        description="Train from a YAML config (see configs/ and docs/training.md). Overrides are dotted "
        "keys, e.g. optim.lr=1e-4 data.batch_size=2. Multi-GPU: torchrun --nproc_per_node N -m sanavideo "
        "train ...",
    )
    p.add_argument("--config", help="YAML file of TrainArgs fields")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, values parsed as YAML"
    )
    p.add_argument("--output-dir", help="same as output_dir=...")
    p.add_argument("--max-steps", type=int, help="same as max_steps=...")
    p.add_argument(
        "--resume",
        action="store_const",
        const="auto",
        help="continue from the latest checkpoint of output_dir (same as resume=auto)",
    )
    p.add_argument(
        "--resume-from", metavar="DIR", help="continue from this checkpoint folder (same as resume=DIR)"
    )
    p.add_argument("--lora-rank", type=int, help="LoRA fine-tuning with this rank (same as lora.rank=...)")
    p.add_argument("--device", help="auto, cpu, cuda (same as device=...)")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    from sanavideo.train import load_args, train

    overrides = list(ns.overrides)
    if ns.resume and ns.resume_from:
        raise ValueError(
            f"give --resume (latest checkpoint) or --resume-from DIR, not both (got {ns.resume_from})"
        )
    for flag, key in (
        ("output_dir", "output_dir"),
        ("max_steps", "max_steps"),
        ("resume", "resume"),
        ("resume_from", "resume"),
        ("lora_rank", "lora.rank"),
        ("device", "device"),
    ):
        value = getattr(ns, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    result = train(load_args(ns.config, overrides))
    print(f"trained to step {result.steps}; checkpoint {result.checkpoint}; export {result.export_dir}")
    return 0
