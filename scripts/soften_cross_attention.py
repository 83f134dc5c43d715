"""Copy a model or training-export folder with some cross-attention heads softened (sanavideo.train.soften).

    python scripts/soften_cross_attention.py SRC DST [--heads 3] [--factor 0.1]

SRC: a folder with `transformer/` (a `sanavideo train` export `.../final`, or a pipeline folder). DST gets a
copy of SRC whose transformer has the heads' query-norm gain scaled by FACTOR in every block; warm-start a run
from it with `model.init_from=DST/transformer` (and `text_encoder.path=DST`).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sanavideo.convert.io import NULL_CAPTION_FILE, WEIGHT_SUFFIXES
from sanavideo.fsutil import atomic_folder
from sanavideo.model import SanaVideoTransformer
from sanavideo.train.soften import soften_cross_attention


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--heads", type=int, nargs="+", default=[3])
    p.add_argument("--factor", type=float, default=0.1)
    a = p.parse_args()
    if not (a.src / "transformer").is_dir():
        raise SystemExit(f"{a.src} has no transformer/ folder")
    if a.dst.exists():
        raise SystemExit(f"{a.dst} exists; choose a new folder")
    model = SanaVideoTransformer.from_pretrained(a.src / "transformer")
    soften_cross_attention(model, a.heads, a.factor)
    with atomic_folder(a.dst) as tmp:
        shutil.copytree(a.src, tmp, dirs_exist_ok=True)
        for old in (tmp / "transformer").iterdir():  # the source's weights, in whichever layout they came
            if old.suffix in WEIGHT_SUFFIXES and old.name != NULL_CAPTION_FILE:
                old.unlink()
        model.save_pretrained(tmp / "transformer")  # other files (the null caption) stay
    print(f"wrote {a.dst}: heads {a.heads} softened by {a.factor} in {len(model.blocks)} blocks")


if __name__ == "__main__":
    main()
