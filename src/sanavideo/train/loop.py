"""The training loop: `train(args) -> TrainResult`.

One optimizer step: take the next global batch from the bucket sampler, draw its randomness once
(`StepNoise`), and let each rank run its `grad_accum` micro-batches of `batch_size` rows; clip, step, update
the EMA, log, checkpoint. Rank 0 logs and writes; every rank joins the collectives that gather full state.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sanavideo.data.latents import BucketBatchSampler, LatentSet
from sanavideo.fsutil import atomic_folder, load_plain_torch
from sanavideo.train import checkpoint as ckpt
from sanavideo.train import distributed as D
from sanavideo.train.args import TrainArgs, save_args
from sanavideo.train.ema import EMA
from sanavideo.train.objective import StepNoise, add_noise, frame_losses, masked_loss

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
    from sanavideo.data.latents import load_cache  # cache_dir is set: _train refused "no data" up front

    data = load_cache(cache_dir, d.motion_score_min, d.motion_score_max)
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


def _train(args: TrainArgs, info: D.DistInfo) -> TrainResult:
    from sanavideo.model import chunk_layout

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

    # 3. resume: weights go into the unsharded model, the rest after sharding
    resume_from = ckpt.find_checkpoint(args.resume, out) if args.resume else None
    state: dict = {}
    if resume_from is not None:
        state = ckpt.read_state(resume_from)
        sd = ckpt.load_safetensors(resume_from / "model.safetensors")
        try:
            result = transformer.load_state_dict(sd, strict=lora_cfg is None)
        except RuntimeError as err:  # missing / unexpected / mis-shaped keys: another model's checkpoint
            raise ValueError(
                f"checkpoint {resume_from} does not fit this run's model ({args.model.preset} with "
                f"its overrides): {str(err).splitlines()[-1].strip()}"
            ) from None
        if lora_cfg is not None:
            absent = [k for k in result.missing_keys if "lora_" in k]
            if absent or result.unexpected_keys:
                raise ValueError(
                    f"{resume_from}: LoRA checkpoint does not fit: missing {absent[:3]}, "
                    f"unexpected {result.unexpected_keys[:3]}"
                )
        if text_encoder is not None:
            text_encoder.load_state_dict(ckpt.load_safetensors(resume_from / "text_encoder.safetensors"))
        null_caption = ckpt.load_safetensors(resume_from / "null_caption.safetensors")["null_caption"]
        if info.is_main:
            log.info("resuming from %s (step %d)", resume_from, state["step"])

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

    # 4. optimizer, schedule, EMA
    named = [(n, p) for n, p in modules.named_parameters() if p.requires_grad]
    o = args.optim
    groups = [{"params": [p for n, p in named if n.startswith("transformer.")], "lr": o.lr}]
    if text_encoder is not None:
        te_lr = args.text_encoder.lr if args.text_encoder.lr is not None else o.lr
        groups.append({"params": [p for n, p in named if n.startswith("text_encoder.")], "lr": te_lr})
    optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    warmup = o.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0
    )
    ema = EMA(named, o.ema_decay, o.ema_start, o.ema_warmup) if o.ema_decay > 0 else None

    step, position = 0, (0, 0)
    if resume_from is not None:
        D.load_optimizer_state(modules, optimizer, load_plain_torch(resume_from / "optimizer.pt"))
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_full_state_dict(ckpt.load_safetensors(resume_from / "ema.safetensors"))
        if (resume_from / ckpt.RNG_FILE).is_file():
            ckpt.load_rng_state(resume_from / ckpt.RNG_FILE)
        else:  # checkpoints before rng.safetensors kept a pickled rng.pt, which is never unpickled
            log.warning("%s has no %s: random number generators not restored", resume_from, ckpt.RNG_FILE)
        step, position = int(state["step"]), tuple(state["position"])
        if (
            state.get("world_size") != info.world_size
            or state.get("global_batch") is not None
            and state["global_batch"] != args.data.batch_size * info.world_size * o.grad_accum
        ):
            log.warning("resuming with a different world size or global batch than the checkpoint")

    # 5. the loop
    bs, accum = args.data.batch_size, o.grad_accum
    G = bs * info.world_size * accum
    sampler = BucketBatchSampler(data.bucket_of, G, args.seed)
    autocast_dtype = _precision(args, device)
    obj = args.objective
    pt = cfg.patch_size[0]
    trainable = [p for _, p in named]
    metrics_path = out / "metrics.jsonl"
    result = TrainResult(str(out), step, step, skipped_clips=skipped)
    window: list[torch.Tensor] = []
    window_start, window_steps = time.perf_counter(), 0
    run_start, run_samples = time.perf_counter(), 0
    last_grad_norm = torch.zeros((), device=device)
    if info.is_main:
        n_train = sum(p.numel() for p in trainable)
        log.info(
            "training %s: %d trainable parameters, %d samples, global batch %d (%d ranks x %d x %d), "
            "device %s, %s, steps %d -> %d",
            type(transformer).__name__,
            n_train,
            len(data),
            G,
            info.world_size,
            bs,
            accum,
            device,
            autocast_dtype or "fp32",
            step,
            args.max_steps,
        )

    def save(at_step: int) -> Path | None:
        return _save_checkpoint(
            args, info, modules, optimizer, scheduler, ema, null_caption, lora_cfg, at_step, position, G
        )

    while step < args.max_steps:
        indices, position = sampler.next(position)
        lat_shape = data.buckets[data.index[indices[0]][0]].shape
        chunks = chunk_layout(lat_shape[1] // pt, obj.chunk_frames)
        chunks = [c * pt for c in chunks]
        rnd = StepNoise.draw(args.seed, step, G, lat_shape, len(chunks), obj, device)
        step_loss = torch.zeros((), device=device)
        for m in range(accum):
            start = (info.rank * accum + m) * bs
            batch = data.batch(indices[start : start + bs], device)
            r = rnd.rows(start, start + bs)
            if info.distributed:
                for mod in (transformer, text_encoder):
                    if mod is not None:
                        mod.set_requires_gradient_sync(m == accum - 1)
            with torch.autocast(
                device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
            ):
                embeds, mask = _captions(batch, r.drop, data, text_encoder, null_caption, obj.null_caption)
                noised = add_noise(batch.latents, r, chunks, obj)
                pred = transformer(
                    noised.noisy,
                    noised.timestep,
                    embeds,
                    mask,
                    chunk_frames=chunks if len(chunks) > 1 else None,
                )
                loss = masked_loss(frame_losses(pred, noised.target), noised.frame_weight).mean()
            (loss / accum).backward()
            step_loss += loss.detach() / accum
        max_norm = o.grad_clip if o.grad_clip > 0 else float("inf")
        last_grad_norm = D.full_tensor(torch.nn.utils.clip_grad_norm_(trainable, max_norm))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if ema is not None:
            ema.update(step)
        window.append(step_loss)
        window_steps += 1
        run_samples += G

        if step % args.log_every == 0 or step == args.max_steps:
            losses = D.mean_across(torch.stack(window), info).tolist()
            result.losses += losses
            elapsed = time.perf_counter() - window_start
            sps = window_steps * G / max(elapsed, 1e-9)
            if info.is_main:
                record = {
                    "step": step,
                    "loss": sum(losses) / len(losses),
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": float(last_grad_norm),
                    "samples_per_sec": sps,
                    "epoch": position[0],
                    "time": time.time(),
                }
                with open(metrics_path, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                log.info(
                    "step %d/%d  loss %.4f  lr %.3g  grad %.3g  %.1f samples/s",
                    step,
                    args.max_steps,
                    record["loss"],
                    record["lr"],
                    record["grad_norm"],
                    sps,
                )
            window, window_steps, window_start = [], 0, time.perf_counter()
        at_log_step = step % args.log_every == 0  # checked with the log: it syncs with the device
        if (
            args.max_seconds is not None
            and at_log_step
            and _out_of_time(run_start, args.max_seconds, info, device)
        ):
            log.info("stopping at step %d: max_seconds=%g reached", step, args.max_seconds)
            break
        if args.checkpoint_every and step % args.checkpoint_every == 0 and step < args.max_steps:
            result.checkpoint = str(save(step))

    result.steps = step
    result.samples_per_second = run_samples / max(time.perf_counter() - run_start, 1e-9)
    if step > result.start_step or resume_from is None:
        result.checkpoint = str(save(step))
    else:
        result.checkpoint = str(resume_from)
    if args.export:
        result.export_dir = _export(args, info, modules, ema, null_caption, lora_cfg)
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


def _gather(args: TrainArgs, modules: Modules, ema: EMA | None, lora_cfg) -> dict[str, dict]:
    """Full CPU state of everything a checkpoint or export needs (collective; rank 0 gets the tensors)."""
    model_sd = D.model_state(modules.transformer)
    te_sd = D.model_state(modules.text_encoder) if modules.text_encoder is not None else {}
    ema_sd = ema.full_state_dict() if ema is not None else {}
    if lora_cfg is not None:
        model_sd = {k: v for k, v in model_sd.items() if "lora_" in k}
    return {"model": model_sd, "text_encoder": te_sd, "ema": ema_sd}


def _save_checkpoint(
    args: TrainArgs,
    info: D.DistInfo,
    modules: Modules,
    optimizer,
    scheduler,
    ema,
    null_caption: torch.Tensor,
    lora_cfg,
    step: int,
    position: tuple[int, int],
    global_batch: int,
) -> Path | None:
    full = _gather(args, modules, ema, lora_cfg)
    optim_sd = D.optimizer_state(modules, optimizer)
    path = None
    if info.is_main:
        writers = {
            "model.safetensors": lambda p: ckpt.save_safetensors(full["model"], p),
            "null_caption.safetensors": lambda p: ckpt.save_safetensors(
                {"null_caption": null_caption.cpu()}, p
            ),
            "optimizer.pt": lambda p: ckpt.save_torch(optim_sd, p),
            ckpt.RNG_FILE: ckpt.save_rng_state,
        }
        if ema is not None:
            writers["ema.safetensors"] = lambda p: ckpt.save_safetensors(full["ema"], p)
        if modules.text_encoder is not None:
            writers["text_encoder.safetensors"] = lambda p: ckpt.save_safetensors(full["text_encoder"], p)
        state = {
            "step": step,
            "position": list(position),
            "scheduler": scheduler.state_dict(),
            "world_size": info.world_size,
            "global_batch": global_batch,
            "config": args.to_dict(),
        }
        path = ckpt.write_checkpoint(args.output_dir, step, writers, state, args.keep_checkpoints)
        log.info("saved checkpoint %s", path)
    D.barrier(info)
    return path


def _out_of_time(run_start: float, max_seconds: float, info: D.DistInfo, device: torch.device) -> bool:
    """Whether the time budget is spent; rank 0's clock decides for every rank."""
    flag = torch.tensor([float(time.perf_counter() - run_start > max_seconds)], device=device)
    if info.distributed:
        torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def _export(
    args: TrainArgs, info: D.DistInfo, modules: Modules, ema: EMA | None, null_caption: torch.Tensor, lora_cfg
) -> str | None:
    """output_dir/final: transformer/ (EMA weights) or lora/ (the adapter), text_encoder/ + tokenizer/ when
    trained, null_caption.safetensors, and components copied from `export_components_from`."""
    full = _gather(args, modules, ema, lora_cfg)
    final = Path(args.output_dir) / "final"
    if not info.is_main:
        D.barrier(info)
        return str(final)
    with atomic_folder(final) as tmp:
        _write_export(args, modules, full, null_caption, lora_cfg, tmp)
    log.info("exported %s", final)
    D.barrier(info)
    return str(final)


def _write_export(
    args: TrainArgs, modules: Modules, full: dict, null_caption: torch.Tensor, lora_cfg, tmp: Path
) -> None:
    prefix_t, prefix_te = "transformer.", "text_encoder."
    ema_t = {k[len(prefix_t) :]: v for k, v in full["ema"].items() if k.startswith(prefix_t)}
    ema_te = {k[len(prefix_te) :]: v for k, v in full["ema"].items() if k.startswith(prefix_te)}
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
