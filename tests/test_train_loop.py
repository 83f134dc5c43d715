"""Training loop on a tiny model and a synthetic latent set: learning, exact resume, crash-safe checkpoints,
LoRA, a trainable text encoder, image-to-video and block-causal training, metrics and the loss plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sanavideo.config import PRESETS
from sanavideo.data.synthetic import SyntheticSpec, synthetic_set
from sanavideo.model import SanaVideoTransformer
from sanavideo.sampling.schedules import shift_sigmas as shift_sigma
from sanavideo.train import TrainArgs, train
from sanavideo.train import checkpoint as ckpt

SYN = {"num_samples": 16, "num_classes": 4}


pytestmark = pytest.mark.usefixtures("one_thread")


def make_args(tmp: Path, **changes) -> TrainArgs:
    base = {
        "output_dir": str(tmp),
        "max_steps": 8,
        "log_every": 4,
        "checkpoint_every": 0,
        "export": False,
        "device": "cpu",
        "seed": 3,
        "data": {"synthetic": dict(SYN), "batch_size": 4},
        "optim": {"lr": 2e-3, "warmup_steps": 5, "grad_clip": 1.0, "ema_decay": 0.9},
    }
    for key, value in changes.items():
        node = base
        parts = key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return TrainArgs.from_dict(base)


def load_model(checkpoint: str | Path, name: str = "model.safetensors") -> SanaVideoTransformer:
    model = SanaVideoTransformer(PRESETS["tiny"])
    model.load_state_dict(ckpt.load_safetensors(Path(checkpoint) / name))
    return model.eval()


def test_loss_falls_and_the_model_generates_its_class(tmp_path):
    args = make_args(
        tmp_path,
        max_steps=200,
        log_every=50,
        objective__caption_dropout=0.0,
        optim__ema_decay=0.0,
        optim__warmup_steps=10,
    )
    result = train(args)
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-20:]) / 20
    # at init the loss is about E|eps - x0|^2 = 2 and more; a model that ignores x_sigma or the caption
    # cannot go far below 1 here
    assert first > 1.5, result.losses[:10]
    assert last < 0.3 * first, (first, last)
    # generate with a plain Euler flow sampler: each caption must produce its own class pattern
    model = load_model(result.checkpoint)
    data = synthetic_set(SyntheticSpec(**SYN))
    batch = data.batch([0, 1, 2, 3], "cpu")  # classes 0..3
    x = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(5))
    sig = shift_sigma(torch.linspace(1, 0, 21), 3.0)
    with torch.no_grad():
        for i in range(20):
            v = model(x, torch.full((4,), float(sig[i] * 1000)), batch.prompt_embeds, batch.prompt_mask)
            x = x + (sig[i + 1] - sig[i]) * v
    dist = (x[:, None] - batch.latents[None]).square().mean(dim=(2, 3, 4, 5))  # (generated, class)
    assert dist.argmin(dim=1).tolist() == [0, 1, 2, 3], dist
    # and the metrics file records every log step
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [50, 100, 150, 200]
    assert all({"loss", "lr", "samples_per_sec", "grad_norm"} <= set(r) for r in records)


def _all_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in ckpt.load_safetensors(checkpoint / "model.safetensors").items()}
    out.update({f"ema.{k}": v for k, v in ckpt.load_safetensors(checkpoint / "ema.safetensors").items()})
    return out


def test_resume_after_a_crash_is_exact(tmp_path, monkeypatch):
    n = 6
    straight = train(make_args(tmp_path / "a", max_steps=2 * n, objective__i2v_prob=0.5))

    import sanavideo.train.loop as loop

    calls = {"n": 0}
    real = loop.masked_loss

    def dies_after_checkpoint(*a, **k):
        calls["n"] += 1
        if calls["n"] == n + 2:  # two steps after the step-n checkpoint
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(loop, "masked_loss", dies_after_checkpoint)
    args = make_args(tmp_path / "b", max_steps=2 * n, checkpoint_every=n, objective__i2v_prob=0.5)
    with pytest.raises(KeyboardInterrupt):
        train(args)
    monkeypatch.setattr(loop, "masked_loss", real)
    assert ckpt.find_checkpoint("auto", tmp_path / "b").name == f"step-{n:08d}"
    resumed = train(args.replace(resume="auto"))
    assert resumed.start_step == n and resumed.steps == 2 * n
    a, b = _all_state(Path(straight.checkpoint)), _all_state(Path(resumed.checkpoint))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the optimizer state too
    oa = torch.load(Path(straight.checkpoint) / "optimizer.pt", weights_only=True)
    ob = torch.load(Path(resumed.checkpoint) / "optimizer.pt", weights_only=True)
    for name, st in oa["state"].items():
        assert torch.equal(st["exp_avg_sq"], ob["state"][name]["exp_avg_sq"]), name


def test_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    args = make_args(tmp_path, max_steps=4, checkpoint_every=2)
    calls = {"n": 0}
    real = ckpt.save_torch

    def fails_second_checkpoint(obj, path):
        if path.name == "optimizer.pt":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk full (injected)")
        real(obj, path)

    monkeypatch.setattr(ckpt, "save_torch", fails_second_checkpoint)
    with pytest.raises(OSError, match="injected"):
        train(args)
    monkeypatch.setattr(ckpt, "save_torch", real)
    latest = ckpt.find_checkpoint("auto", tmp_path)
    assert latest.name == "step-00000002"
    assert [p.name for p in (tmp_path / "checkpoints").glob("step-*")] == ["step-00000002"]
    assert ckpt.read_state(latest)["step"] == 2
    load_model(latest)  # loadable into a fresh model
    resumed = train(args.replace(resume="auto"))
    assert resumed.start_step == 2 and resumed.steps == 4
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_lora_trains_only_the_adapter_and_merges(tmp_path):
    from sanavideo.train.lora import load_lora, merge_lora

    args = make_args(tmp_path, max_steps=6, lora__rank=4, export=True, optim__lr=1e-2)
    result = train(args)
    # base weights come from the same seed: rebuild them and compare with the trained run's base weights
    torch.manual_seed(args.seed)
    base = SanaVideoTransformer(PRESETS["tiny"])
    base.init_weights()
    saved = ckpt.load_safetensors(Path(result.checkpoint) / "model.safetensors")
    assert saved and all("lora_" in k for k in saved)
    assert any(v.abs().max() > 0 for k, v in saved.items() if "lora_B" in k), "LoRA B never moved"
    adapter = Path(result.export_dir) / "lora"
    assert (adapter / "adapter_config.json").is_file()

    # only adapter weights were optimised: the optimizer holds exactly the LoRA parameters
    optim_state = torch.load(Path(result.checkpoint) / "optimizer.pt", weights_only=True)
    optimised = [name for group in optim_state["param_groups"] for name in group["params"]]
    assert optimised and all("lora_" in name for name in optimised), optimised[:5]
    assert set(optim_state["state"]) == set(optimised)

    unmerged = SanaVideoTransformer(PRESETS["tiny"])
    unmerged.load_state_dict(base.state_dict())
    load_lora(unmerged, adapter, merge=False)
    merged = SanaVideoTransformer(PRESETS["tiny"])
    merged.load_state_dict(base.state_dict())
    load_lora(merged, adapter, merge=True)
    assert set(merged.state_dict()) == set(base.state_dict())  # plain model again
    batch = synthetic_set(SyntheticSpec(**SYN)).batch([0, 1], "cpu")
    t = torch.tensor([700.0, 100.0])
    with torch.no_grad():
        out_u = unmerged.eval()(batch.latents, t, batch.prompt_embeds, batch.prompt_mask)
        out_m = merged.eval()(batch.latents, t, batch.prompt_embeds, batch.prompt_mask)
        out_b = base.eval()(batch.latents, t, batch.prompt_embeds, batch.prompt_mask)
    assert (out_u - out_m).abs().max() < 1e-5
    assert (out_u - out_b).abs().max() > 1e-4  # the adapter does something
    merge_lora(unmerged)
    assert set(unmerged.state_dict()) == set(base.state_dict())

    # scale=s merges s times the adapter's delta: W + s * (W_merged - W), for every weight
    half = SanaVideoTransformer(PRESETS["tiny"])
    half.load_state_dict(base.state_dict())
    load_lora(half, adapter, merge=True, scale=0.5)
    full, b = merged.state_dict(), base.state_dict()
    deltas = [(k, full[k] - b[k]) for k in b if (full[k] - b[k]).abs().max() > 0]
    assert deltas
    for key, delta in deltas:
        torch.testing.assert_close(half.state_dict()[key] - b[key], 0.5 * delta, atol=1e-6, rtol=1e-4)


def test_trainable_text_encoder_trains_and_is_saved(tmp_path):
    te_config = {
        "model_type": "gemma2",
        "vocab_size": 64,
        "hidden_size": 24,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 12,
        "pad_token_id": 0,
    }
    args = make_args(
        tmp_path,
        max_steps=4,
        text_encoder__trainable=True,
        text_encoder__config=te_config,
        export=True,
        objective__null_caption="empty",
        objective__caption_dropout=0.5,
    )
    result = train(args)
    saved = ckpt.load_safetensors(Path(result.checkpoint) / "text_encoder.safetensors")
    from transformers import AutoConfig, AutoModel

    cfg = dict(te_config)
    torch.manual_seed(args.seed + 1)
    init = AutoModel.from_config(AutoConfig.for_model(cfg.pop("model_type"), **cfg))
    changed = [k for k, v in init.state_dict().items() if not torch.equal(v, saved[k])]
    assert changed, "the text encoder did not train"
    ema_keys = ckpt.load_safetensors(Path(result.checkpoint) / "ema.safetensors")
    assert any(k.startswith("text_encoder.") for k in ema_keys)
    exported = AutoModel.from_pretrained(Path(result.export_dir) / "text_encoder")
    assert exported.config.hidden_size == 24
    # the exported transformer holds the EMA weights
    transformer = SanaVideoTransformer.from_pretrained(Path(result.export_dir) / "transformer")
    for name, value in transformer.state_dict().items():
        key = f"transformer.{name}"
        if key in ema_keys:
            assert torch.allclose(value.float(), ema_keys[key], atol=1e-6), name


def test_block_causal_and_i2v_training_run(tmp_path):
    result = train(
        make_args(
            tmp_path,
            max_steps=3,
            objective__chunk_frames=2,
            objective__i2v_prob=0.5,
            model__gradient_checkpointing=True,
        )
    )
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(result.losses)))


def test_plot_loss(tmp_path):
    pytest.importorskip("matplotlib")
    from sanavideo.cli import main

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps({"step": s, "loss": 2.0 / s, "lr": 1e-4}) for s in range(1, 30)))
    assert main(["plot-loss", str(metrics), "-o", str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics.write_text('{"loss": 1.0}\n')
    assert main(["plot-loss", str(metrics), "-o", str(tmp_path / "bad.png")]) == 2


def test_max_seconds_stops_early_and_still_checkpoints(tmp_path):
    result = train(make_args(tmp_path, max_steps=10_000, log_every=2, max_seconds=0.0))
    assert result.steps == 2  # stopped at the first log step once the (zero) budget was spent
    assert Path(result.checkpoint).is_dir()


def test_resume_takes_the_learning_rate_of_its_config(tmp_path):
    """A resumed run with a changed optim.lr trains at the new rate from the restored point of the warm-up
    (not at the rate stored in the checkpoint's optimizer)."""
    args = make_args(tmp_path, max_steps=2, checkpoint_every=2, log_every=1)
    train(args)
    train(make_args(tmp_path, max_steps=4, checkpoint_every=2, log_every=1, resume="auto", optim__lr=1e-4))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lr = {r["step"]: r["lr"] for r in records}
    warmup = args.optim.warmup_steps
    # logged after the step's schedule update: the rate of step s + 1, base x (s + 1 + 1) / warm-up
    assert lr[2] == pytest.approx(2e-3 * 3 / warmup)
    assert lr[3] == pytest.approx(1e-4 * 4 / warmup) and lr[4] == pytest.approx(1e-4 * 5 / warmup)


def test_resume_restores_rng_from_plain_tensors_and_never_unpickles(tmp_path):
    """The RNG state is a safetensors file; a checkpoint whose pickles would run code cannot run it."""
    import random

    import numpy as np

    ckpt.save_rng_state(tmp_path / "rng.safetensors")
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.rand(5), random.random(), np.random.rand()  # move every generator on
    ckpt.load_rng_state(tmp_path / "rng.safetensors")
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]

    args = make_args(tmp_path / "run", max_steps=2, checkpoint_every=2)
    first = train(args)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state": Payload()}, Path(first.checkpoint) / "optimizer.pt")
    torch.save({"torch": Payload()}, Path(first.checkpoint) / "rng.pt")  # an old-style RNG file: ignored
    with pytest.raises(ValueError, match="optimizer.pt is not a plain tensor file"):
        train(args.replace(resume="auto", max_steps=4))
    assert not marker.exists()


def test_caption_dropout_swaps_the_embeddings_and_keeps_the_prompt_mask():
    from types import SimpleNamespace

    from sanavideo.train.loop import _captions

    embeds = torch.randn(3, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]])
    batch = SimpleNamespace(prompt_mask=mask, prompt_embeds=embeds)
    null = torch.randn(4, 8)
    drop = torch.tensor([True, False, True])
    out, out_mask = _captions(batch, drop, None, None, null, "embedding")
    assert torch.equal(out_mask, mask)  # upstream keeps each prompt's own mask
    assert torch.equal(out[0], null) and torch.equal(out[2], null) and torch.equal(out[1], embeds[1])
    # null_caption: empty -> dropped rows get the encoded empty prompt, with its own mask
    empty = {"prompt_mask": torch.tensor([1, 1, 1, 1]), "prompt_embeds": torch.full((4, 8), 0.5)}
    out, out_mask = _captions(batch, drop, SimpleNamespace(empty_prompt=empty), None, null, "empty")
    assert out_mask.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 1]]  # row 1 keeps its own
    assert torch.equal(out[0], empty["prompt_embeds"]) and torch.equal(out[1], embeds[1])


def test_lora_initialisation_depends_on_the_seed_only():
    from sanavideo.config import PRESETS
    from sanavideo.model import SanaVideoTransformer
    from sanavideo.train.lora import add_lora, lora_config

    adapters = []
    for global_seed, seed in ((1, 5), (2, 5), (1, 6)):
        torch.manual_seed(global_seed)  # e.g. a model loaded by init_from leaves the global RNG anywhere
        model = add_lora(
            SanaVideoTransformer(PRESETS["tiny"]), lora_config(4, None, 0.0, ["attn.qkv"]), seed=seed
        )
        adapters.append({n: p.detach().clone() for n, p in model.named_parameters() if "lora_A" in n})
    assert adapters[0] and all(torch.equal(adapters[0][n], adapters[1][n]) for n in adapters[0])
    assert not all(torch.equal(adapters[0][n], adapters[2][n]) for n in adapters[0])


def test_cosine_decay_follows_the_warm_up_and_is_logged(tmp_path):
    """optim.decay_steps: linear warm-up, then a cosine from the base rate down to lr * final_lr_ratio at
    decay_steps, constant after; the rate the loop logs is that schedule's."""
    import math

    from sanavideo.train.optim import lr_factor

    # LambdaLR's count s gives the rate of step s + 1
    assert [lr_factor(s, 4, 0, 0.1) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert lr_factor(3, 4, 12, 0.1) == 1.0  # step 4: the end of the warm-up, the top of the cosine
    assert lr_factor(7, 4, 12, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(11, 4, 12, 0.1) == pytest.approx(0.1) and lr_factor(50, 4, 12, 0.1) == pytest.approx(0.1)
    train(make_args(tmp_path, max_steps=8, log_every=1, optim__decay_steps=7, optim__final_lr_ratio=0.2))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lr = {r["step"]: r["lr"] for r in records}  # logged after the step's update: the rate of step + 1
    assert lr[4] == pytest.approx(2e-3)  # warm-up of 5 steps: step 5 at the full rate
    assert lr[5] == pytest.approx(2e-3 * (0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    assert lr[6] == pytest.approx(2e-3 * 0.2) and lr[8] == pytest.approx(2e-3 * 0.2)


def test_object_weight_reaches_the_step_loss(tmp_path, monkeypatch):
    """`objective.object_weight` weights the loss the optimizer sees: the same first step logs a different loss."""
    import sanavideo.train.loop as loop

    seen = []
    real = loop.frame_losses

    def record(pred, target, weight=None):
        seen.append(weight)
        return real(pred, target, weight)

    monkeypatch.setattr(loop, "frame_losses", record)
    plain = train(make_args(tmp_path / "a", max_steps=1, log_every=1))
    weighted = train(make_args(tmp_path / "b", max_steps=1, log_every=1, objective__object_weight=4.0))
    assert seen[0] is None and seen[1] is not None and bool((seen[1] == 4.0).any())
    assert weighted.losses[0] != pytest.approx(plain.losses[0], rel=1e-4)
