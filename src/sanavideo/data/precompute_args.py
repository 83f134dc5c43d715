"""What `sanavideo precompute` encodes and how (`PrecomputeArgs`), apart from the encoding itself (precompute.py)
so that the command line reads its fields for `--help` without loading torch. Each field's documentation is
the `help` of its metadata, shown as the help of the flag that sets it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PrecomputeArgs:
    video_dirs: list[str] = field(
        metadata={
            "help": "data folders: *.mp4 + *.json sidecars ({prompt, motion_score}) or upstream *.zip shards"
        }
    )
    encoders: str = field(metadata={"help": "diffusers-layout folder with vae/, tokenizer/, text_encoder/"})
    output: str = field(metadata={"help": "cache folder"})
    num_frames: int = field(default=81, metadata={"help": "pixel frames per clip, 4k+1"})
    frame_stride: int = field(default=1, metadata={"help": "keep every Nth frame of a clip"})
    resolution: int = field(default=480, metadata={"help": "bucket area ~ resolution^2 pixels"})
    bucket_multiple: int = field(
        default=16, metadata={"help": "bucket sides are multiples of this: VAE stride x transformer patch"}
    )
    max_text_length: int = field(default=300, metadata={"help": "text tokens kept per prompt"})
    motion_score: bool = field(
        default=True, metadata={"help": "append ' motion score: N.' to a prompt when its clip has a score"}
    )
    caption_proportion: dict[str, float] = field(
        default_factory=lambda: {"prompt": 1.0},
        metadata={"help": "caption sources of a clip and their weights (one is chosen per clip)"},
    )
    store_embeddings: bool = field(
        default=True,
        metadata={"help": "store text features (False: token ids only, for a trainable text encoder)"},
    )
    chi: str = field(
        default="video",
        metadata={"help": "instruction prefix of the text encoder: video, image or none (as the pipeline's)"},
    )
    lowercase: bool = field(
        default=True, metadata={"help": "lower-case and strip prompts (as the pipeline does)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, ..."})
    embed_dtype: str = field(default="bfloat16", metadata={"help": "dtype of the stored text features"})

    def __post_init__(self) -> None:
        if (self.num_frames - 1) % 4:
            raise ValueError(f"num_frames must be 4k+1, got {self.num_frames}")
