"""Training and fine-tuning of SANA-Video: `train(TrainArgs) -> TrainResult` (see docs/training.md).

`train`, `TrainResult` and the LoRA helpers load on first use, so the torch-free argument modules
(`sanavideo.train.args`, `sanavideo.train.recipe_args`) can be read without torch, e.g. by `sanavideo --help`.
"""

from sanavideo.train.args import TrainArgs, load_args

__all__ = ["TrainArgs", "TrainResult", "load_args", "load_lora", "merge_lora", "save_lora", "train"]

_LAZY = {
    "TrainResult": "loop",
    "train": "loop",
    "load_lora": "lora",
    "merge_lora": "lora",
    "save_lora": "lora",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
