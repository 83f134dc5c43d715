"""Raw video clips: discovery (folder of mp4 + json sidecars, or upstream zip shards), decoding with PyAV,
4k+1 frame sampling, and resize/crop to aspect-ratio buckets.

Folder layout:  DIR/name.mp4 + DIR/name.json  {"prompt": str, "motion_score": number (optional)}
Zip layout (upstream `SanaZipDataset`, docs/reference.md §5.3):  DIR/shard.zip holding {key}.mp4 + {key}.json
    ({"prompt", "height", "width", ...}), with optional sidecars next to the zip:
    shard_Qwen2.5-VL.json  {key: {"prompt": caption}}   (caption source "_Qwen2_5-VL")
    shard_unimatch.json    {key: {name: score or [scores]}}  (motion score = mean of all numbers)
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from sanavideo.adapters.text import add_motion_score
from sanavideo.pixels import from_uint8

log = logging.getLogger("sanavideo.data")


@dataclass
class ClipRecord:
    key: str  # unique id: path, or zip path + member name
    captions: dict[str, str]  # caption source -> text ("prompt", "_Qwen2_5-VL", ...)
    motion_score: float | None = None
    path: str | None = None  # a plain file
    zip_path: str | None = None  # or a member of a zip
    member: str | None = None

    def open(self) -> str | io.BytesIO:
        if self.path is not None:
            return self.path
        with zipfile.ZipFile(self.zip_path) as zf:
            return io.BytesIO(zf.read(self.member))

    def caption(self, proportion: dict[str, float]) -> str:
        """One caption, chosen by the weighted `proportion` among the available sources, fixed per clip."""
        options = [(s, w) for s, w in proportion.items() if s in self.captions and w > 0]
        if not options:
            options = [(s, 1.0) for s in sorted(self.captions)]
        total = sum(w for _, w in options)
        u = int(hashlib.sha1(self.key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * total
        for source, w in options:
            if u <= w:
                return self.captions[source]
            u -= w
        return self.captions[options[-1][0]]


_HAS_MOTION_SCORE = re.compile(r"motion score:\s*\d+\.?\s*$")


def full_prompt(caption: str, motion_score: float | None) -> str:
    """Upstream training caption: the caption plus " motion score: N." when the clip has a score, unless the
    caption already ends with such a suffix (the shapes world writes it into some captions)."""
    if motion_score is None or _HAS_MOTION_SCORE.search(caption):
        return caption.strip()
    return add_motion_score(caption, int(motion_score))


def scan_folder(directory: Path) -> tuple[list[ClipRecord], int]:
    records, skipped = [], 0
    for mp4 in sorted(directory.glob("*.mp4")):
        sidecar = mp4.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text())
            prompt = meta["prompt"]
            if not isinstance(prompt, str):
                raise ValueError(f"'prompt' must be a string, got {type(prompt).__name__}")
        except (OSError, ValueError, KeyError) as err:
            log.warning("skipping %s: bad or missing sidecar %s (%s)", mp4, sidecar.name, err)
            skipped += 1
            continue
        score = meta.get("motion_score")
        records.append(
            ClipRecord(str(mp4), {"prompt": prompt}, None if score is None else float(score), path=str(mp4))
        )
    return records, skipped


def _mean_score(value) -> float | None:
    numbers: list[float] = []

    def walk(v) -> None:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            numbers.append(float(v))
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(value)
    return sum(numbers) / len(numbers) if numbers else None


def _sidecar(zip_path: Path, suffix: str) -> dict:
    for candidate in (
        zip_path.with_name(f"{zip_path.stem}{suffix}"),
        zip_path.with_name(f"{zip_path.name}{suffix}"),
    ):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return {}


def scan_zips(directory: Path) -> tuple[list[ClipRecord], int]:
    records, skipped = [], 0
    for zpath in sorted(directory.glob("*.zip")):
        try:
            zf = zipfile.ZipFile(zpath)
        except (OSError, zipfile.BadZipFile) as err:
            log.warning("skipping unreadable zip %s (%s)", zpath, err)
            skipped += 1
            continue
        qwen = _sidecar(zpath, "_Qwen2.5-VL.json")
        unimatch = _sidecar(zpath, "_unimatch.json")
        with zf:
            names = set(zf.namelist())
            for member in sorted(n for n in names if n.endswith(".mp4")):
                key = member[: -len(".mp4")]
                try:
                    meta = json.loads(zf.read(f"{key}.json"))
                    captions = {"prompt": meta["prompt"]}
                except (KeyError, ValueError) as err:
                    log.warning("skipping %s:%s: bad or missing %s.json (%s)", zpath, member, key, err)
                    skipped += 1
                    continue
                if key in qwen and isinstance(qwen[key], dict) and "prompt" in qwen[key]:
                    captions["_Qwen2_5-VL"] = qwen[key]["prompt"]
                score = _mean_score(unimatch[key]) if key in unimatch else meta.get("motion_score")
                records.append(
                    ClipRecord(f"{zpath}:{member}", captions, score, zip_path=str(zpath), member=member)
                )
    return records, skipped


def scan_sources(dirs: Iterable[str | Path]) -> tuple[list[ClipRecord], int]:
    """All clips of the given folders (each a folder of mp4+json, of zips, or both) and the number skipped."""
    records, skipped = [], 0
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"data folder {d} does not exist")
        for scan in (scan_folder, scan_zips):
            r, s = scan(d)
            records += r
            skipped += s
    return records, skipped


def read_frames(source: str | io.BytesIO, num_frames: int, stride: int = 1) -> torch.Tensor:
    """Decode the first frames of a clip: every `stride`-th frame, at most `num_frames`, cut to 4k+1.

    Returns uint8 (T, H, W, 3). Raises ValueError for a clip with no decodable frame.
    """
    import av

    frames = []
    with av.open(source) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        for i, frame in enumerate(container.decode(video=0)):
            if i % stride == 0:
                frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")))
                if len(frames) == num_frames:
                    break
    if not frames:
        raise ValueError("no decodable frames")
    n = (len(frames) - 1) // 4 * 4 + 1  # largest 4k+1 <= available
    return torch.stack(frames[:n])


def make_buckets(
    resolution: int, multiple: int = 16, min_ratio: float = 0.25, max_ratio: float = 4.0, steps: int = 33
) -> list[tuple[int, int]]:
    """(height, width) buckets of about resolution**2 pixels, both multiples of `multiple`, for aspect
    ratios h/w spaced geometrically in [min_ratio, max_ratio]."""
    area = resolution * resolution
    out = set()
    for i in range(steps):
        r = min_ratio * (max_ratio / min_ratio) ** (i / (steps - 1))
        h = max(multiple, round(math.sqrt(area * r) / multiple) * multiple)
        w = max(multiple, round(math.sqrt(area / r) / multiple) * multiple)
        out.add((h, w))
    return sorted(out)


def nearest_bucket(height: int, width: int, buckets: list[tuple[int, int]]) -> tuple[int, int]:
    ratio = math.log(height / width)
    return min(buckets, key=lambda hw: abs(math.log(hw[0] / hw[1]) - ratio))


def resize_crop(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, h, w) in [-1, 1]: scale to cover `size`, then centre-crop."""
    h, w = size
    T, H, W, _ = frames.shape
    x = from_uint8(frames.permute(0, 3, 1, 2))  # (T, H, W, 3) -> (T, 3, H, W) in [-1, 1]
    scale = max(h / H, w / W)
    nh, nw = max(h, round(H * scale)), max(w, round(W * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - h) // 2, (nw - w) // 2
    x = x[:, :, top : top + h, left : left + w].clamp(-1, 1)
    return x.permute(1, 0, 2, 3).contiguous()  # (T, 3, h, w) -> (3, T, h, w)
