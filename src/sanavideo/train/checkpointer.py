"""A run's checkpointer: saves and restores the named modules of a run, its optimizer, LR schedule, EMA,
null caption and random number generators, in the checkpoint format of `train.checkpoint`.

Restoring is two steps because FSDP2 shards in between: `load_weights` fills the unsharded modules, then
`Checkpointer.restore` loads the optimizer state (keyed by parameter name), schedule, EMA and RNG into the
sharded run. Every rank calls both (gathering full state is a collective); rank 0 writes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sanavideo.fsutil import load_plain_torch
from sanavideo.train import checkpoint as ckpt
from sanavideo.train import distributed as D
from sanavideo.train.args import TrainArgs
from sanavideo.train.ema import EMA

log = logging.getLogger("sanavideo.train")


def load_weights(
    resume_from: Path, args: TrainArgs, transformer: nn.Module, text_encoder: nn.Module | None, lora_cfg: Any
) -> torch.Tensor:
    """Load a checkpoint's weights into the unsharded transformer (strict, but for LoRA: its adapters) and
    text encoder; returns its null caption. A checkpoint of another model is refused with the reason."""
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
    return ckpt.load_safetensors(resume_from / "null_caption.safetensors")["null_caption"]


class Checkpointer:
    """Checkpoints of one run. `modules` is the root of everything that trains (`transformer`, optional
    `text_encoder`), so optimizer state and EMA are keyed by stable parameter names."""

    def __init__(
        self,
        args: TrainArgs,
        info: D.DistInfo,
        modules: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        ema: EMA | None,
        null_caption: torch.Tensor,
        lora_cfg: Any,
    ) -> None:
        self.args, self.info, self.modules = args, info, modules
        self.optimizer, self.scheduler, self.ema = optimizer, scheduler, ema
        self.null_caption, self.lora_cfg = null_caption, lora_cfg

    def full_state(self) -> dict[str, dict]:
        """Full CPU state of everything a checkpoint or export needs (collective; rank 0 gets the tensors)."""
        model_sd = D.model_state(self.modules.transformer)
        te = self.modules.text_encoder
        te_sd = D.model_state(te) if te is not None else {}
        ema_sd = self.ema.full_state_dict() if self.ema is not None else {}
        if self.lora_cfg is not None:
            model_sd = {k: v for k, v in model_sd.items() if "lora_" in k}
        return {"model": model_sd, "text_encoder": te_sd, "ema": ema_sd}

    def save(self, step: int, position: tuple[int, int], global_batch: int) -> Path | None:
        """Write OUTPUT/checkpoints/step-N atomically (rank 0); returns its path there, None elsewhere."""
        full = self.full_state()
        optim_sd = D.optimizer_state(self.modules, self.optimizer)
        path = None
        if self.info.is_main:
            null_caption = self.null_caption
            writers = {
                "model.safetensors": lambda p: ckpt.save_safetensors(full["model"], p),
                "null_caption.safetensors": lambda p: ckpt.save_safetensors(
                    {"null_caption": null_caption.cpu()}, p
                ),
                "optimizer.pt": lambda p: ckpt.save_torch(optim_sd, p),
                ckpt.RNG_FILE: ckpt.save_rng_state,
            }
            if self.ema is not None:
                writers["ema.safetensors"] = lambda p: ckpt.save_safetensors(full["ema"], p)
            if self.modules.text_encoder is not None:
                writers["text_encoder.safetensors"] = lambda p: ckpt.save_safetensors(full["text_encoder"], p)
            state = {
                "step": step,
                "position": list(position),
                "scheduler": self.scheduler.state_dict(),
                "world_size": self.info.world_size,
                "global_batch": global_batch,
                "config": self.args.to_dict(),
            }
            path = ckpt.write_checkpoint(
                self.args.output_dir, step, writers, state, self.args.keep_checkpoints
            )
            log.info("saved checkpoint %s", path)
        D.barrier(self.info)
        return path

    def restore(self, resume_from: Path, state: dict, global_batch: int) -> tuple[int, tuple[int, int]]:
        """Load the optimizer, schedule, EMA and RNG of a checkpoint into the (sharded) run; returns its
        step and data position. A different world size or global batch is allowed, with a warning. The
        learning rates are this run's config's (a changed `optim.lr` / `text_encoder.lr` applies from the
        resumed step on, at the restored point of the schedule), not the checkpoint's."""
        config_lrs = [group["initial_lr"] for group in self.optimizer.param_groups]
        D.load_optimizer_state(self.modules, self.optimizer, load_plain_torch(resume_from / "optimizer.pt"))
        self.scheduler.load_state_dict(state["scheduler"])
        if list(self.scheduler.base_lrs) != config_lrs:
            log.info(
                "learning rates %s from the config (the checkpoint had %s)",
                config_lrs,
                self.scheduler.base_lrs,
            )
        self.scheduler.base_lrs = config_lrs
        for group, base, factor in zip(self.optimizer.param_groups, config_lrs, self.scheduler.lr_lambdas):
            group["initial_lr"], group["lr"] = base, base * factor(self.scheduler.last_epoch)
        if self.ema is not None:
            self.ema.load_full_state_dict(ckpt.load_safetensors(resume_from / "ema.safetensors"))
        if (resume_from / ckpt.RNG_FILE).is_file():
            ckpt.load_rng_state(resume_from / ckpt.RNG_FILE)
        else:  # checkpoints before rng.safetensors kept a pickled rng.pt, which is never unpickled
            log.warning("%s has no %s: random number generators not restored", resume_from, ckpt.RNG_FILE)
        if (
            state.get("world_size") != self.info.world_size
            or state.get("global_batch") is not None
            and state["global_batch"] != global_batch
        ):
            log.warning("resuming with a different world size or global batch than the checkpoint")
        return int(state["step"]), tuple(state["position"])
