"""Precomputed training data held in memory: latents, text embeddings or token ids, grouped by shape bucket.

On-disk cache layout (written by `sanavideo precompute`, `sanavideo.data.precompute`):

    cache_dir/index.json                 {"version": 1, "items": [{"key", "file", "shape", "caption",
                                         "motion_score", "context_frames" (optional, default 0)}], ...}
    cache_dir/items/<hash>.safetensors   latents (C, F, H, W); prompt_mask (L,); prompt_embeds (L, D) and/or
                                         input_ids (L,)
    cache_dir/empty_prompt.safetensors   the empty prompt, encoded the same way (the "empty" null caption)

An item's `context_frames` (latent frames, e.g. one chunk) marks a continuation clip: its first frames are the
history a streamed chunk sees, held clean and out of the loss in training (`train.objective.add_noise`).

`LatentSet` stacks each bucket's items into one tensor per field, so a batch is one `index_select` on the
training device (no per-step disk IO).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger("sanavideo.data")

CACHE_VERSION = 1


@dataclass
class Batch:
    latents: torch.Tensor  # (B, C, F, H, W)
    prompt_mask: torch.Tensor  # (B, L)
    prompt_embeds: torch.Tensor | None = None  # (B, L, D)
    input_ids: torch.Tensor | None = None  # (B, L)
    context_frames: torch.Tensor | None = None  # (B,) long: leading latent frames given clean (continuations)


@dataclass
class Bucket:
    shape: tuple[int, ...]  # latent (C, F, H, W)
    tensors: dict[str, torch.Tensor]  # field -> (N_b, ...)


@dataclass
class LatentSet:
    """Samples grouped by latent shape; sample i lives at `index[i] = (bucket, row)`."""

    buckets: list[Bucket]
    index: list[tuple[int, int]]
    empty_prompt: dict[str, torch.Tensor] = field(default_factory=dict)  # field -> (L, ...) unbatched
    captions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def bucket_of(self) -> list[int]:
        return [b for b, _ in self.index]

    @property
    def text_len(self) -> int:
        return self.buckets[0].tensors["prompt_mask"].shape[1]

    @property
    def caption_channels(self) -> int | None:
        emb = self.buckets[0].tensors.get("prompt_embeds")
        return None if emb is None else emb.shape[2]

    def has(self, name: str) -> bool:
        return all(name in b.tensors for b in self.buckets)

    def to(self, device: torch.device | str) -> LatentSet:
        buckets = [Bucket(b.shape, {k: v.to(device) for k, v in b.tensors.items()}) for b in self.buckets]
        empty = {k: v.to(device) for k, v in self.empty_prompt.items()}
        return LatentSet(buckets, list(self.index), empty, list(self.captions))

    def batch(self, indices: list[int], device: torch.device | str) -> Batch:
        buckets = {self.index[i][0] for i in indices}
        if len(buckets) != 1:
            raise ValueError(f"a batch must come from one shape bucket, got buckets {sorted(buckets)}")
        b = self.buckets[buckets.pop()]
        rows = torch.tensor([self.index[i][1] for i in indices], device=b.tensors["latents"].device)
        out = {k: v.index_select(0, rows).to(device, non_blocking=True) for k, v in b.tensors.items()}
        return Batch(
            latents=out["latents"].float(),
            prompt_mask=out["prompt_mask"],
            prompt_embeds=out.get("prompt_embeds"),
            input_ids=out.get("input_ids"),
            context_frames=out.get("context_frames"),
        )

    @staticmethod
    def from_items(
        items: list[dict[str, torch.Tensor]],
        captions: list[str] | None = None,
        empty_prompt: dict[str, torch.Tensor] | None = None,
    ) -> LatentSet:
        """Group per-sample tensors by latent shape and stack them."""
        if not items:
            raise ValueError("no training samples (every clip was skipped or the cache is empty)")
        names = set(items[0])
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, item in enumerate(items):
            if set(item) != names:
                raise ValueError(f"sample {i} has fields {sorted(item)}, expected {sorted(names)}")
            groups.setdefault(tuple(item["latents"].shape), []).append(i)
        buckets, index = [], [(-1, -1)] * len(items)
        for shape, members in sorted(groups.items()):
            for row, i in enumerate(members):
                index[i] = (len(buckets), row)
            stacked = {k: torch.stack([items[i][k] for i in members]) for k in sorted(names)}
            buckets.append(Bucket(shape, stacked))
        return LatentSet(buckets, index, dict(empty_prompt or {}), list(captions or []))


def load_cache(
    cache_dir: str | Path,
    motion_score_min: float | None = None,
    motion_score_max: float | None = None,
    caption_pattern: str | None = None,
) -> LatentSet:
    """Read a precomputed cache folder into memory (CPU).

    motion_score_min / _max: keep only clips whose motion score (recorded at precompute) lies in the range, as
    upstream filters its training clips; with either bound set, clips without a score are left out too.
    caption_pattern: keep only clips whose caption matches this regular expression (`re.search`, case-insensitive),
    e.g. a sub-world of a curriculum."""
    from sanavideo.fsutil import load_safetensors

    cache_dir = Path(cache_dir)
    index_path = cache_dir / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path} not found: run `sanavideo precompute` first")
    index = json.loads(index_path.read_text())
    if index.get("version") != CACHE_VERSION:
        raise ValueError(f"{index_path}: cache version {index.get('version')}, expected {CACHE_VERSION}")
    items, captions = [], []
    entries = index["items"]
    if motion_score_min is not None or motion_score_max is not None:
        low = -math.inf if motion_score_min is None else motion_score_min
        high = math.inf if motion_score_max is None else motion_score_max
        kept = [e for e in entries if e.get("motion_score") is not None and low <= e["motion_score"] <= high]
        log.info("motion score in [%s, %s]: %d of %d clips kept", low, high, len(kept), len(entries))
        if not kept:
            raise ValueError(
                f"no clip of {cache_dir} has a motion score in [{low}, {high}] "
                f"({sum(e.get('motion_score') is not None for e in entries)} of {len(entries)} have one)"
            )
        entries = kept
    if caption_pattern is not None:
        pattern = re.compile(caption_pattern, re.IGNORECASE)
        kept = [e for e in entries if pattern.search(e["caption"])]
        log.info("caption pattern %r: %d of %d clips kept", caption_pattern, len(kept), len(entries))
        if not kept:
            raise ValueError(f"no caption of {len(entries)} clips in {cache_dir} matches {caption_pattern!r}")
        entries = kept
    continuations = any(e.get("context_frames") for e in entries)
    for entry in entries:
        tensors = load_safetensors(cache_dir / entry["file"])
        if list(tensors["latents"].shape) != entry["shape"]:
            raise ValueError(
                f"{entry['file']}: latents {list(tensors['latents'].shape)} but index says {entry['shape']}"
            )
        if continuations:  # a field of every item, so that the buckets stack it
            context = int(entry.get("context_frames", 0))
            if not 0 <= context < entry["shape"][1]:
                raise ValueError(
                    f"{entry['file']}: context_frames {context} must be in [0, {entry['shape'][1]}) latent frames"
                )
            tensors["context_frames"] = torch.tensor(context, dtype=torch.long)
        items.append(tensors)
        captions.append(entry["caption"])
    empty_path = cache_dir / "empty_prompt.safetensors"
    empty = load_safetensors(empty_path) if empty_path.is_file() else {}
    log.info(
        "loaded %d cached samples from %s (%d skipped at precompute)",
        len(items),
        cache_dir,
        index.get("skipped", 0),
    )
    return LatentSet.from_items(items, captions, empty)


class LatentCacheWriter:
    """Writes the cache layout above: one `items/NAME.safetensors` per clip (atomically, as it comes), then the
    empty prompt and, last, `index.json`, so a cache whose index exists is complete."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "items").mkdir(parents=True, exist_ok=True)
        self.entries: list[dict] = []

    def item_path(self, name: str) -> Path:
        return self.root / "items" / f"{name}.safetensors"

    def add(
        self,
        key: str,
        name: str,
        tensors: dict[str, torch.Tensor] | None,
        caption: str,
        motion_score: float | None,
        context_frames: int = 0,
    ) -> None:
        """Record one clip; `tensors` (latents (C, F, H, W) and text fields) are written, or None when
        `item_path(name)` already holds them (a reused item). `context_frames`: a continuation clip's clean
        history, in latent frames."""
        from sanavideo.fsutil import atomic_save_tensors

        path = self.item_path(name)
        if tensors is not None:
            atomic_save_tensors(tensors, path)
            shape = list(tensors["latents"].shape)
        else:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                shape = list(f.get_slice("latents").get_shape())
        self.entries.append(
            {
                "key": key,
                "file": f"items/{name}.safetensors",
                "shape": shape,
                "caption": caption,
                "motion_score": motion_score,
                **({"context_frames": context_frames} if context_frames else {}),
            }
        )

    def finish(self, empty_prompt: dict[str, torch.Tensor], **meta) -> Path:
        """Write the empty prompt (the "empty" null caption and negative prompt) and the index with `meta`."""
        from sanavideo.fsutil import atomic_save_tensors, atomic_write_json

        atomic_save_tensors(empty_prompt, self.root / "empty_prompt.safetensors")
        index = {"version": CACHE_VERSION, **meta, "items": self.entries}
        atomic_write_json(index, self.root / "index.json", indent=1)
        return self.root


class BucketBatchSampler:
    """Deterministic global batches from one shape bucket each: epoch e is a function of (seed, e) only.

    Within an epoch the samples are shuffled, grouped by bucket, cut into batches of `global_batch` (the
    remainder of each bucket is dropped), and the batch order is shuffled. Position = (epoch, batch index).
    """

    def __init__(self, bucket_of: list[int], global_batch: int, seed: int) -> None:
        self.bucket_of = bucket_of
        self.global_batch = global_batch
        self.seed = seed
        counts: dict[int, int] = {}
        for b in bucket_of:
            counts[b] = counts.get(b, 0) + 1
        if max(counts.values()) < global_batch:
            raise ValueError(
                f"global batch {global_batch} (batch_size x ranks x grad_accum) is larger than every shape "
                f"bucket (sizes {sorted(counts.values(), reverse=True)}); lower data.batch_size or add data"
            )
        self._cache: tuple[int, list[list[int]]] | None = None

    def epoch(self, epoch: int) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(len(self.bucket_of), generator=gen).tolist()
        groups: dict[int, list[int]] = {}
        for i in perm:
            groups.setdefault(self.bucket_of[i], []).append(i)
        batches = []
        for b in sorted(groups):
            members = groups[b]
            for start in range(0, len(members) - self.global_batch + 1, self.global_batch):
                batches.append(members[start : start + self.global_batch])
        order = torch.randperm(len(batches), generator=gen).tolist()
        batches = [batches[i] for i in order]
        self._cache = (epoch, batches)
        return batches

    def next(self, position: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
        """The batch at `position` and the position after it."""
        epoch, i = position
        batches = self.epoch(epoch)
        if i >= len(batches):
            epoch, i = epoch + 1, 0
            batches = self.epoch(epoch)
        return batches[i], (epoch, i + 1)
