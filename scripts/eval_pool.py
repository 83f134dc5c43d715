"""Pool several draws of `sanavideo eval shapes` into one table per split, and list what changed between two runs.

    python scripts/eval_pool.py RUN [RUN ...]          # RUN: a folder of t2v_s0.json ... / i2v_s0.json ...
    python scripts/eval_pool.py BEFORE AFTER --changes  # also the clips whose verdict changed, draw by draw

A folder holds one JSON per draw (`sanavideo eval shapes --seed S -o RUN/t2v_sS.json`, and `--mode i2v` as
`RUN/i2v_sS.json`). Text-to-video rows give every check at once and the shape and motion checks; image-to-video rows
give "kept": colour, shape and motion all pass (the issue's image-to-video target). The draws of 24 prompts move by
10 points or more one to the next, so docs/embedded-model.md judges a model on five of them pooled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SPLITS = ("seen", "held_out")
KEPT = ("colour_ok", "shape_ok", "motion_ok")


def draws(run: Path, mode: str) -> dict[str, dict]:
    """{"s0": parsed JSON, ...} for RUN/{mode}_s*.json, in seed order."""
    files = sorted(run.glob(f"{mode}_s[0-9]*.json"), key=lambda p: int(p.stem.split("_s")[-1]))
    return {p.stem.split("_")[-1]: json.loads(p.read_text()) for p in files}


def share(clips: list[dict], ok) -> str:
    """'k/n = p%': how many clips satisfy ok."""
    k = sum(1 for c in clips if ok(c))
    return f"{k}/{len(clips)} = {k / len(clips):.0%}"


def pooled_rows(run: Path) -> list[str]:
    rows = []
    for mode in ("t2v", "i2v"):
        found = draws(run, mode)
        for split in SPLITS:
            clips = [c for d in found.values() for c in d["splits"][split]["clips"]]
            if not clips:
                continue
            if mode == "t2v":
                rows.append(
                    f"t2v {split:8s} every check {share(clips, lambda c: c['passed'])}, "
                    f"shape {share(clips, lambda c: c['checks']['shape_ok'])}, "
                    f"motion {share(clips, lambda c: c['checks']['motion_ok'])} ({len(found)} draws)"
                )
            else:
                rows.append(
                    f"i2v {split:8s} kept {share(clips, lambda c: all(c['checks'][k] for k in KEPT))} ({len(found)} draws)"
                )
    return rows


def changes(before: Path, after: Path) -> list[str]:
    """Clips (same draw, split and index, so the same prompt) whose pass / fail verdict differs."""
    rows = []
    for mode in ("t2v", "i2v"):
        old, new = draws(before, mode), draws(after, mode)
        for seed in sorted(set(old) & set(new)):
            for split in SPLITS:
                pairs = zip(old[seed]["splits"][split]["clips"], new[seed]["splits"][split]["clips"])
                for a, b in pairs:
                    if a["prompt"] != b["prompt"]:
                        raise ValueError(
                            f"{mode} {seed} {split}: prompts differ ({a['prompt']!r} vs {b['prompt']!r})"
                        )
                    if a["passed"] != b["passed"]:
                        arrow = "fixed" if b["passed"] else "broke"
                        rows.append(
                            f"{mode} {seed} {split:8s} {arrow}: {b['prompt']} {b['failures'] or a['failures']}"
                        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders of t2v_sS.json / i2v_sS.json")
    parser.add_argument(
        "--changes", action="store_true", help="with two runs: the clips whose verdict changed"
    )
    args = parser.parse_args()
    for run in args.runs:
        print(run)
        for row in pooled_rows(run):
            print("  " + row)
    if args.changes:
        if len(args.runs) != 2:
            parser.error(f"--changes compares two runs, got {len(args.runs)}")
        for row in changes(*args.runs):
            print(row)


if __name__ == "__main__":
    main()
