"""The training metrics logger: per-step losses collected over a logging window, averaged across ranks, then
appended to OUTPUT/metrics.jsonl and logged by rank 0 (step, loss, lr, grad norm, samples/s, epoch, time)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from sanavideo.train import distributed as D

log = logging.getLogger("sanavideo.train")


class MetricsLogger:
    """Collect `add(step_loss)` each step; `flush(...)` at a logging step (a collective: every rank calls it)
    writes one record and returns the window's global mean losses, one per step."""

    def __init__(self, path: Path, info: D.DistInfo, max_steps: int, global_batch: int) -> None:
        self.path, self.info, self.max_steps, self.global_batch = path, info, max_steps, global_batch
        self._reset()

    def _reset(self) -> None:
        self.window: list[torch.Tensor] = []
        self.window_start = time.perf_counter()

    def add(self, step_loss: torch.Tensor) -> None:
        """One optimizer step's loss (a device scalar: no sync until the flush)."""
        self.window.append(step_loss)

    def flush(self, step: int, lr: float, grad_norm: torch.Tensor, epoch: int) -> list[float]:
        losses = D.mean_across(torch.stack(self.window), self.info).tolist()
        elapsed = time.perf_counter() - self.window_start
        sps = len(self.window) * self.global_batch / max(elapsed, 1e-9)
        if self.info.is_main:
            record = {
                "step": step,
                "loss": sum(losses) / len(losses),
                "lr": lr,
                "grad_norm": float(grad_norm),
                "samples_per_sec": sps,
                "epoch": epoch,
                "time": time.time(),
            }
            with open(self.path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            log.info(
                "step %d/%d  loss %.4f  lr %.3g  grad %.3g  %.1f samples/s",
                step,
                self.max_steps,
                record["loss"],
                record["lr"],
                record["grad_norm"],
                sps,
            )
        self._reset()
        return losses
