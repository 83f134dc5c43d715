"""`sanavideo plot-loss METRICS.jsonl -o loss.png`: the training loss curve of a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    """Records of a metrics.jsonl, one per step (a step logged twice, e.g. after a resume, keeps its last)."""
    by_step: dict[int, dict] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not JSON ({err})") from err
        if "step" not in rec or "loss" not in rec:
            raise ValueError(f"{path}:{n}: a metrics record needs 'step' and 'loss', got keys {sorted(rec)}")
        by_step[int(rec["step"])] = rec
    if not by_step:
        raise ValueError(f"{path} has no metrics records")
    return [by_step[s] for s in sorted(by_step)]


def plot_loss(metrics: str | Path, output: str | Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics)
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(steps, [r["loss"] for r in records], label="loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or str(metrics))
    if "lr" in records[0]:
        ax2 = ax.twinx()
        ax2.plot(
            steps, [r.get("lr", float("nan")) for r in records], color="tab:orange", alpha=0.5, label="lr"
        )
        ax2.set_ylabel("learning rate")
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output


def register(subparsers) -> None:
    p = subparsers.add_parser("plot-loss", help="plot a training metrics.jsonl as a PNG loss curve")
    p.add_argument("metrics", help="metrics.jsonl written by `sanavideo train`")
    p.add_argument("-o", "--output", default="loss.png")
    p.add_argument("--title")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ValueError("plot-loss needs matplotlib: pip install 'sanavideo[dev]'") from err
    print(plot_loss(ns.metrics, ns.output, ns.title))
    return 0
