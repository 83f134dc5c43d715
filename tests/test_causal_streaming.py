"""Block-causal and cached streaming modes against an O(N^2) masked reference (docs/reference.md §2.2-2.4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import sanavideo.model.attention as attention_module
from sanavideo.config import get_preset
from sanavideo.model import AttentionState, SanaVideoTransformer, chunk_layout
from sanavideo.model.layers import temporal_taps

# the `tiny` preset, three blocks deep, with a larger linear-attention eps
CFG = get_preset("tiny").replace(
    num_layers=3, head_dim=12, cross_head_dim=12, caption_channels=16, linear_attn_eps=1e-6
)


def rel_err(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def make_model(seed=0) -> SanaVideoTransformer:
    torch.manual_seed(seed)
    model = SanaVideoTransformer(CFG).eval()
    with torch.no_grad():
        for block in model.blocks:  # the temporal conv starts at zero; make it count
            block.mlp.t_conv.weight.normal_(std=0.1)
    return model


def masked_reference(window: int | None = None):
    """O(N^2) linear attention with an explicit (query chunk, key chunk) mask; `window` keeps only the last
    `window` earlier chunks."""

    def reference(q, k, q_rot, k_rot, v, chunk_tokens, eps, history=None):
        assert history is None, "the reference runs one-shot"
        chunk_id = torch.repeat_interleave(torch.arange(len(chunk_tokens)), torch.tensor(chunk_tokens))
        qc, kc = chunk_id[:, None], chunk_id[None, :]
        mask = kc <= qc
        if window is not None:
            mask &= kc >= qc - window
        mask = mask.float()
        numerator = ((q_rot @ k_rot.transpose(-1, -2)) * mask) @ v.float()  # (B, H, N, d)
        denominator = ((q.float() @ k.float().transpose(-1, -2)) * mask).sum(-1, keepdim=True)
        out = numerator / (denominator + eps)
        last = slice(sum(chunk_tokens[:-1]), None)
        own = AttentionState(
            v[:, :, last].float().transpose(-1, -2) @ k_rot[:, :, last], k[:, :, last].float().sum(2)
        )
        return out, own

    return reference


def inputs(frames: int, seed=1, batch=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, CFG.in_channels, frames, 4, 6, generator=g)
    emb = torch.randn(batch, 5, CFG.caption_channels, generator=g)
    mask = torch.ones(batch, 5)
    mask[0, 3:] = 0
    return x, emb, mask


def test_chunk_layout_puts_remainder_first():
    assert chunk_layout(21, 10) == [11, 10]
    assert chunk_layout(241, 10) == [11] + [10] * 23
    assert chunk_layout(5, 10) == [5]
    assert chunk_layout(7, None) == [7]
    assert chunk_layout(7, [3, 4]) == [3, 4]
    with pytest.raises(ValueError, match="sum to the 7"):
        chunk_layout(7, [3, 3])


@pytest.mark.parametrize("chunks", [[2, 2, 2], [3, 1, 2], [1, 1, 1, 1, 1, 1]])
def test_block_causal_equals_masked_reference(chunks, monkeypatch):
    model = make_model()
    x, emb, mask = inputs(sum(chunks))
    t = torch.tensor([700.0, 250.0])
    with torch.no_grad():
        out = model(x, t, emb, mask, chunk_frames=chunks)
        monkeypatch.setattr(attention_module, "linear_attention", masked_reference())
        expected = model(x, t, emb, mask, chunk_frames=chunks)
    assert rel_err(out, expected) < 1e-5


def test_bidirectional_equals_masked_reference(monkeypatch):
    model = make_model()
    x, emb, mask = inputs(4)
    t = torch.tensor([700.0, 250.0])
    with torch.no_grad():
        out = model(x, t, emb, mask)
        monkeypatch.setattr(attention_module, "linear_attention", masked_reference())
        expected = model(x, t, emb, mask)
    assert rel_err(out, expected) < 1e-5


def test_block_causal_differs_from_bidirectional():
    model = make_model()
    x, emb, mask = inputs(4)
    t = torch.tensor([700.0, 250.0])
    with torch.no_grad():
        assert rel_err(model(x, t, emb, mask, chunk_frames=2), model(x, t, emb, mask)) > 1e-3


def test_later_chunks_never_change_earlier_outputs():
    model = make_model()
    x, emb, mask = inputs(6)
    t = torch.tensor([[500.0] * 6, [100.0] * 6])
    chunks = [2, 2, 2]
    x2 = x.clone()
    x2[:, :, 2:] = torch.randn_like(x2[:, :, 2:])  # change chunks 1 and 2
    x3 = x.clone()
    x3[:, :, 4:] += 1.0  # change chunk 2 only
    with torch.no_grad():
        a = model(x, t, emb, mask, chunk_frames=chunks)
        b = model(x2, t, emb, mask, chunk_frames=chunks)
        c = model(x3, t, emb, mask, chunk_frames=chunks)
    assert torch.equal(a[:, :, :2], b[:, :, :2])
    assert torch.equal(a[:, :, :4], c[:, :, :4])
    assert not torch.allclose(a[:, :, 4:], c[:, :, 4:])


def test_temporal_conv_block_causal_against_per_chunk_conv():
    """The Mix-FFN temporal conv: each chunk sees the previous chunk's last frame on the left, zeros on
    the right (docs/reference.md §2.2); checked against nn.functional.conv2d run chunk by chunk."""
    g = torch.Generator().manual_seed(0)
    B, F_, HW, D = 2, 7, 5, 6
    y = torch.randn(B, F_, HW, D, generator=g)
    weight = torch.randn(D, D, 3, 1, generator=g)
    chunks = [3, 2, 2]
    got = temporal_taps(y, weight, chunks, tail=None)
    xt = y.permute(0, 3, 1, 2)  # (B, D, F, HW)
    expected, start = [], 0
    for size in chunks:
        left = xt[:, :, start - 1 : start] if start > 0 else torch.zeros_like(xt[:, :, :1])
        seg = torch.cat([left, xt[:, :, start : start + size], torch.zeros_like(left)], dim=2)
        expected.append(F.conv2d(seg, weight))
        start += size
    expected = torch.cat(expected, dim=2).permute(0, 2, 3, 1)
    assert rel_err(got, expected) < 1e-6
    # one chunk = upstream's symmetric conv with zero padding
    full = F.conv2d(xt, weight, padding=(1, 0)).permute(0, 2, 3, 1)
    assert rel_err(temporal_taps(y, weight, [F_], tail=None), full) < 1e-6


def stream_against_one_shot(model, layout, window=None, monkeypatch=None):
    """Stream chunk by chunk (denoise pass, then the clean t=0 pass that commits the chunk) and compare each
    chunk's denoise output with a block-causal one-shot forward of [clean history, noisy chunk]."""
    frames = sum(layout)
    x_clean, emb, mask = inputs(frames, seed=7)
    x_noisy = torch.randn_like(x_clean)
    B = x_clean.shape[0]
    cache = model.new_cache(window=window)
    if monkeypatch is not None:
        monkeypatch.setattr(attention_module, "linear_attention", masked_reference(window))
    errors, start = [], 0
    with torch.no_grad():
        for c, size in enumerate(layout):
            end = start + size
            t_c = torch.tensor([900.0, 333.0])
            # one-shot reference: clean chunks at t=0, then this chunk at t_c
            seq = torch.cat([x_clean[:, :, :start], x_noisy[:, :, start:end]], dim=2)
            t_frames = torch.cat([torch.zeros(B, start), t_c[:, None].expand(B, size)], dim=1)
            if monkeypatch is not None:
                monkeypatch.undo()
                monkeypatch.setattr(attention_module, "linear_attention", masked_reference(window))
            expected = model(seq, t_frames, emb, mask, chunk_frames=layout[: c + 1])[:, :, start:end]
            if monkeypatch is not None:
                monkeypatch.undo()
            assert cache.next_frame == start
            got = model(x_noisy[:, :, start:end], t_c, emb, mask, cache=cache)
            errors.append(rel_err(got, expected))
            model(x_clean[:, :, start:end], torch.zeros(B), emb, mask, cache=cache)
            cache.advance()
            start = end
    return errors


@pytest.mark.parametrize("layout", [[3, 2, 2, 2], [1, 2, 2], [2, 2, 2, 2, 2], [4, 1, 3]])
def test_streaming_equals_block_causal_one_shot(layout):
    errors = stream_against_one_shot(make_model(), layout)
    assert max(errors) < 1e-5, errors


@pytest.mark.parametrize("window", [1, 2])
def test_streaming_window_equals_windowed_reference(window, monkeypatch):
    """With a window of N chunks the stream equals an O(N^2) reference whose mask keeps only those chunks."""
    errors = stream_against_one_shot(make_model(), [2, 1, 2, 2, 1], window=window, monkeypatch=monkeypatch)
    assert max(errors) < 1e-5, errors


def test_window_changes_the_result():
    model = make_model()
    full = stream_against_one_shot(model, [2, 2, 2])  # sanity: the full-history stream is exact
    assert max(full) < 1e-5
    x, emb, mask = inputs(6)
    outs = []
    for window in (None, 1):
        cache = model.new_cache(window=window)
        with torch.no_grad():
            for s in (0, 2):
                model(x[:, :, s : s + 2], torch.zeros(2), emb, mask, cache=cache)
                cache.advance()
            outs.append(model(x[:, :, 4:], torch.full((2,), 500.0), emb, mask, cache=cache))
    assert rel_err(outs[0], outs[1]) > 1e-4


def test_rope_uses_absolute_frame_positions():
    """Cached keys keep the rotation of their absolute frames, so a new chunk must be rotated at its own
    absolute position (cache.next_frame), not from 0 (the divergence of docs/reference.md §6.1 item 5). Shifting the
    whole stream keeps relative positions, and positions past upstream's 1024-frame table work."""
    model = make_model()
    x, emb, mask = inputs(4)
    t = torch.tensor([400.0, 400.0])

    def second_chunk(start: int, offset_override: int | None = None):
        cache = model.new_cache()
        with torch.no_grad():
            model(x[:, :, :2], torch.zeros(2), emb, mask, cache=cache, frame_offset=start)
            cache.advance()
            offset = start + 2 if offset_override is None else offset_override
            return model(x[:, :, 2:], t, emb, mask, cache=cache, frame_offset=offset)

    right = second_chunk(0)
    wrong = second_chunk(0, offset_override=0)
    shifted = second_chunk(1500)
    assert rel_err(wrong, right) > 1e-4
    assert rel_err(shifted, right) < 1e-5


def test_cache_size_is_constant():
    model = make_model()
    x, emb, mask = inputs(1, batch=1)
    sizes = {}
    for window in (None, 3):
        cache = model.new_cache(window=window)
        with torch.no_grad():
            for n in range(1, 201):
                model(x, torch.zeros(1), emb, mask, cache=cache)
                cache.advance()
                if n in (2, 200) and window is None or n in (4, 200) and window == 3:
                    sizes[(window, n)] = cache.nbytes()
        assert cache.next_frame == 200
    assert sizes[(None, 2)] == sizes[(None, 200)] > 0
    assert sizes[(3, 4)] == sizes[(3, 200)] > 0  # full after window + 1 chunks (one kept for rewind)


def test_cache_lifecycle_rewind_and_errors():
    model = make_model()
    x, emb, mask = inputs(4)
    cache = model.new_cache()
    with pytest.raises(RuntimeError, match="before a cached forward"):
        cache.advance()
    with torch.no_grad():
        model(x[:, :, :2], torch.zeros(2), emb, mask, cache=cache)
        cache.advance()
        model(x[:, :, 2:3], torch.zeros(2), emb, mask, cache=cache)
        cache.advance()
        probe = model(x[:, :, 3:], torch.full((2,), 600.0), emb, mask, cache=cache)
        cache.rewind()  # drop chunk 1 and re-commit it: the state is as before
        assert cache.next_frame == 2
        with pytest.raises(RuntimeError, match="only the last"):
            cache.rewind()
        model(x[:, :, 2:3], torch.zeros(2), emb, mask, cache=cache)
        cache.advance()
        again = model(x[:, :, 3:], torch.full((2,), 600.0), emb, mask, cache=cache)
    assert torch.equal(probe, again)
    cache.reset()
    assert cache.next_frame == 0 and cache.nbytes() == 0
    with pytest.raises(ValueError, match="not both"):
        model(x, torch.zeros(2), emb, mask, cache=cache, chunk_frames=2)
