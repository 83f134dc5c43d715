"""A deeper transformer that computes exactly what a trained one did (function-preserving deepening).

`deepen(model, after)` returns a `SanaVideoTransformer` with one new block inserted after each listed block
index. A new block starts as the identity: the three projections that write into the residual stream (the
self-attention's `proj`, the cross-attention's `proj` and the Mix-FFN's `point_conv`; the temporal conv reads
the latter and is zero from the start) are zero, so the block adds nothing, while its other weights start as a
fresh block's. Training then grows it from where the shallower model stopped: the zero projections get
gradients at once (their inputs are the block's live activations), and the rest of the block once they move.
Every old tensor is copied bit for bit, so the deeper model equals the old one in every mode (bidirectional,
block-causal, streaming with its cache), tested.

    python -m sanavideo.train.deepen src/sanavideo/assets/shapes-tiny/transformer runs/deep/transformer --after 3 7

writes the deeper transformer (sanavideo layout) for `sanavideo train ... model.init_from=OUT`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

# the block's writers into the residual stream: zero makes the block the identity
IDENTITY_ZEROS = (
    "attn.proj.weight",
    "attn.proj.bias",
    "cross_attn.proj.weight",
    "cross_attn.proj.bias",
    "mlp.point_conv.conv.weight",
)


def deepen(model, after: Sequence[int], seed: int = 0):
    """`model` with a new identity block after each block index in `after` (0-based, in the old numbering;
    repeats insert several)."""
    from sanavideo.model import SanaVideoTransformer

    old_layers = model.config.num_layers
    bad = [i for i in after if not 0 <= i < old_layers]
    if bad or not after:
        raise ValueError(f"--after takes block indices from 0 to {old_layers - 1}, got {list(after)}")
    cfg = model.config.replace(num_layers=old_layers + len(after))
    torch.manual_seed(seed)
    deep = SanaVideoTransformer(cfg)
    deep.init_weights()
    # old block i -> its new index; the inserted blocks take the indices in between
    new_index, inserted, k = {}, [], 0
    for i in range(old_layers):
        new_index[i] = k
        k += 1
        for _ in range(list(after).count(i)):
            inserted.append(k)
            k += 1
    state = deep.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            key = f"blocks.{new_index[int(i)]}.{rest}"
        state[key] = value.detach().clone()
    for j in inserted:
        for name in IDENTITY_ZEROS:
            state[f"blocks.{j}.{name}"] = torch.zeros_like(state[f"blocks.{j}.{name}"])
    deep.load_state_dict(state, strict=True)
    return deep.to(next(model.parameters()).dtype)


def main(argv: list[str] | None = None) -> int:
    from sanavideo.model import SanaVideoTransformer

    p = argparse.ArgumentParser(prog="python -m sanavideo.train.deepen", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "source", help="a transformer folder or checkpoint (any layout SanaVideoTransformer loads)"
    )
    p.add_argument("out", help="folder for the deeper transformer (sanavideo layout, float32)")
    p.add_argument("--after", type=int, nargs="+", required=True, help="insert a block after these indices")
    p.add_argument("--seed", type=int, default=0, help="seed of the new blocks' non-zero weights")
    args = p.parse_args(argv)
    model = SanaVideoTransformer.from_pretrained(args.source, dtype=torch.float32)
    deep = deepen(model, args.after, args.seed)
    deep.save_pretrained(args.out)
    print(
        f"{args.out}: {model.config.num_layers} -> {deep.config.num_layers} blocks, {deep.num_parameters():,} parameters"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
