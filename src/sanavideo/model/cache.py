"""The streaming state of block-causal linear attention (LongSANA, docs/reference.md §2.3): constant size in video length.

Per transformer block the history is S = sum v k~^T (H x d x d), z = sum phi(k) (H x d) and the last
frame of the previous chunk's Mix-FFN point-conv output (the temporal conv's left context). Nothing grows
with the number of chunks: old chunks are folded into one running sum (or dropped, with a window).

Lifecycle:
    cache = StreamingCache(num_blocks, window=None)   # create
    model(x, t, emb, mask, cache=cache)                # read: attends to the history, records this chunk
    cache.advance()                                    # commit the recorded chunk (after its t=0 pass)
    cache.rewind()                                     # drop the last committed chunk (prompt re-cache)
    cache.reset()                                      # forget everything
The frame offset of the next chunk (for absolute-position RoPE) is `cache.next_frame`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from sanavideo.model.attention import AttentionState


@dataclass
class ChunkRecord:
    """One chunk's own contribution in one block."""

    attention: AttentionState
    tail: torch.Tensor  # (B, HW, D) last frame of the point-conv output


class StreamingCache:
    """Per-block running state for chunk-by-chunk generation. Never part of a model's state_dict.

    window: attend to the last `window` committed chunks only (upstream `num_cached_blocks`); None = all.
    """

    def __init__(self, num_blocks: int, window: int | None = None) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window must be None (all history) or >= 1 chunk, got {window}")
        self.num_blocks = num_blocks
        self.window = window
        self.reset()

    def reset(self) -> None:
        # committed chunks kept one by one: the window (or one, so that it can be rewound) plus one more,
        # whose tail is the left context after a rewind
        keep = (self.window or 1) + 1
        self._chunks: deque[list[ChunkRecord]] = deque(maxlen=keep)
        self._folded: list[AttentionState] | None = None  # sum of chunks that left the deque (window=None)
        self._pending: list[ChunkRecord | None] = [None] * self.num_blocks
        self._pending_frames = 0
        self._frames: list[int] = []  # frame count of each chunk in `_chunks`
        self.next_frame = 0
        self._can_rewind = False

    # -- read by the model -------------------------------------------------------------------------
    def history(self, block: int) -> tuple[AttentionState | None, torch.Tensor | None]:
        """The attention history and the conv tail that block `block` sees for the next chunk."""
        recent = list(self._chunks)
        if not recent:
            return None, None
        visible = recent[-self.window :] if self.window is not None else recent
        state = self._folded[block] if self._folded is not None else None
        for record in visible:
            state = record[block].attention if state is None else state + record[block].attention
        return state, recent[-1][block].tail

    def record(self, block: int, own: AttentionState, tail: torch.Tensor, frames: int) -> None:
        """Called by the model for every cached forward: remember this chunk's contribution (not yet committed)."""
        self._pending[block] = ChunkRecord(
            AttentionState(own.kv.detach().clone(), own.k_sum.detach().clone()), tail.detach().clone()
        )
        self._pending_frames = frames

    # -- lifecycle -----------------------------------------------------------------------------------
    def advance(self) -> None:
        """Commit the chunk of the last cached forward (call it after the clean t=0 pass)."""
        if any(p is None for p in self._pending):
            raise RuntimeError("StreamingCache.advance() called before a cached forward recorded a chunk")
        if self.window is None and self._folded is None:  # allocated once, so the size never changes
            self._folded = [
                AttentionState(torch.zeros_like(p.attention.kv), torch.zeros_like(p.attention.k_sum))
                for p in self._pending
            ]
        if len(self._chunks) == self._chunks.maxlen:
            oldest = self._chunks[0]
            self._frames.pop(0)
            if self.window is None:  # fold into the running sum; with a window it is dropped
                self._folded = [s + r.attention for s, r in zip(self._folded, oldest)]
        self._chunks.append(self._pending)
        self._frames.append(self._pending_frames)
        self.next_frame += self._pending_frames
        self._pending = [None] * self.num_blocks
        self._can_rewind = True

    def rewind(self) -> None:
        """Drop the most recently committed chunk, e.g. to re-cache it with a new prompt."""
        if not self._can_rewind:
            raise RuntimeError("StreamingCache.rewind() can undo only the last advance(), once")
        self._chunks.pop()
        self.next_frame -= self._frames.pop()
        self._can_rewind = False

    def nbytes(self) -> int:
        """Bytes held by every tensor of the cache."""
        records = [r for chunk in self._chunks for r in chunk] + [r for r in self._pending if r is not None]
        tensors = [t for r in records for t in (r.attention.kv, r.attention.k_sum, r.tail)]
        if self._folded is not None:
            tensors += [t for s in self._folded for t in (s.kv, s.k_sum)]
        return sum(t.numel() * t.element_size() for t in tensors)
