"""Forward-pass time and peak memory: sanavideo's SanaVideoTransformer against diffusers'
SanaVideoTransformer3DModel with the same weights, at the 2B width (2240 = 20 heads x 112), on CPU.

Each implementation runs in its own subprocess so that peak RSS (ru_maxrss) is its own. Peak memory is
reported as the growth of the peak RSS over the RSS after the weights are loaded (activations and
temporaries), plus the total peak. The forward's floating-point operations (torch's FlopCounterMode) over each
median time give its rate, set against the rate of the model's largest matrix product timed alone (the
ceiling of a forward made of such products on this CPU), so the table also says how much faster than
diffusers any float32 implementation could be here.

    python benchmarks/transformer_forward.py [--layers 2] [--frames 5] [--height 30] [--width 52] [--repeats 5]
        [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, publish


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def forward_inputs(cfg, args):
    """(latents, timestep, caption embeddings, caption mask) of the benchmark, the same in every process."""
    import torch

    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, cfg.in_channels, args.frames, args.height, args.width, generator=g)
    emb = torch.randn(1, 300, cfg.caption_channels, generator=g)
    mask = torch.ones(1, 300)
    mask[:, 40:] = 0
    return x, torch.tensor([500.0]), emb, mask


def matmul_gflops(tokens: int, width: int, hidden: int, repeats: int = 5) -> float:
    """float32 rate of the forward's largest product alone, (tokens, width) by (width, hidden), best of
    `repeats` after a warm-up."""
    import torch
    import torch.nn.functional as F

    a, w = torch.randn(tokens, width), torch.randn(hidden, width)
    F.linear(a, w)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        F.linear(a, w)
        best = min(best, time.perf_counter() - start)
    return 2 * tokens * width * hidden / best / 1e9


def run_one(args) -> dict:
    import torch

    from sanavideo.config import get_preset
    from sanavideo.model import SanaVideoTransformer

    torch.manual_seed(0)
    cfg = get_preset("2B-480p").replace(num_layers=args.layers)
    if args.impl == "ours":
        model = SanaVideoTransformer.from_pretrained(args.weights)
    else:
        from diffusers import SanaVideoTransformer3DModel

        model = SanaVideoTransformer3DModel.from_pretrained(args.weights)
    model.eval()
    x, t, emb, mask = forward_inputs(cfg, args)

    def forward():
        if args.impl == "ours":
            return model(x, t, emb, mask)
        return model(
            x, encoder_hidden_states=emb, timestep=t, encoder_attention_mask=mask, return_dict=False
        )[0]

    with torch.inference_mode():
        forward()  # warm-up
        loaded = rss_mb()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = forward()
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.save(out, args.out)
    return {"median_s": statistics.median(times), "peak_mb": peak, "activation_peak_mb": peak - loaded}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--height", type=int, default=30)
    p.add_argument("--width", type=int, default=52)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--write", type=Path, help="append the result table to this markdown file")
    p.add_argument("--impl", choices=["ours", "diffusers"], help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.impl:
        print(json.dumps(run_one(args)))
        return

    import torch

    from sanavideo.config import get_preset
    from sanavideo.convert.io import DIFFUSERS_NUMERICS, save_diffusers
    from sanavideo.model import SanaVideoTransformer

    cfg = get_preset("2B-480p").replace(num_layers=args.layers, **DIFFUSERS_NUMERICS)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = SanaVideoTransformer(cfg)
        model.init_weights()
        with torch.no_grad():
            for block in model.blocks:
                block.mlp.t_conv.weight.normal_(std=0.01)
        save_diffusers(model.state_dict(), cfg, Path(tmp) / "w")
        from torch.utils.flop_counter import FlopCounterMode

        x, t, emb, mask = forward_inputs(cfg, args)
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(x, t, emb, mask)
        gflop = counter.get_total_flops() / 1e9
        del model
        hidden = 2 * cfg.ffn_hidden  # the Mix-FFN's inverted conv: value and gate
        tokens = args.frames * (args.height // 2) * (args.width // 2)
        ceiling = matmul_gflops(tokens, cfg.hidden_size, hidden)
        results = {}
        for impl in ("diffusers", "ours"):
            cmd = [
                sys.executable,
                __file__,
                "--impl",
                impl,
                "--weights",
                str(Path(tmp) / "w"),
                "--out",
                str(Path(tmp) / f"{impl}.pt"),
            ] + [f"--{k}={getattr(args, k)}" for k in ("layers", "frames", "height", "width", "repeats")]
            results[impl] = json.loads(subprocess.check_output(cmd, text=True).strip().splitlines()[-1])
        a, b = torch.load(Path(tmp) / "ours.pt"), torch.load(Path(tmp) / "diffusers.pt")
        rel = ((a - b).norm() / b.norm()).item()

    speedup = results["diffusers"]["median_s"] / results["ours"]["median_s"]
    date = datetime.date.today().isoformat()
    lines = [
        f"### Transformer forward, CPU ({date})",
        "",
        f"Machine: {machine()}. Width 2240 (20 heads x 112), {args.layers} layers, latent (16, {args.frames}, "
        f"{args.height}, {args.width}) = {tokens} tokens, 300 caption tokens, float32, batch 1, inference mode; "
        f"median of {args.repeats} forwards after one warm-up; each implementation in its own process. "
        f"Relative L2 difference of the outputs: {rel:.1e}. Script: `benchmarks/transformer_forward.py`.",
        "",
        "| implementation | median time (s) | GFLOP/s | of the matmul rate | peak RSS (MB) | peak growth over "
        "loaded weights (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for impl in ("diffusers", "ours"):
        r = results[impl]
        rate = gflop / r["median_s"]
        lines.append(
            f"| {impl} | {r['median_s']:.3f} | {rate:.0f} | {rate / ceiling:.0%} | {r['peak_mb']:.0f} | "
            f"{r['activation_peak_mb']:.0f} |"
        )
    best = ceiling / (gflop / results["diffusers"]["median_s"])
    lines += [
        "",
        f"Speed-up of ours over diffusers: **{speedup:.2f}x**. The forward is {gflop:.0f} GFLOP (torch "
        f"FlopCounterMode); the largest product alone, ({tokens}, {cfg.hidden_size}) by ({cfg.hidden_size}, "
        f"{hidden}) in float32, runs at {ceiling:.0f} GFLOP/s (best of 5): a forward run entirely at that rate "
        f"would be {best:.2f}x diffusers.",
        "",
    ]
    table = "\n".join(lines)
    publish(table, args.write)


if __name__ == "__main__":
    main()
