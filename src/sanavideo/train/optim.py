"""The optimiser of a run: AdamW over the trainable parameters (the text encoder in its own group, with its
own learning rate), a linear warm-up schedule, and the optional EMA."""

from __future__ import annotations

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
    warmup = o.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0
    )
    ema = EMA(named, o.ema_decay, o.ema_start, o.ema_warmup) if o.ema_decay > 0 else None
    return Optimisation(named, optimizer, scheduler, ema)
