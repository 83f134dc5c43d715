"""The SANA-Video transformer, its streaming cache and its building blocks."""

from sanavideo.model.attention import AttentionState
from sanavideo.model.cache import StreamingCache
from sanavideo.model.transformer import SanaVideoTransformer, chunk_layout

__all__ = ["AttentionState", "SanaVideoTransformer", "StreamingCache", "chunk_layout"]
