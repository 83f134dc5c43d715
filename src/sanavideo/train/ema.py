"""Exponential moving average of the trainable parameters (works on FSDP2 shards as well as full tensors)."""

from __future__ import annotations

import torch

from sanavideo.train.distributed import full_tensor, like_param


class EMA:
    """shadow <- d * shadow + (1 - d) * param after each optimizer step; up to step `start` it copies.

    warmup: the n-th averaging update (step start + n) uses d = min(decay, (1 + n) / (10 + n)), so the shadow
    forgets the initial weights within a few hundred steps; otherwise d = decay throughout.
    """

    def __init__(
        self,
        named_params: list[tuple[str, torch.nn.Parameter]],
        decay: float,
        start: int = 0,
        warmup: bool = True,
    ) -> None:
        self.names = [n for n, _ in named_params]
        self.params = [p for _, p in named_params]
        self.decay = decay
        self.start = start
        self.warmup = warmup
        self.shadow = [p.detach().clone().float() for p in self.params]

    def decay_at(self, step: int) -> float:
        n = step - self.start
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        """`step`: the number of optimizer steps taken so far."""
        current = [p.detach().float() for p in self.params]
        if step <= self.start:
            torch._foreach_copy_(self.shadow, current)
        else:
            torch._foreach_lerp_(self.shadow, current, 1.0 - self.decay_at(step))

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """Unsharded CPU copies (a collective under FSDP: call on every rank)."""
        return {n: full_tensor(s).cpu() for n, s in zip(self.names, self.shadow)}

    def load_full_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.names) - set(state))
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} parameters, e.g. {missing[:3]}")
        for i, (name, p) in enumerate(zip(self.names, self.params)):
            if tuple(state[name].shape) != tuple(p.shape):
                raise ValueError(f"EMA {name}: shape {tuple(state[name].shape)}, expected {tuple(p.shape)}")
            self.shadow[i] = like_param(state[name].float(), p.detach().float())
