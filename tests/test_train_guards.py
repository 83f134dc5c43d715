"""Training lines that a mutation must break: EMA, warm-up, clipping, chunks, checkpointing, LoRA scale.

Each test fails when the line it names is broken (checked by breaking it: see the issue tracker's list).
"""

from __future__ import annotations

import pytest
import torch
from test_train_loop import make_args

from sanavideo.model import SanaVideoTransformer
from sanavideo.train import train
from sanavideo.train.ema import EMA

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ema_is_decay_times_shadow_plus_the_rest_times_param():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    ema = EMA([("p", p)], decay=0.9, start=1, warmup=False)
    with torch.no_grad():
        p.copy_(torch.tensor([3.0, 4.0]))
    ema.update(1)  # up to `start`: a copy
    assert ema.shadow[0].tolist() == [3.0, 4.0]
    with torch.no_grad():
        p.copy_(torch.tensor([13.0, 24.0]))
    ema.update(2)
    torch.testing.assert_close(ema.shadow[0], torch.tensor([0.9 * 3 + 0.1 * 13, 0.9 * 4 + 0.1 * 24]))


def test_ema_warmup_forgets_the_initial_weights():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    ema = EMA([("p", p)], decay=0.999)  # warm-up on by default
    with torch.no_grad():
        p.fill_(1.0)
    ema.update(1)  # first averaging update: decay (1 + 1) / (10 + 1)
    torch.testing.assert_close(ema.shadow[0], torch.tensor([9.0 / 11.0]))
    for step in range(2, 1001):
        ema.update(step)
    # a constant 0.999 would keep 0.999**1000 = 37% of the initial 0; the warm-up keeps < 0.1%
    assert ema.shadow[0].item() > 0.999
    assert ema.decay_at(100_000) == 0.999


def _spy_forward(monkeypatch):
    calls = []
    real = SanaVideoTransformer.forward

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("chunk_frames"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SanaVideoTransformer, "forward", spy)
    return calls


def test_warmup_is_linear_and_clipping_uses_grad_clip(tmp_path, monkeypatch):
    import json

    norms = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy_clip(params, max_norm, *args, **kwargs):
        norms.append(max_norm)
        return real_clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy_clip)
    args = make_args(
        tmp_path, max_steps=3, log_every=1, optim__warmup_steps=10, optim__lr=1e-3, optim__grad_clip=0.25
    )
    train(args)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-3 * 2 / 10, 1e-3 * 3 / 10, 1e-3 * 4 / 10])  # after steps 1, 2, 3
    assert norms == [0.25] * 3


def test_block_causal_chunks_reach_the_model(tmp_path, monkeypatch):
    calls = _spy_forward(monkeypatch)
    train(
        make_args(
            tmp_path,
            max_steps=1,
            objective__chunk_frames=1,
            data__synthetic={"num_samples": 8, "num_classes": 2, "frames": 3},
        )
    )
    assert calls and all(c == [1, 1, 1] for c in calls)


def test_gradient_checkpointing_runs_the_blocks_through_checkpoint(tmp_path, monkeypatch):
    import torch.utils.checkpoint as cp

    used = []
    real = cp.checkpoint

    def spy(fn, *args, **kwargs):
        used.append(fn)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(cp, "checkpoint", spy)
    train(make_args(tmp_path / "on", max_steps=1, model__gradient_checkpointing=True))
    assert len(used) >= 1
    used.clear()
    train(make_args(tmp_path / "off", max_steps=1))
    assert used == []


def test_two_lora_runs_from_init_from_give_identical_adapters(tmp_path):
    from sanavideo.config import PRESETS
    from sanavideo.train import checkpoint as ckpt

    torch.manual_seed(123)
    SanaVideoTransformer(PRESETS["tiny"]).save_pretrained(tmp_path / "base")
    states = []
    for run, global_seed in (("a", 1), ("b", 2)):
        torch.manual_seed(global_seed)  # whatever the global RNG holds before the run
        result = train(
            make_args(tmp_path / run, max_steps=1, lora__rank=4, model__init_from=str(tmp_path / "base"))
        )
        states.append(
            ckpt.load_safetensors(tmp_path / run / "checkpoints" / "step-00000001" / "model.safetensors")
        )
    assert result.steps == 1 and any("lora_A" in k for k in states[0])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_caption_dropout_and_i2v_are_drawn_at_their_rates():
    from sanavideo.train.args import ObjectiveArgs
    from sanavideo.train.objective import StepNoise

    args = ObjectiveArgs(caption_dropout=0.1, i2v_prob=0.3)
    rnd = StepNoise.draw(0, 1, 20_000, (1, 1, 1, 1), 1, args, torch.device("cpu"))
    assert rnd.drop.float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert rnd.i2v.float().mean().item() == pytest.approx(0.3, abs=0.015)
    none = StepNoise.draw(
        0, 1, 1000, (1, 1, 1, 1), 1, ObjectiveArgs(caption_dropout=0.0), torch.device("cpu")
    )
    assert not none.drop.any()
