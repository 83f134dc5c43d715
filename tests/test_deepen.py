"""Function-preserving deepening of a trained transformer (`sanavideo.train.deepen`)."""

from __future__ import annotations

import pytest
import torch
from test_causal_streaming import inputs, make_model

from sanavideo.train.deepen import deepen


def test_deeper_model_computes_what_the_old_one_did_in_every_mode():
    model = make_model()  # three blocks, temporal convs non-zero
    deep = deepen(model, [0, 2, 2], seed=3).eval()
    assert deep.config.num_layers == 6
    # old blocks 0, 1, 2 land at 0, 2, 3; the new ones at 1, 4, 5
    assert torch.equal(deep.blocks[3].attn.qkv.weight, model.blocks[2].attn.qkv.weight)
    assert torch.equal(deep.blocks[2].mlp.t_conv.weight, model.blocks[1].mlp.t_conv.weight)
    assert not torch.equal(deep.blocks[1].attn.qkv.weight, model.blocks[1].attn.qkv.weight)
    x, emb, mask = inputs(6)
    t = torch.tensor([700.0, 50.0])
    with torch.no_grad():
        for kwargs in ({}, {"chunk_frames": 2}):
            torch.testing.assert_close(
                deep(x, t, emb, mask, **kwargs), model(x, t, emb, mask, **kwargs), rtol=0, atol=1e-6
            )
        outs = []
        for m in (model, deep):  # streamed: two chunks committed, then a noisy one against the cache
            cache = m.new_cache()
            for s in (0, 2):
                m(x[:, :, s : s + 2], torch.zeros(2), emb, mask, cache=cache)
                cache.advance()
            outs.append(m(x[:, :, 4:], t, emb, mask, cache=cache))
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-6)


def test_new_blocks_learn_from_the_first_step():
    model = make_model()
    deep = deepen(model, [1])
    x, emb, mask = inputs(4)
    deep(x, torch.tensor([700.0, 50.0]), emb, mask, chunk_frames=2).square().mean().backward()
    new = deep.blocks[2]
    for p in (new.attn.proj.weight, new.cross_attn.proj.weight, new.mlp.point_conv.conv.weight):
        assert p.grad is not None and p.grad.abs().max() > 0


def test_deepen_checks_indices_and_saves(tmp_path):
    from sanavideo.model import SanaVideoTransformer
    from sanavideo.train.deepen import main

    model = make_model()
    with pytest.raises(ValueError, match="from 0 to 2, got \\[3\\]"):
        deepen(model, [3])
    model.save_pretrained(tmp_path / "src")
    assert main([str(tmp_path / "src"), str(tmp_path / "out"), "--after", "1"]) == 0
    loaded = SanaVideoTransformer.from_pretrained(tmp_path / "out")
    assert loaded.config.num_layers == 4 and torch.equal(
        loaded.blocks[3].attn.qkv.weight, model.blocks[2].attn.qkv.weight
    )
