"""`sanavideo generate PROMPT -o out.mp4`: text-to-video (or image-to-video with --image) from a model folder.

The output format follows the suffix: .mp4 (H.264), .gif, or .png (one file per frame). With
`--prompts-file`, one video per non-empty line (lines starting with '#' are skipped), named
`<stem>_000<suffix>`, `<stem>_001<suffix>`, ... (or by a `{i}` placeholder in `-o`), seeds `seed + i`.
Every input is checked before anything is written, and files appear atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sanavideo.cli.fields import add_field_argument
from sanavideo.options import PipelineOptions as Options

# The flags that set a request's model options: flag -> the option field it sets and, where --stream makes it set
# another one, that one. Type and help come from the fields (sanavideo.options); the default is None: the model's
# (its `sanavideo.json` options).
OPTION_FLAGS: dict[str, tuple[str, ...]] = {
    "--negative-prompt": ("negative_prompt",),
    "--frames": ("frames",),
    "--height": ("height",),
    "--width": ("width",),
    "--steps": ("num_inference_steps", "stream_steps"),
    "--guidance": ("guidance_scale", "stream_guidance_scale"),
    "--motion-score": ("motion_score",),
    "--fps": ("fps",),
    "--chunk-frames": ("chunk_frames", "stream_chunk_frames"),
}
STREAM_FLAGS = {"--window": "stream_window"}  # --stream only
SWITCH_FLAGS = {"--rollout": "rollout"}  # on / off flags (--rollout, --no-rollout) of boolean options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a video from a text prompt (or a prompt and a first-frame image)",
        description="Generate videos with a SANA-Video model. Defaults for size, frames, steps and guidance "
        "come from the model (sanavideo.json options; diffusers defaults otherwise).",
    )
    p.add_argument("prompt", nargs="?", help="text prompt (or use --prompts-file)")
    p.add_argument(
        "-o", "--output", default="output.mp4", help="output path: .mp4, .gif or .png (default %(default)s)"
    )
    p.add_argument(
        "--model", default=None, help="model folder or sanavideo.json (default: the embedded model)"
    )
    p.add_argument("--image", default=None, help="first-frame image for image-to-video")
    for flag, (name, *streamed) in OPTION_FLAGS.items():
        also = [("with --stream", Options, other) for other in streamed]
        add_field_argument(p, flag, Options, name, model_default=True, also=also)
    for flag, name in SWITCH_FLAGS.items():
        add_field_argument(p, flag, Options, name, model_default=True, action=argparse.BooleanOptionalAction)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompts-file", default=None, help="text file with one prompt per line; one video each")
    p.add_argument("--sampler", choices=["dpm", "euler"], default=None, help="default: the model's scheduler")
    p.add_argument("--no-binning", action="store_true", help="generate at exactly --height x --width")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument(
        "--offload",
        action="store_true",
        help="keep the text encoder, transformer and VAE in CPU memory and move each to --device only for its "
        "stage: GPU memory of the largest one instead of all three (SanaVideoPipeline.enable_model_offload)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="LongSANA streaming: generate chunk by chunk at constant memory, writing frames as they come",
    )
    for flag, name in STREAM_FLAGS.items():
        add_field_argument(p, flag, Options, name, model_default=True, context="--stream")
    p.add_argument(
        "--switch",
        action="append",
        default=[],
        metavar="FRAME:PROMPT",
        help="--stream: switch to PROMPT from video frame FRAME on (repeatable)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default=None,
        help="transformer and text encoder dtype (default: bfloat16 where it is native: CUDA, CPUs with "
        "AVX512-BF16 or AMX; float32 elsewhere)",
    )
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace, count: int) -> None:
    """Refuse bad numbers before any model is loaded: each message names the flag, the value and what it takes."""
    import math

    if args.guidance is not None and not (math.isfinite(args.guidance) and args.guidance >= 1):
        raise ValueError(f"--guidance must be a finite number >= 1 (1 = no guidance), got {args.guidance}")
    if args.fps is not None and not (math.isfinite(args.fps) and 1 <= args.fps <= 240):
        raise ValueError(f"--fps must be a number from 1 to 240, got {args.fps}")
    if not 0 <= args.seed <= 2**63 - count:
        raise ValueError(
            f"--seed must be from 0 to 2**63 - {count} (one seed per prompt: seed + i), got {args.seed}"
        )
    for flag in ("steps", "frames", "height", "width", "chunk_frames", "window"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")


def read_prompts(args: argparse.Namespace) -> list[str]:
    """The prompt, or the non-empty, non-comment lines of --prompts-file."""
    if args.prompts_file is None:
        if args.prompt is None:
            raise ValueError("give a PROMPT or --prompts-file FILE")
        if not args.prompt.strip():
            raise ValueError(f"the prompt is empty or only whitespace ({args.prompt!r}); describe the video")
        try:
            args.prompt.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes on the command line arrive as lone surrogates
            raise ValueError(f"the prompt is not valid UTF-8 text: {args.prompt!r}") from None
        return [args.prompt]
    if args.prompt:
        raise ValueError("give either a PROMPT or --prompts-file, not both")
    path = Path(args.prompts_file)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    from sanavideo.fsutil import read_text

    try:
        text = read_text(path)
    except ValueError as err:
        raise ValueError(f"prompts file {err}") from None
    prompts = [line.strip() for line in text.splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise ValueError(f"{path} contains no prompts (one per line; '#' lines are skipped)")
    return prompts


def output_paths(output: str, count: int, numbered: bool) -> list[Path]:
    """One output path per prompt: `-o` itself, or numbered copies of it."""
    from sanavideo.video_io import VIDEO_SUFFIXES

    path = Path(output)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"output {output!r} must end in one of {VIDEO_SUFFIXES}")
    if not numbered:
        return [path]
    if "{i}" in output:
        return [Path(output.replace("{i}", f"{i:03d}")) for i in range(count)]
    return [path.with_name(f"{path.stem}_{i:03d}{path.suffix}") for i in range(count)]


def run(args: argparse.Namespace) -> int:
    import torch

    from sanavideo.device import resolve_device, resolve_dtype
    from sanavideo.fsutil import check_writable
    from sanavideo.pipeline import SanaVideoPipeline
    from sanavideo.video_io import VideoWriter, load_image

    prompts = read_prompts(args)
    check_args(args, len(prompts))
    outputs = output_paths(args.output, len(prompts), numbered=args.prompts_file is not None)
    for out in outputs:
        check_writable(out, "a file path ending in .mp4, .gif or .png")
    image = load_image(args.image) if args.image else None  # fail early on an unreadable image
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.offload and device.type == "cpu":
        raise ValueError("--offload moves each component onto an accelerator for its stage; --device is cpu")
    pipe = SanaVideoPipeline.from_pretrained(args.model)
    if args.offload:
        pipe.to(dtype=dtype).enable_model_offload(device)
    else:
        pipe.to(device, dtype)
    binning = not args.no_binning
    pipe.check_size(args.height, args.width, args.frames, binning)  # errors before any work
    fps = args.fps if args.fps is not None else pipe.options.fps
    if fps <= 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    if args.stream:
        if len(prompts) != 1:
            raise ValueError("--stream renders one prompt (use --switch FRAME:PROMPT for prompt changes)")
        return stream_to_file(pipe, args, prompts[0], outputs[0], image, fps)
    if args.switch:
        raise ValueError("--switch needs --stream")
    for i, (prompt, out) in enumerate(zip(prompts, outputs)):
        result = pipe(
            prompt,
            negative_prompt=args.negative_prompt,
            image=image,
            height=args.height,
            width=args.width,
            frames=args.frames,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            motion_score=args.motion_score,
            generator=torch.Generator().manual_seed(args.seed + i),
            sampler=args.sampler,
            use_resolution_binning=binning,
            chunk_frames=args.chunk_frames,
            rollout=args.rollout,
            output_type="np",
        )
        with VideoWriter(out, fps=fps) as writer:
            writer.append(result.frames[0])
        print(
            f"wrote {writer.written_name} ({result.frames.shape[1]} frames, {result.frames.shape[3]}x{result.frames.shape[2]}, "
            f"{fps:g} fps)"
        )
    return 0


def stream_to_file(pipe, args: argparse.Namespace, prompt: str, out: Path, image, fps: float) -> int:
    """Stream one long video into `out` chunk by chunk, reporting generated frames per second."""
    import time

    import torch
    from tqdm.auto import tqdm

    from sanavideo.timeline import build_timeline
    from sanavideo.video_io import VideoWriter

    frames = args.frames if args.frames is not None else pipe.options.frames
    schedule = build_timeline(prompt, args.switch, frames)
    chunks = pipe.stream(
        schedule,
        frames=frames,
        height=args.height,
        width=args.width,
        negative_prompt=args.negative_prompt,
        guidance_scale=args.guidance,
        image=image,
        motion_score=args.motion_score,
        generator=torch.Generator().manual_seed(args.seed),
        chunk_frames=args.chunk_frames,
        steps=args.steps,
        window=args.window,
    )
    start = time.perf_counter()
    done = 0
    with VideoWriter(out, fps=fps) as writer, tqdm(total=frames, unit="frame", desc="streaming") as bar:
        for chunk in chunks:
            writer.append(chunk)
            done += len(chunk)
            bar.update(len(chunk))
            bar.set_postfix(gen_fps=f"{done / (time.perf_counter() - start):.1f}")
    elapsed = time.perf_counter() - start
    print(
        f"wrote {writer.written_name} ({done} frames streamed in {elapsed:.1f} s, {done / elapsed:.1f} generated frames/s)"
    )
    return 0
