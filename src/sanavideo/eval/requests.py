"""What `sanavideo eval shapes` and `sanavideo eval vae` measure (`EvalRequest`, `VAEReportRequest`), apart from
the measuring (run.py, vae.py) so that the command line reads their fields for `--help` without loading torch.
Each field's documentation is the `help` of its metadata, shown as the help of the flag that sets it."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("t2v", "i2v", "stream", "switch")


@dataclass(frozen=True)
class EvalRequest:
    n: int = field(default=12, metadata={"help": "prompts per split (seen, held-out)"})
    seed: int = field(
        default=0, metadata={"help": "seed of the prompts and clips (clip i's noise: seed + i)"}
    )
    frames: int = field(default=33, metadata={"help": "frames per clip (4k+1)"})
    long_frames: int = field(
        default=0,
        metadata={
            "help": "also stream one clip of this many frames per split for the long-clip checks (0: none)"
        },
    )
    long_clips: int = field(
        default=1,
        metadata={
            "help": "long streamed clips per split, from the split's first prompts (clip i: seed + i); the "
            "long-clip measures are averaged over them"
        },
    )
    mode: str = field(
        default="t2v",
        metadata={
            "help": "how clips are made: t2v, the pipeline's sampler; i2v, the same from each clip's rendered "
            "first frame; stream, chunk by chunk through the streaming cache; switch, streams that switch "
            "each prompt to another direction and check the motion one chunk later (eval/switch.py)"
        },
    )

    def __post_init__(self) -> None:
        if not 1 <= self.long_clips <= self.n:
            raise ValueError(f"long_clips must be in [1, n = {self.n}], got {self.long_clips}")


@dataclass(frozen=True)
class VAEReportRequest:
    clips: int = field(default=32, metadata={"help": "held-out clips"})
    frames: int = field(default=33, metadata={"help": "frames per clip (1 + the VAE's temporal stride x k)"})
    size: int = field(default=64, metadata={"help": "side of the clips, pixels"})
    long_frames: int = field(default=961, metadata={"help": "frames of the long streamed clip (0: none)"})
    long_prompt: str = field(
        default="a red circle bounces around", metadata={"help": "caption of the long clip"}
    )
    chunk_latents: int = field(
        default=3,
        metadata={"help": "latent frames per streaming decode call (the embedded model's stream chunk)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the held-out clips"})
    batch: int = field(default=8, metadata={"help": "clips per VAE call"})
