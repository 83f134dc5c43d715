"""Which caption words does a shapes-world model use, and at which noise levels? (docs/embedded-model.md)

    python scripts/caption_probe.py MODEL [--clips 16] [--sigmas 0.995 0.97 0.9]

MODEL: a model folder (the embedded default if omitted: `sanavideo.assets`), or a training checkpoint folder
(`.../checkpoints/step-N`, its EMA weights on top of the embedded folder's VAE and tokenizer; `--raw` for the
raw weights). Prints four measurements, each on fixed seeds so that two models compare:

1. the flow loss of rendered clips at each sigma with the clip's own caption and with its motion / colour /
   shape swapped or the caption empty (same clip, same noise): a word group the model reads raises the loss
   when swapped;
2. the first-step prediction (pure noise, t = 1000) for "a red circle moves right / left / up / down": rms
   difference between directions against red vs blue (a model that places the object by the motion words
   makes different videos);
3. the share of cross-attention each caption token receives, per block (mean over heads and video tokens);
4. how much of the caption's direction reaches each block's cross-attention output (pure noise, 24 captions:
   3 colours x 2 shapes x 4 directions; the variance of the output's token mean between directions and between
   colours): a block that reads the motion words has a direction variance comparable to its colour variance.
"""

from __future__ import annotations

import argparse
import itertools
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from sanavideo.data.shapes import MOTIONS, PALETTE_NAMES, SHAPES, caption, render, sample_spec
from sanavideo.loading import DEFAULT_MODEL_DIR
from sanavideo.pipeline import SanaVideoPipeline
from sanavideo.pixels import from_uint8
from sanavideo.train.checkpoint import split_ema


def load(model: str | None, raw: bool) -> SanaVideoPipeline:
    if model is None or not (Path(model) / "ema.safetensors").is_file():
        return SanaVideoPipeline.from_pretrained(model or DEFAULT_MODEL_DIR)
    pipe = SanaVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    if raw:
        transformer = load_file(f"{model}/model.safetensors")
        text = load_file(f"{model}/text_encoder.safetensors")
    else:
        transformer, text = split_ema(load_file(f"{model}/ema.safetensors"))
    for module, weights in ((pipe.transformer, transformer), (pipe.text_encoder.model, text)):
        dtype = next(module.parameters()).dtype
        module.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=True)
    return pipe


def velocity(pipe: SanaVideoPipeline, latents: torch.Tensor, sigma: float, prompt: str) -> torch.Tensor:
    cond, _ = pipe.encode_prompt([prompt])
    B = latents.shape[0]
    t = torch.full((B,), 1000.0 * sigma)
    return pipe.transformer(latents, t, cond.embeds.expand(B, -1, -1), cond.mask.expand(B, -1)).float()


def swap_losses(pipe: SanaVideoPipeline, clips: int, sigmas: list[float]) -> dict[str, np.ndarray]:
    """{caption variant: mean loss per sigma} over `clips` rendered clips."""
    rng = np.random.default_rng(123)
    gen = torch.Generator().manual_seed(0)
    out: dict[str, list[list[float]]] = {k: [] for k in ("own", "motion", "colour", "shape", "empty")}
    for i in range(clips):
        spec = sample_spec(rng)
        others = {
            "motion": replace(spec, motion=rng.choice([m for m in MOTIONS if m != spec.motion])),
            "colour": replace(spec, colour=rng.choice([c for c in PALETTE_NAMES if c != spec.colour])),
            "shape": replace(spec, shape=rng.choice([s for s in SHAPES if s != spec.shape])),
        }
        # every variant worded with the same template draws: only the swapped word group differs
        captions = {k: caption(s, np.random.default_rng(i), motion_score=False) for k, s in others.items()}
        captions["own"] = caption(spec, np.random.default_rng(i), motion_score=False)
        captions["empty"] = ""
        # (T, H, W, 3) uint8 -> (1, 3, T, H, W) in [-1, 1]
        pixels = from_uint8(torch.from_numpy(render(spec, 33, pipe.options.height)))
        x0 = pipe.vae.encode(pixels.permute(3, 0, 1, 2)[None]).float()
        rows = {k: [] for k in captions}
        for sigma in sigmas:
            eps = torch.randn(x0.shape, generator=gen)
            noisy = (1 - sigma) * x0 + sigma * eps
            for k, text in captions.items():
                v = velocity(pipe, noisy, sigma, text)
                rows[k].append((v - (eps - x0)).square().mean().item())
        for k, r in rows.items():
            out[k].append(r)
    return {k: np.array(v).mean(0) for k, v in out.items()}


def pure_noise(pipe: SanaVideoPipeline, batch: int, seed: int) -> torch.Tensor:
    """(batch, C, F, H, W) standard normal latents of a default-size clip."""
    shape = (batch, *pipe.check_size().latent_shape)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def first_step_differences(pipe: SanaVideoPipeline, noises: int = 8) -> dict[str, float]:
    """rms difference of the first-step x0 prediction between prompts, same noise."""
    noise = pure_noise(pipe, noises, 0)
    x0 = {
        name: noise - velocity(pipe, noise, 1.0, f"a {colour} circle moves {direction} on a black background")
        for name, colour, direction in (
            ("right", "red", "right"),
            ("left", "red", "left"),
            ("up", "red", "up"),
            ("down", "red", "down"),
            ("blue", "blue", "right"),
        )
    }
    return {
        f"right vs {k}": (x0["right"] - x0[k]).square().mean().sqrt().item()
        for k in ("left", "up", "down", "blue")
    }


@contextmanager
def cross_attention_hooks(pipe: SanaVideoPipeline, make_hook):
    """`make_hook(block_index)` registered as a forward hook on every block's cross-attention meanwhile."""
    blocks = pipe.transformer.blocks
    handles = [b.cross_attn.register_forward_hook(make_hook(i)) for i, b in enumerate(blocks)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def attention_shares(pipe: SanaVideoPipeline, prompt: str, sigma: float = 1.0) -> list[np.ndarray]:
    """Per block: (L,) share of cross-attention on each real caption token."""
    shares: list[np.ndarray] = []

    def hook(module, inputs, _output):
        x, y, bias = inputs
        B = x.shape[0]
        q = module.q_norm(module.q_linear(x))
        k = module.k_norm(module.kv_linear(y).chunk(2, dim=-1)[0])
        # (B, n, D) -> (B, H, n, d)
        q, k = (t.reshape(B, -1, module.heads, module.head_dim).transpose(1, 2) for t in (q, k))
        logits = q @ k.transpose(-1, -2) / module.head_dim**0.5
        if bias is not None:
            logits = logits + bias
        shares.append(logits.softmax(-1).mean(dim=(0, 1, 2)).numpy())

    with cross_attention_hooks(pipe, lambda _i: hook):
        velocity(pipe, pure_noise(pipe, 4, 1), sigma, prompt)
    return shares


def direction_information(pipe: SanaVideoPipeline) -> list[tuple[float, float]]:
    """Per block: (variance between directions, variance between colours) of the cross-attention output."""
    colours, shapes, directions = (
        ("red", "blue", "green"),
        ("circle", "square"),
        ("right", "left", "up", "down"),
    )
    outputs: dict[int, list[torch.Tensor]] = {}

    def hook(i):
        def record(_module, _inputs, out):
            outputs.setdefault(i, []).append(out.mean(dim=(0, 1)))  # (B, N, D) -> (D,)

        return record

    noise = pure_noise(pipe, 2, 0)
    with cross_attention_hooks(pipe, hook):
        for c, s, d in itertools.product(colours, shapes, directions):
            velocity(pipe, noise, 1.0, f"a {c} {s} moves {d} on a black background")
    result = []
    for i in sorted(outputs):
        x = torch.stack(outputs[i]).view(len(colours), len(shapes), len(directions), -1)
        by_direction, by_colour = x.mean(dim=(0, 1)), x.mean(dim=(1, 2))  # (4, D), (3, D)
        spread = [(m - m.mean(0)).square().sum(-1).mean().item() for m in (by_direction, by_colour)]
        result.append((spread[0], spread[1]))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="model folder or training checkpoint folder")
    p.add_argument("--raw", action="store_true", help="a checkpoint's raw weights instead of its EMA")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.995, 0.97, 0.9])
    args = p.parse_args()
    torch.manual_seed(0)
    pipe = load(args.model, args.raw)
    with torch.inference_mode():
        print(f"flow loss by caption, sigma {args.sigmas} ({args.clips} rendered clips):")
        for k, v in swap_losses(pipe, args.clips, args.sigmas).items():
            print(f"  {k:7s} " + "  ".join(f"{x:.4f}" for x in v))
        print("first-step prediction, rms difference (a red circle moves right on a black background):")
        for k, v in first_step_differences(pipe).items():
            print(f"  {k:14s} {v:.4f}")
        prompt = "a red circle moves right on a black background"
        tokens = ["<bos>", *prompt.split()]
        print(f"cross-attention share per token at sigma 1 ({prompt!r}), per block:")
        print("  " + " ".join(f"{t:>10s}" for t in tokens))
        for i, s in enumerate(attention_shares(pipe, prompt)):
            print(f"{i:2d}" + " ".join(f"{x:10.2f}" for x in s[: len(tokens)]))
        print("cross-attention output at sigma 1, variance between directions / between colours, per block:")
        for i, (d, c) in enumerate(direction_information(pipe)):
            print(f"{i:2d}  direction {d:.4f}  colour {c:.4f}")


if __name__ == "__main__":
    main()
