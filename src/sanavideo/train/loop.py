"""The training loop: `train(args) -> TrainResult`.

A skeleton of parts: `_setup` (data, models, LoRA, resumed weights, sharding), `optim.build_optimisation`
(AdamW, warm-up, EMA), `checkpointer.Checkpointer` (save / restore over the named modules and the
optimiser), `metrics.MetricsLogger` (metrics.jsonl and the log line), and `_step_loss`, one step's
micro-batches. One optimizer step: take the next global batch from the bucket sampler, draw its randomness
once (`StepNoise`), and let each rank run its `grad_accum` micro-batches of `batch_size` rows; clip, step,
update the EMA, log, checkpoint. Rank 0 logs and writes; every rank joins the collectives that gather full
state. The recipes beside it (`train/vae.py`, `train/embedded.py`) build on `train(args)`.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sanavideo.data.latents import BucketBatchSampler, LatentSet
from sanavideo.fsutil import atomic_folder
from sanavideo.train import checkpoint as ckpt
from sanavideo.train import distributed as D
from sanavideo.train.args import TrainArgs, save_args
from sanavideo.train.checkpointer import Checkpointer, load_weights
from sanavideo.train.metrics import MetricsLogger
from sanavideo.train.objective import StepNoise, add_noise, frame_losses, masked_loss, position_weights
from sanavideo.train.optim import build_optimisation

log = logging.getLogger("sanavideo.train")


@dataclass
class TrainResult:
    output_dir: str
    steps: int  # optimizer steps completed (the run's final step)
    start_step: int  # 0, or the step it resumed from
    losses: list[float] = field(default_factory=list)  # global mean loss of every step this process ran
    checkpoint: str | None = None
    export_dir: str | None = None
    samples_per_second: float = 0.0
    skipped_clips: int = 0


class Modules(nn.Module):
    """Everything that trains, under one root so optimizer state is keyed by stable parameter names."""

    def __init__(self, transformer: nn.Module, text_encoder: nn.Module | None) -> None:
        super().__init__()
        self.transformer = transformer
        self.text_encoder = text_encoder


# -- construction ------------------------------------------------------------------------------------------
def build_transformer(args: TrainArgs):
    from sanavideo.config import get_preset
    from sanavideo.model import SanaVideoTransformer

    m = args.model
    if m.init_from is not None:
        cfg = None
        if m.overrides:
            base = SanaVideoTransformer.from_pretrained(m.init_from).config
            cfg = base.replace(**m.overrides)
        return SanaVideoTransformer.from_pretrained(m.init_from, config=cfg, dtype=torch.float32)
    cfg = get_preset(m.preset).replace(**m.overrides) if m.overrides else get_preset(m.preset)
    torch.manual_seed(args.seed)
    model = SanaVideoTransformer(cfg)
    model.init_weights()
    return model


def _initial_null_caption(args: TrainArgs, length: int, channels: int) -> torch.Tensor:
    """The null caption of caption dropout: the one `model.init_from` carries (upstream's learned
    `y_embedder.y_embedding`), else a fixed random one `randn / sqrt(D)` drawn from the run's seed."""
    if args.model.init_from is not None:
        from sanavideo.convert.io import read_null_caption

        carried = read_null_caption(args.model.init_from)
        if carried is not None:
            if tuple(carried.shape) != (length, channels):
                raise ValueError(
                    f"{args.model.init_from}: its null caption has shape {tuple(carried.shape)}, "
                    f"the data needs ({length}, {channels}) (max_text_length, caption_channels)"
                )
            return carried.float()
    gen = torch.Generator().manual_seed(args.seed + 2)
    return torch.randn(length, channels, generator=gen) / math.sqrt(channels)


def build_text_encoder(args: TrainArgs) -> nn.Module | None:
    te = args.text_encoder
    if not te.trainable:
        return None
    if te.path is not None:
        from sanavideo.adapters.text import load_text_model

        return load_text_model(te.path).float()
    from transformers import AutoConfig, AutoModel

    cfg = dict(te.config)
    model_type = cfg.pop("model_type", None)
    if model_type is None:
        raise ValueError("text_encoder.config needs a model_type (e.g. gemma2)")
    torch.manual_seed(args.seed + 1)
    return AutoModel.from_config(AutoConfig.for_model(model_type, **cfg)).float()


def build_data(args: TrainArgs, info: D.DistInfo) -> tuple[LatentSet, int]:
    d = args.data
    if d.synthetic is not None:
        from sanavideo.data.synthetic import SyntheticSpec, synthetic_set

        return synthetic_set(SyntheticSpec(**d.synthetic)), 0
    cache_dir = d.cache_dir
    if d.video_dirs:
        cache_dir = str(Path(args.output_dir) / "cache")
        if info.is_main and not (Path(cache_dir) / "index.json").is_file():
            from sanavideo.data.precompute import PrecomputeArgs, precompute

            precompute(
                PrecomputeArgs(
                    video_dirs=list(d.video_dirs),
                    encoders=d.encoders,
                    output=cache_dir,
                    num_frames=d.num_frames,
                    frame_stride=d.frame_stride,
                    resolution=d.resolution,
                    max_text_length=d.max_text_length,
                    caption_proportion=dict(d.caption_proportion),
                    store_embeddings=not args.text_encoder.trainable,
                    chi="none" if args.text_encoder.trainable else d.chi,
                    lowercase=d.lowercase,
                    device=str(info.device),
                )
            )
        D.barrier(info)
    from sanavideo.data.latents import load_cache  # cache_dir is set: _setup refused "no data" up front

    data = load_cache(cache_dir, d.motion_score_min, d.motion_score_max, d.caption_pattern)
    skipped = json.loads((Path(cache_dir) / "index.json").read_text()).get("skipped", 0)
    return data, int(skipped)


def _precision(args: TrainArgs, device: torch.device) -> torch.dtype | None:
    if args.precision == "fp32":
        return None
    if args.precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


# -- the run -----------------------------------------------------------------------------------------------
def train(args: TrainArgs) -> TrainResult:
    """Train (or fine-tune) a SANA-Video transformer as `args` says; see docs/training.md."""
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    info = D.setup(args.device)
    try:
        return _train(args, info)
    finally:
        D.teardown(info)


@dataclass
class Setup:
    """A run ready to train: its data on the training device, its modules (built identically on every rank,
    resumed weights loaded, on the device, sharded), the null caption, LoRA config and the checkpoint it
    resumes from (with that checkpoint's trainer state)."""

    out: Path
    data: LatentSet
    skipped: int
    modules: Modules
    null_caption: torch.Tensor
    lora_cfg: Any
    resume_from: Path | None
    state: dict


def _setup(args: TrainArgs, info: D.DistInfo) -> Setup:
    d = args.data
    if d.cache_dir is None and not d.video_dirs and d.synthetic is None:  # checked before anything is written
        raise ValueError("no training data: set data.cache_dir, data.video_dirs or data.synthetic")
    out = Path(args.output_dir)
    device = info.device
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_args(args, out / "config.yaml")
    D.barrier(info)

    # 1. data, held on the training device
    data, skipped = build_data(args, info)
    if args.data.in_memory:
        data = data.to(device)
    te_trainable = args.text_encoder.trainable
    if te_trainable and not data.has("input_ids"):
        raise ValueError("text_encoder.trainable needs token ids in the data (precompute stores input_ids)")
    if not te_trainable and not data.has("prompt_embeds"):
        raise ValueError("the data has no prompt_embeds (precomputed ids only): set text_encoder.trainable")

    # 2. models (built identically on every rank), null caption, LoRA
    transformer = build_transformer(args)
    cfg = transformer.config
    text_encoder = build_text_encoder(args)
    if text_encoder is not None and text_encoder.config.hidden_size != cfg.caption_channels:
        raise ValueError(
            f"text encoder hidden size {text_encoder.config.hidden_size} != transformer "
            f"caption_channels {cfg.caption_channels}"
        )
    if not te_trainable and data.caption_channels != cfg.caption_channels:
        raise ValueError(
            f"cached prompt_embeds have {data.caption_channels} channels, the transformer "
            f"expects caption_channels={cfg.caption_channels}"
        )
    null_caption = _initial_null_caption(args, data.text_len, cfg.caption_channels)
    lora_cfg = None
    if args.lora.rank > 0:
        from sanavideo.train.lora import add_lora, lora_config

        lora_cfg = lora_config(args.lora.rank, args.lora.alpha, args.lora.dropout, args.lora.target_modules)
        add_lora(transformer, lora_cfg, seed=args.seed + 3)
    transformer.gradient_checkpointing = args.model.gradient_checkpointing

    # 3. resume: weights go into the unsharded model, the rest (Checkpointer.restore) after sharding
    resume_from = ckpt.find_checkpoint(args.resume, out) if args.resume else None
    state: dict = {}
    if resume_from is not None:
        state = ckpt.read_state(resume_from)
        null_caption = load_weights(resume_from, args, transformer, text_encoder, lora_cfg)
        if info.is_main:
            log.info("resuming from %s (step %d)", resume_from, state["step"])

    # 4. onto the device, sharded, compiled
    transformer.to(device)
    if text_encoder is not None:
        text_encoder.to(device)
    null_caption = null_caption.to(device)
    if info.distributed:
        D.shard(transformer, text_encoder, info)
        if info.is_main:
            log.info("sharded with FSDP2 over %d ranks (%s)", info.world_size, device.type)
    if args.model.compile:
        for block in transformer.blocks:
            block.compile()
    modules = Modules(transformer, text_encoder)
    return Setup(out, data, skipped, modules, null_caption, lora_cfg, resume_from, state)


def _step_loss(
    args: TrainArgs,
    info: D.DistInfo,
    run: Setup,
    indices: list[int],
    rnd: StepNoise,
    chunks: list[int],
    autocast_dtype: torch.dtype | None,
) -> torch.Tensor:
    """One optimizer step's forward and backward: this rank's `grad_accum` micro-batches of the global batch
    `indices`, gradients accumulated (synchronised across ranks on the last); returns the mean loss."""
    bs, accum = args.data.batch_size, args.optim.grad_accum
    obj, device = args.objective, info.device
    transformer, text_encoder = run.modules.transformer, run.modules.text_encoder
    step_loss = torch.zeros((), device=device)
    for m in range(accum):
        start = (info.rank * accum + m) * bs
        batch = run.data.batch(indices[start : start + bs], device)
        r = rnd.rows(start, start + bs)
        if info.distributed:
            for mod in (transformer, text_encoder):
                if mod is not None:
                    mod.set_requires_gradient_sync(m == accum - 1)
        with torch.autocast(
            device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
        ):
            embeds, mask = _captions(
                batch, r.drop, run.data, text_encoder, run.null_caption, obj.null_caption
            )
            noised = add_noise(batch.latents, r, chunks, obj, context_frames=batch.context_frames)
            pred = transformer(
                noised.noisy,
                noised.timestep,
                embeds,
                mask,
                chunk_frames=chunks if len(chunks) > 1 else None,
            )
            weight = position_weights(batch.latents, obj)
            loss = masked_loss(frame_losses(pred, noised.target, weight), noised.frame_weight).mean()
        (loss / accum).backward()
        step_loss += loss.detach() / accum
    return step_loss


def _train(args: TrainArgs, info: D.DistInfo) -> TrainResult:
    """The skeleton: set up, build the optimiser, restore, then step / log / checkpoint until done."""
    from sanavideo.model import chunk_layout

    run = _setup(args, info)
    data, device, o = run.data, info.device, args.optim
    opt = build_optimisation(args, run.modules)
    G = args.data.batch_size * info.world_size * o.grad_accum
    checkpointer = Checkpointer(
        args, info, run.modules, opt.optimizer, opt.scheduler, opt.ema, run.null_caption, run.lora_cfg
    )
    step, position = 0, (0, 0)
    if run.resume_from is not None:
        step, position = checkpointer.restore(run.resume_from, run.state, G)

    sampler = BucketBatchSampler(data.bucket_of, G, args.seed)
    autocast_dtype = _precision(args, device)
    pt = run.modules.transformer.config.patch_size[0]
    metrics = MetricsLogger(run.out / "metrics.jsonl", info, args.max_steps, G)
    result = TrainResult(str(run.out), step, step, skipped_clips=run.skipped)
    run_start, run_samples = time.perf_counter(), 0
    last_grad_norm = torch.zeros((), device=device)
    if info.is_main:
        log.info(
            "training %s: %d trainable parameters, %d samples, global batch %d (%d ranks x %d x %d), "
            "device %s, %s, steps %d -> %d",
            type(run.modules.transformer).__name__,
            sum(p.numel() for p in opt.trainable),
            len(data),
            G,
            info.world_size,
            args.data.batch_size,
            o.grad_accum,
            device,
            autocast_dtype or "fp32",
            step,
            args.max_steps,
        )

    while step < args.max_steps:
        indices, position = sampler.next(position)
        lat_shape = data.buckets[data.index[indices[0]][0]].shape
        chunks = [c * pt for c in chunk_layout(lat_shape[1] // pt, args.objective.chunk_frames)]
        rnd = StepNoise.draw(args.seed, step, G, lat_shape, len(chunks), args.objective, device)
        step_loss = _step_loss(args, info, run, indices, rnd, chunks, autocast_dtype)
        max_norm = o.grad_clip if o.grad_clip > 0 else float("inf")
        last_grad_norm = D.full_tensor(torch.nn.utils.clip_grad_norm_(opt.trainable, max_norm))
        opt.optimizer.step()
        opt.scheduler.step()
        opt.optimizer.zero_grad(set_to_none=True)
        step += 1
        if opt.ema is not None:
            opt.ema.update(step)
        metrics.add(step_loss)
        run_samples += G

        if step % args.log_every == 0 or step == args.max_steps:
            result.losses += metrics.flush(step, opt.scheduler.get_last_lr()[0], last_grad_norm, position[0])
        at_log_step = step % args.log_every == 0  # checked with the log: it syncs with the device
        if (
            args.max_seconds is not None
            and at_log_step
            and _out_of_time(run_start, args.max_seconds, info, device)
        ):
            log.info("stopping at step %d: max_seconds=%g reached", step, args.max_seconds)
            break
        if args.checkpoint_every and step % args.checkpoint_every == 0 and step < args.max_steps:
            result.checkpoint = str(checkpointer.save(step, position, G))

    result.steps = step
    result.samples_per_second = run_samples / max(time.perf_counter() - run_start, 1e-9)
    if step > result.start_step or run.resume_from is None:
        result.checkpoint = str(checkpointer.save(step, position, G))
    else:
        result.checkpoint = str(run.resume_from)
    if args.export:
        result.export_dir = _export(args, info, checkpointer)
    D.barrier(info)
    return result


def _captions(
    batch,
    drop: torch.Tensor,
    data: LatentSet,
    text_encoder: nn.Module | None,
    null_caption: torch.Tensor,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt embeddings (B, L, D) and mask (B, L) with caption dropout applied to the rows in `drop`."""
    mask = batch.prompt_mask
    dropped = drop[:, None]  # (B,) -> (B, 1)
    if mode == "empty":
        empty = data.empty_prompt
        mask = torch.where(dropped, empty["prompt_mask"].to(mask)[None], mask)
    if text_encoder is not None:
        from sanavideo.adapters.text import text_features

        ids = batch.input_ids
        if mode == "empty":
            ids = torch.where(dropped, data.empty_prompt["input_ids"].to(ids)[None], ids)
        embeds = text_features(text_encoder, ids, mask)
        embeds = embeds * mask[:, :, None].to(embeds.dtype)
    else:
        embeds = batch.prompt_embeds.float()
        if mode == "empty":
            embeds = torch.where(
                dropped[:, :, None], data.empty_prompt["prompt_embeds"].to(embeds)[None], embeds
            )
    if mode == "embedding":
        # the fixed null caption replaces the embeddings; the mask stays the prompt's own (upstream's
        # CaptionEmbedder.token_drop swaps the caption tensor only)
        embeds = torch.where(dropped[:, :, None], null_caption.to(embeds.dtype)[None], embeds)
    return embeds, mask


def _out_of_time(run_start: float, max_seconds: float, info: D.DistInfo, device: torch.device) -> bool:
    """Whether the time budget is spent; rank 0's clock decides for every rank."""
    flag = torch.tensor([float(time.perf_counter() - run_start > max_seconds)], device=device)
    if info.distributed:
        torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def _export(args: TrainArgs, info: D.DistInfo, checkpointer: Checkpointer) -> str | None:
    """output_dir/final: transformer/ (EMA weights) or lora/ (the adapter), text_encoder/ + tokenizer/ when
    trained, null_caption.safetensors, and components copied from `export_components_from`."""
    full = checkpointer.full_state()
    final = Path(args.output_dir) / "final"
    if not info.is_main:
        D.barrier(info)
        return str(final)
    with atomic_folder(final) as tmp:
        _write_export(args, checkpointer.modules, full, checkpointer.null_caption, checkpointer.lora_cfg, tmp)
    log.info("exported %s", final)
    D.barrier(info)
    return str(final)


def _write_export(
    args: TrainArgs, modules: Modules, full: dict, null_caption: torch.Tensor, lora_cfg, tmp: Path
) -> None:
    ema_t, ema_te = ckpt.split_ema(full["ema"])
    if lora_cfg is not None:
        from sanavideo.train.lora import lora_state_dict, save_lora

        weights = {**full["model"], **ema_t}
        save_lora(tmp / "lora", lora_cfg, lora_state_dict(modules.transformer, weights))
    else:
        from sanavideo.convert.io import save_null_caption
        from sanavideo.model import SanaVideoTransformer

        model = SanaVideoTransformer(modules.transformer.config)
        model.load_state_dict({**full["model"], **ema_t}, strict=True)
        model.save_pretrained(tmp / "transformer")
        save_null_caption(null_caption, tmp / "transformer")  # fine-tuning from this export keeps it
    if modules.text_encoder is not None:
        from transformers import AutoModel

        te = AutoModel.from_config(modules.text_encoder.config)
        te.load_state_dict({**full["text_encoder"], **ema_te}, strict=True)
        te.save_pretrained(tmp / "text_encoder")
        src = args.text_encoder.path
        if src is not None and (Path(src) / "tokenizer").is_dir():
            shutil.copytree(Path(src) / "tokenizer", tmp / "tokenizer")
    ckpt.save_safetensors({"null_caption": null_caption.cpu()}, tmp / "null_caption.safetensors")
    save_args(args, tmp / "train_config.yaml")
    if args.export_components_from is not None:
        src = Path(args.export_components_from)
        for item in sorted(src.iterdir()):
            if not (tmp / item.name).exists() and item.name not in ("transformer",):
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
