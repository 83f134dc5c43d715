"""Training and fine-tuning of SANA-Video: `train(TrainArgs) -> TrainResult` (see docs/training.md)."""

from sanavideo.train.args import TrainArgs, load_args
from sanavideo.train.loop import TrainResult, train
from sanavideo.train.lora import load_lora, merge_lora, save_lora

__all__ = ["TrainArgs", "TrainResult", "load_args", "load_lora", "merge_lora", "save_lora", "train"]
