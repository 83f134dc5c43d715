"""sanavideo: SANA-Video (arXiv 2509.24695) — linear-attention video diffusion, streaming and training."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public names, imported on first use so `import sanavideo` stays light
_LAZY = {
    "ModelConfig": "sanavideo.config",
    "SanaVideoTransformer": "sanavideo.model",
    "StreamingCache": "sanavideo.model",
    "SanaVideoPipeline": "sanavideo.pipeline",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sanavideo' has no attribute {name!r}")
