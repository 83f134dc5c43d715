"""The streaming forward of a model's transformer in float32, in bfloat16, and in float32 under bf16 autocast, on CPU.

One cached forward as `generate --stream` runs it: a chunk of 3 latent frames attending to a two-chunk history,
batch 2 (the unconditional and conditional halves of classifier-free guidance). The variants take turns in one
process (`--rounds` rounds of `--calls` forwards each), so that the VM's drift between minutes hits them alike;
reports the median time per forward, the speed-up over float32, and each output's relative L2 difference from
float32's.

    python benchmarks/forward_dtype.py [--model src/sanavideo/assets/shapes-tiny] [--rounds 6] [--calls 20]
        [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import statistics
import time

import torch
from report import machine, publish

from sanavideo.model.transformer import SanaVideoTransformer
from sanavideo.pipeline import DEFAULT_MODEL_DIR


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--write", default=None, help="append a results table to this markdown file")
    a = p.parse_args()
    torch.set_num_threads(2)
    path = f"{a.model}/transformer"
    m32 = SanaVideoTransformer.from_pretrained(path, dtype=torch.float32).eval()
    m16 = SanaVideoTransformer.from_pretrained(path, dtype=torch.bfloat16).eval()
    variants = {  # name: (model, input dtype, context)
        "float32": (m32, torch.float32, contextlib.nullcontext),
        "bfloat16": (m16, torch.bfloat16, contextlib.nullcontext),
        "float32 + bf16 autocast": (m32, torch.float32, lambda: torch.autocast("cpu", dtype=torch.bfloat16)),
    }
    cfg = m32.config
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg.in_channels, 3, 8, 8, generator=gen)  # (B, C, F, H, W): one chunk
    t = torch.full((2,), 500.0)
    emb = torch.randn(2, 12, cfg.caption_channels, generator=gen)
    mask = torch.ones(2, 12)
    caches = {name: model.new_cache(window=2) for name, (model, _, _) in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, (model, dtype, context) in variants.items():  # a two-chunk history
            with context():
                for _ in range(2):
                    model(x.to(dtype), t, emb.to(dtype), mask, cache=caches[name])
                    caches[name].advance()
        for _ in range(a.rounds):
            for name, (model, dtype, context) in variants.items():
                with context():
                    for _ in range(3):  # warm-up
                        model(x.to(dtype), t, emb.to(dtype), mask, cache=caches[name])
                    start = time.perf_counter()
                    for _ in range(a.calls):
                        outputs[name] = model(x.to(dtype), t, emb.to(dtype), mask, cache=caches[name])
                    times[name].append((time.perf_counter() - start) / a.calls)
    ref = outputs["float32"].float()
    base = statistics.median(times["float32"])
    rows = []
    for name in variants:
        med = statistics.median(times[name])
        diff = float((outputs[name].float() - ref).norm() / ref.norm())
        rows.append(f"| {name} | {1000 * med:.1f} | {base / med:.2f}x | {diff:.1e} |")
    shown = "the embedded default (shapes-tiny)" if a.model == str(DEFAULT_MODEL_DIR) else a.model
    table = (
        f"### Streaming forward by dtype, CPU ({datetime.date.today().isoformat()})\n\n"
        f"Machine: {machine()}. Model: {shown}. One cached forward of a 3-latent-frame chunk with a two-chunk "
        "history, batch 2 (CFG), inference mode; the variants alternate in one process, "
        f"{a.rounds} rounds of {a.calls} forwards; median time per forward. Script: `benchmarks/forward_dtype.py`.\n\n"
        "| variant | ms per forward | speed-up | relative L2 difference from float32 |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    publish(table, a.write)


if __name__ == "__main__":
    main()
