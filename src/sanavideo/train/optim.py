"""The optimiser of a run: AdamW over the trainable parameters (the text encoder in its own group, with its
own learning rate), a linear warm-up with an optional cosine decay, and the optional EMA."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sanavideo.train.args import TrainArgs
from sanavideo.train.ema import EMA


@dataclass
class Optimisation:
    named: list[tuple[str, nn.Parameter]]  # the trainable parameters by name under the run's root module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ema: EMA | None

    @property
    def trainable(self) -> list[nn.Parameter]:
        return [p for _, p in self.named]


def build_optimisation(args: TrainArgs, modules: nn.Module) -> Optimisation:
    """AdamW, warm-up and EMA for the trainable parameters of `modules` (`transformer`, `text_encoder`)."""
    named = [(n, p) for n, p in modules.named_parameters() if p.requires_grad]
    o = args.optim
    groups = [{"params": [p for n, p in named if n.startswith("transformer.")], "lr": o.lr}]
    if modules.text_encoder is not None:
        te_lr = args.text_encoder.lr if args.text_encoder.lr is not None else o.lr
        groups.append({"params": [p for n, p in named if n.startswith("text_encoder.")], "lr": te_lr})
    optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, o.warmup_steps, o.decay_steps, o.final_lr_ratio)
    )
    ema = EMA(named, o.ema_decay, o.ema_start, o.ema_warmup) if o.ema_decay > 0 else None
    return Optimisation(named, optimizer, scheduler, ema)


def lr_factor(step: int, warmup: int, decay_steps: int, final_ratio: float) -> float:
    """The learning rate of optimizer step `step + 1` (LambdaLR's count), as a fraction of the base rate: linear
    warm-up over `warmup` steps, then 1, or with `decay_steps` > 0 a cosine from 1 at the end of the warm-up to
    `final_ratio` at step `decay_steps`, and `final_ratio` after."""
    s = step + 1
    if s < warmup:
        return s / warmup
    if decay_steps <= 0:
        return 1.0
    progress = min(1.0, (s - warmup) / (decay_steps - warmup))
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
