"""Streaming long video: time per chunk and peak memory against video length.

Two measurements, each (variant, length) in its own subprocess so that peak RSS is its own:

1. `pipeline`: `SanaVideoPipeline.stream` with the model (default: the embedded one), VAE decode included:
   generated frames per second, per-chunk time (first ten and last ten chunks), peak RSS.
2. `transformer`: the same transformer's chunk loop (denoise steps + clean pass) with our constant-size
   linear-attention state (`state`), against a softmax-attention baseline of the same width and depth that
   keeps a growing KV cache (`softmax-kv`: every block attends with softmax to the keys and values of all
   earlier chunks, which it stores). No decode.

    python benchmarks/streaming.py [--model PATH] [--seconds 5 15 30 60] [--dtype auto] [--write docs/benchmarks.md]
        [--plot docs/streaming.png]

`--dtype` is the pipeline's transformer and text encoder dtype: `auto` (default) is what `sanavideo generate`
uses, bfloat16 where it is native (`sanavideo.device.inference_dtype`), else float32. The `state` and
`softmax-kv` loops run in float32.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from report import machine, publish


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pipeline(model: str | None, frames: int, dtype: str) -> dict:
    import torch

    from sanavideo.pipeline import SanaVideoPipeline

    pipe = SanaVideoPipeline.from_pretrained(model).to(dtype=getattr(torch, dtype))
    times, start, done = [], time.perf_counter(), 0
    last = start
    for chunk in pipe.stream(
        "a red circle bounces around", frames=frames, generator=torch.Generator().manual_seed(0)
    ):
        now = time.perf_counter()
        times.append(now - last)
        last = now
        done += len(chunk)
    total = time.perf_counter() - start
    return {"frames": done, "seconds": total, "fps": done / total, "chunk_times": times, "peak_mb": peak_mb()}


def run_transformer(model: str | None, frames: int, variant: str) -> dict:
    import torch
    import torch.nn.functional as F

    from sanavideo.model.attention import AttentionState
    from sanavideo.model.rope import apply_rope
    from sanavideo.pipeline import SanaVideoPipeline
    from sanavideo.sampling.streaming import PromptSchedule, StreamSettings, stream_latents

    pipe = SanaVideoPipeline.from_pretrained(model)
    model_ = pipe.transformer
    opts = pipe.options
    if variant == "softmax-kv":
        for block in model_.blocks:
            attn = block.attn
            store: dict = {"k": [], "v": []}

            def forward(x, rope, chunk_tokens, history=None, attn=attn, store=store):
                B, N, D = x.shape
                q, k, v = attn.qkv(x).chunk(3, dim=-1)
                q, k = attn.q_norm(q), attn.k_norm(k)
                q, k, v = (t.reshape(B, N, attn.heads, attn.head_dim) for t in (q, k, v))
                q, k = apply_rope(q, rope), apply_rope(k, rope)
                # (B, N, H, d) -> (B, H, N, d); the chunk attends to every stored chunk and to itself
                q, k, v = (t.transpose(1, 2) for t in (q, k, v))
                keys = torch.cat([*store["k"], k], dim=2)
                values = torch.cat([*store["v"], v], dim=2)
                out = F.scaled_dot_product_attention(q, keys, values)
                store["pending"] = (k, v)
                own = AttentionState(torch.zeros(1), torch.zeros(1))
                return attn.proj(out.transpose(1, 2).reshape(B, N, D)), own

            attn.forward = forward
            attn.store = store

        def commit():  # after a chunk's clean pass: keep its keys and values (the growing KV cache)
            for block in model_.blocks:
                k, v = block.attn.store["pending"]
                block.attn.store["k"].append(k)
                block.attn.store["v"].append(v)

    cond, _ = pipe.encode_prompt(["a red circle bounces around"])
    size = pipe.check_size(frames=frames)
    settings = StreamSettings(chunk_frames=opts.stream_chunk_frames, window=None, fresh_noise=False)
    times = []
    start = last = time.perf_counter()
    with torch.no_grad():
        if variant == "state":
            for _ in stream_latents(
                model_,
                (1, *size.latent_shape),
                PromptSchedule([(0, cond)]),
                settings,
                torch.Generator().manual_seed(0),
            ):
                now = time.perf_counter()
                times.append(now - last)
                last = now
        else:
            from sanavideo.model import chunk_layout

            C, F_, H, W = size.latent_shape
            offset = 0
            for n in chunk_layout(F_, settings.chunk_frames):
                x = torch.randn(1, C, n, H, W)
                for t in settings.timesteps:
                    model_(x, torch.full((1,), t), cond.embeds, cond.mask, frame_offset=offset)
                model_(x, torch.zeros(1), cond.embeds, cond.mask, frame_offset=offset)
                commit()
                offset += n
                now = time.perf_counter()
                times.append(now - last)
                last = now
    return {
        "frames": frames,
        "seconds": time.perf_counter() - start,
        "chunk_times": times,
        "peak_mb": peak_mb(),
    }


def summarise(r: dict) -> dict:
    t = r["chunk_times"]
    k = min(10, max(1, len(t) // 2))
    return {
        "first10_ms": 1000 * statistics.median(t[1 : k + 1] if len(t) > k else t),
        "last10_ms": 1000 * statistics.median(t[-k:]),
        "chunks": len(t),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--seconds", type=int, nargs="+", default=[5, 15, 30, 60])
    p.add_argument("--write", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    import torch

    from sanavideo.device import resolve_dtype

    dtype = resolve_dtype(args.dtype, torch.device("cpu"))
    args.dtype = str(dtype).removeprefix("torch.")  # "auto" -> the name of the dtype it stands for
    if args.child:
        kind, frames = args.child[0], int(args.child[1])
        if kind == "pipeline":
            out = run_pipeline(args.model, frames, args.dtype)
        else:
            out = run_transformer(args.model, frames, kind)
        print(json.dumps(out))
        return

    rows = []
    for kind in ("pipeline", "state", "softmax-kv"):
        for seconds in args.seconds:
            frames = 16 * seconds + 1
            cmd = [sys.executable, __file__, "--child", kind, str(frames), "--dtype", args.dtype]
            if args.model:
                cmd += ["--model", args.model]
            # timing run with the default allocator; memory run with big buffers straight from mmap and
            # returned on free, so that peak RSS tracks live memory rather than glibc's cached heap
            out = json.loads(subprocess.check_output(cmd, text=True).strip().splitlines()[-1])
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
            mem = json.loads(subprocess.check_output(cmd, text=True, env=env).strip().splitlines()[-1])
            out["peak_mb"] = mem["peak_mb"]
            row = {
                "variant": kind,
                "seconds": seconds,
                "frames": frames,
                "peak_mb": out["peak_mb"],
                "total_s": out["seconds"],
                **summarise(out),
            }
            if kind == "pipeline":
                row["fps"] = out["fps"]
            print(json.dumps(row), flush=True)
            rows.append(row)

    date = datetime.date.today().isoformat()
    lines = [
        f"### Streaming long video, CPU ({date})",
        "",
        f"Machine: {machine()}. Model: {args.model or 'the embedded default (shapes-tiny)'}, its streaming "
        'options (chunk size, steps, window); prompt "a red circle bounces around", batch 1; '
        f"the pipeline's transformer and text encoder in {args.dtype}, the VAE and the other loops in float32. "
        "Per-chunk times are medians over the first ten chunks (after the first) and the last ten. "
        "`pipeline` = `SanaVideoPipeline.stream` including the streaming VAE decode; `state` = the transformer "
        "chunk loop with our constant-size linear-attention state (whole history, no window); `softmax-kv` = "
        "the same loop where every block uses softmax attention over a growing KV cache of all earlier "
        "chunks (same width and depth, no decode). Times come from a run with the default allocator; peak "
        "memory (the process's peak RSS) from a second run with glibc's MALLOC_MMAP_THRESHOLD_=131072, so "
        "that freed buffers leave the process and RSS tracks live memory. Script: "
        "`benchmarks/streaming.py`.",
        "",
        "| variant | video (s) | frames | chunks | first 10 chunks (ms/chunk) | last 10 chunks (ms/chunk) | "
        "peak RSS (MB) | generated fps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fps = f"{r['fps']:.1f}" if "fps" in r else f"{r['frames'] / r['total_s']:.1f}"
        lines.append(
            f"| {r['variant']} | {r['seconds']} | {r['frames']} | {r['chunks']} | {r['first10_ms']:.0f} | "
            f"{r['last10_ms']:.0f} | {r['peak_mb']:.0f} | {fps} |"
        )
    table = "\n".join(lines) + "\n"
    publish(table, args.write)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for kind in ("state", "softmax-kv", "pipeline"):
            sel = [r for r in rows if r["variant"] == kind]
            xs = [r["seconds"] for r in sel]
            axes[0].plot(xs, [r["last10_ms"] for r in sel], "o-", label=kind)
            axes[1].plot(xs, [r["peak_mb"] for r in sel], "o-", label=kind)
        axes[0].set(xlabel="video length (s)", ylabel="time per chunk, last 10 chunks (ms)")
        axes[1].set(xlabel="video length (s)", ylabel="peak RSS (MB)")
        for ax in axes:
            ax.legend()
            ax.grid(alpha=0.3)
        fig.suptitle(
            f"Streaming: constant-size state vs growing softmax KV cache ({date}, {platform.machine()})"
        )
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)


if __name__ == "__main__":
    main()
