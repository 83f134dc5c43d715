"""Model offload: keep a pipeline's components in CPU memory and move each onto the accelerator only for its stage.

A 2B SANA-Video pipeline holds three large parts that never run at the same time: the Gemma-2 text encoder
(prompts), the transformer (denoising) and the VAE (image-to-video's first frame, decoding). Resident together
they need the sum of their weights on the GPU; offloaded, the largest one alone (the transformer and the VAE
together while a stream decodes as it goes). Each move copies the weights over the bus once per stage, so a
clip costs a few transfers, not one per step.

    offload = ModelOffload("cuda")
    with offload.onload(text_encoder):   # on the GPU inside, back in CPU memory after (also on errors)
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ModelOffload:
    """Moves components (anything with `.to(device)`: modules and sanavideo's text encoder and VAE adapters)
    to `device` for the length of a `with onload(...)` block and back to `storage` afterwards."""

    def __init__(self, device: torch.device | str, storage: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.storage = torch.device(storage)
        self._onloaded: set[int] = set()  # ids of the components on `device` now

    @contextmanager
    def onload(self, *components: Any) -> Iterator[None]:
        """Nested blocks leave a component where the outer block put it (one move in and out in all)."""
        parts = [c for c in components if c is not None and id(c) not in self._onloaded]
        self._onloaded.update(id(c) for c in parts)
        try:
            for part in parts:
                part.to(self.device)
            yield
        finally:
            for part in parts:
                part.to(self.storage)
                self._onloaded.discard(id(part))
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # cached blocks count as used in `mem_get_info` (`check_memory`)
