"""Train the embedded model's small causal video VAE (Wan architecture) on shapes-world clips.

The VAE is a `diffusers.AutoencoderKLWan` with a small config (`VAE_PRESETS`, default `patch2`; they and the
arguments `VAETrainArgs` live in the torch-free `sanavideo.train.recipe_args`): stride 4 in
time and 8 in space, 16 latent channels, with Wan2.2-style 2x2 input patchification so that it runs at 32x32
pixels and below. Training goes through the whole-clip causal forward (`sanavideo.adapters.wan_causal`: two
encoder and two decoder calls per clip, exact and differentiable), so a CPU step costs little more than the
convolutions themselves. The recipe the embedded model uses, measured on 2 CPU cores (docs/embedded-model.md):

    sanavideo train-vae --render 4000 --out runs/vae --frames 17 33 --crop 32 \
        --foreground-weight 10 --lr 1e-3 --time-budget 2700 [--init runs/vae_before]

Data: `--render N` renders N clips in memory (`sanavideo.data.shapes`), `--data DIR` reads the mp4 files that
`write_dataset` wrote. Steps take random windows of the `--frames` lengths in turn (4k+1, longer ones with
proportionally fewer clips), flipped left/right at random; with `--crop`, every other step takes object-centred
crops instead of whole frames. Loss: foreground- and outline-weighted L1 + L2 on [-1, 1] pixels + `kl_weight` x
KL. AdamW with warm-up and cosine decay over the step or time budget; bf16 autocast where it is native (`sanavideo.device.native_bf16`).
Every `--checkpoint-every` seconds the held-out PSNR is measured and the best weights so far are written to
OUT/best, so a stopped run loses little; `--init` warm-starts from any saved VAE folder, and with `--decoder-only`
only its decoder trains, so the latents (and a transformer trained on them) stay valid. At the end the
per-channel mean/std of the posterior means over a sample of clips go into the config as `latents_mean` /
`latents_std` (the pipeline normalises z = (mu - mean) / std as for Wan; with `--latents-like REF` they are
fitted instead so that z matches REF's normalised latents, which keeps a warm-started VAE's latent space where
a transformer trained on REF's expects it), the weights are written as fp16
safetensors with diffusers' config.json, and the held-out PSNR goes to `OUT/vae_train_report.json`.
`sanavideo eval vae --model OUT` measures the rest (per-frame PSNR, shapes checks, drift, decode speed).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from sanavideo.adapters.wan_causal import decode_latents, encode_moments
from sanavideo.device import native_bf16, resolve_device
from sanavideo.fsutil import atomic_path, atomic_save_tensors, atomic_write_json
from sanavideo.pixels import from_uint8, to_uint8
from sanavideo.train.recipe_args import VAE_PRESETS, VAETrainArgs  # torch-free, for the CLI


@dataclass
class VAETrainResult:
    steps: int
    losses: list[float]  # logged mean training loss every `log_every` steps
    psnr_db: float  # held-out reconstruction PSNR
    fixed_loss_start: float  # L1 + L2 of decode(posterior mean) on a fixed set of training clips, before ...
    fixed_loss_end: float  # ... and after training
    latents_mean: list[float]
    latents_std: list[float]
    train_seconds: float
    steps_per_second: float
    out: str
    config: dict = field(default_factory=dict)
    evals: list[dict] = field(default_factory=list)  # periodic held-out PSNR: step, seconds, psnr_db


# 1. Data -----------------------------------------------------------------------------------------------------


def render_pool(n: int, frames: int, size: int, seed: int, held_out: bool = False) -> np.ndarray:
    """Render n random clips: uint8 (n, frames, size, size, 3)."""
    from sanavideo.data.shapes import render_many, sample_spec

    rng = np.random.default_rng(seed)
    return render_many([sample_spec(rng, held_out=held_out) for _ in range(n)], frames, size)


def load_pool(data_dir: str | Path, min_frames: int) -> np.ndarray:
    """Read every NAME.mp4 under data_dir into uint8 (n, T, H, W, 3), cut to the shortest clip's length."""
    from sanavideo.video_io import read_video

    paths = sorted(Path(data_dir).glob("*.mp4"))
    if not paths:
        raise FileNotFoundError(f"no .mp4 clips in {data_dir}")
    clips = [read_video(p)[0] for p in paths]
    shapes = {c.shape[1:] for c in clips}
    if len(shapes) != 1:
        raise ValueError(
            f"clips in {data_dir} have different frame sizes {sorted(shapes)}; expected one size"
        )
    length = min(c.shape[0] for c in clips)
    if length < min_frames:
        raise ValueError(
            f"clips in {data_dir} have as few as {length} frames; training windows need {min_frames}"
        )
    return np.stack([c[:length] for c in clips])


def to_model_input(clips: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1] on device."""
    x = torch.as_tensor(clips).to(device, non_blocking=True)
    x = x.permute(0, 4, 1, 2, 3).float()  # (B, T, H, W, 3) -> (B, 3, T, H, W)
    return from_uint8(x)


def sample_batch(
    pool: torch.Tensor, batch: int, frames: int, gen: torch.Generator, crop: int = 0
) -> torch.Tensor:
    """Random clips, random `frames` windows, random left/right flips. pool: uint8 (n, T, H, W, 3).

    crop > 0: a `crop` x `crop` window around the object instead of the whole canvas (the VAE is fully
    convolutional): the object then fills ~4x more of each sample, and a sample costs ~4x less.
    """
    n, length, height, width = pool.shape[:4]
    idx = torch.randint(0, n, (batch,), generator=gen)
    start = torch.randint(0, length - frames + 1, (batch,), generator=gen)
    flip = torch.rand(batch, generator=gen) < 0.5
    jitter = torch.rand(batch, 2, generator=gen)
    out = []
    for i, s, f, (jy, jx) in zip(idx.tolist(), start.tolist(), flip.tolist(), jitter.tolist()):
        clip = pool[i, s : s + frames]  # (frames, H, W, 3)
        if crop:
            # object pixels of the window's middle frame: unlike the corner (background) colour
            mid = clip[frames // 2].to(torch.int16)
            ys, xs = torch.nonzero((mid - mid[:1, :1]).abs().amax(-1) > 12, as_tuple=True)
            cy = int(ys.float().mean()) if len(ys) else height // 2
            cx = int(xs.float().mean()) if len(xs) else width // 2
            # the object's centre anywhere in the middle half of the crop
            top = min(max(cy - int(crop * (0.25 + 0.5 * jy)), 0), height - crop)
            left = min(max(cx - int(crop * (0.25 + 0.5 * jx)), 0), width - crop)
            clip = clip[:, top : top + crop, left : left + crop]
        out.append(clip.flip(2) if f else clip)
    return torch.stack(out)


# 2. Model ----------------------------------------------------------------------------------------------------


def build_vae(preset: str = "embedded", seed: int = 0):
    from diffusers import AutoencoderKLWan

    if preset not in VAE_PRESETS:
        raise ValueError(f"unknown VAE preset {preset!r}; expected one of {sorted(VAE_PRESETS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKLWan(**VAE_PRESETS[preset])


def posterior(vae, x: torch.Tensor):
    """Diagonal Gaussian posterior of video x (B, 3, T, H, W) in [-1, 1], through the whole-clip encoder."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    return DiagonalGaussianDistribution(encode_moments(vae, x))


@torch.no_grad()
def reconstruct(vae, x: torch.Tensor) -> torch.Tensor:
    """decode(posterior mean) of x (B, 3, T, H, W) in [-1, 1], clamped to [-1, 1]."""
    return decode_latents(vae, posterior(vae, x).mode()).float().clamp(-1, 1)


def _posterior_means(vae, pool: torch.Tensor, device: torch.device, batch: int, frames: int):
    """Batch by batch over the clips' first `frames` frames: (model input x, posterior means float32
    (B, C, T', h, w))."""
    for i in range(0, pool.shape[0], batch):
        x = to_model_input(pool[i : i + batch, :frames], device)
        yield x, posterior(vae, x).mean.float()


def _by_channel(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, T', h, w) -> (C, B*T'*h*w)."""
    return latents.transpose(0, 1).reshape(latents.shape[1], -1)


@torch.no_grad()
def latent_stats(
    vae, pool: torch.Tensor, device: torch.device, batch: int, frames: int
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the posterior means over the clips' first `frames` frames."""
    total, total_sq, count = None, None, 0
    for _, mu in _posterior_means(vae, pool, device, batch, frames):
        per_channel = _by_channel(mu)
        s, sq = per_channel.sum(1).double(), (per_channel.double() ** 2).sum(1)
        total = s if total is None else total + s
        total_sq = sq if total_sq is None else total_sq + sq
        count += per_channel.shape[1]
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(1e-8).sqrt()
    return mean.tolist(), std.tolist()


@torch.no_grad()
def latent_stats_like(
    vae, reference, pool: torch.Tensor, device: torch.device, batch: int, frames: int
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std for `vae` such that its normalised posterior means (mu - mean) / std match the
    normalised latents of `reference` (a `WanVAE`, which normalises with its own config) in the least-squares
    sense over the clips' first `frames` frames: per channel z_ref ~ a * mu + b, so std = 1 / a, mean = -b / a.
    For a VAE warm-started from `reference`, this keeps its latents where a transformer trained on the
    reference's expects them (docs/embedded-model.md)."""
    sums = None  # per channel: n, sum mu, sum z, sum mu^2, sum mu*z
    for x, mu in _posterior_means(vae, pool, device, batch, frames):
        z = reference.encode(x).float()
        if z.shape != mu.shape:
            raise ValueError(
                f"--latents-like: the reference VAE's latents have shape {tuple(z.shape)}, this VAE's "
                f"{tuple(mu.shape)}; they must match"
            )
        m, r = _by_channel(mu).double(), _by_channel(z).double()
        part = torch.stack(
            [torch.full_like(m[:, 0], m.shape[1]), m.sum(1), r.sum(1), (m * m).sum(1), (m * r).sum(1)]
        )
        sums = part if sums is None else sums + part
    n, s_m, s_r, s_mm, s_mr = sums
    slope = (s_mr / n - s_m * s_r / n**2) / (s_mm / n - (s_m / n) ** 2).clamp_min(1e-12)
    intercept = s_r / n - slope * s_m / n
    if (slope <= 0).any():
        bad = torch.nonzero(slope <= 0).flatten().tolist()
        raise ValueError(
            f"--latents-like: latent channels {bad} of this VAE do not follow the reference's (fitted slopes "
            f"{[round(v, 4) for v in slope[bad].tolist()]}, expected > 0); warm-start it from the reference VAE"
        )
    return (-intercept / slope).tolist(), (1.0 / slope).tolist()


def psnr_db(mse: float | np.ndarray) -> float | np.ndarray:
    """PSNR on the 8-bit scale of mean squared errors in 0..255 units (a number or an array; inf where 0)."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(255.0**2 / mse)
    return float(out) if out.ndim == 0 else out


@torch.no_grad()
def reconstruction_psnr(vae, pool: torch.Tensor, device: torch.device, batch: int, frames: int) -> float:
    """PSNR (dB, 8-bit scale) of decode(posterior mean) against the clips' first `frames` frames."""
    sq_err, count = 0.0, 0
    for i in range(0, pool.shape[0], batch):
        x = to_model_input(pool[i : i + batch, :frames], device)
        rec_u8 = to_uint8(reconstruct(vae, x)).float()  # (B, 3, T, H, W), values 0..255
        ref = to_uint8(x).float()
        sq_err += float(((rec_u8 - ref) ** 2).sum())
        count += ref.numel()
    return psnr_db(sq_err / count)


@torch.no_grad()
def reconstruction_loss(vae, clips: torch.Tensor, device: torch.device, frames: int) -> float:
    """Deterministic L1 + L2 of decode(posterior mean) on uint8 clips (B, T, H, W, 3), first `frames` frames."""
    was_training = vae.training
    vae.eval()
    x = to_model_input(clips[:, :frames], device)
    rec = reconstruct(vae, x)
    vae.train(was_training)
    return float((rec - x).abs().mean() + ((rec - x) ** 2).mean())


# 3. Training -------------------------------------------------------------------------------------------------


def dilate_erode(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 0/1 float mask (B, 1, T, H, W) -> its dilation and its erosion by a 3x3 square, frame by frame."""
    pool = torch.nn.functional.max_pool3d
    dilated = pool(mask, (1, 3, 3), stride=1, padding=(0, 1, 1))
    eroded = -pool(-mask, (1, 3, 3), stride=1, padding=(0, 1, 1))
    return dilated, eroded


def pixel_weights(
    x: torch.Tensor,
    foreground_weight: float,
    edge_weight: float = 0.0,
    ring_weight: float = 0.0,
    contrast_reference: float = 0.0,
    speed_reference: float = 0.0,
) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, T, H, W): 1, plus `foreground_weight` on pixels unlike the clip's background
    colour, plus `edge_weight` on the object's outline (pixels with both object and background in their 3x3
    neighbourhood of the same frame: the band where corners and points are won or lost), plus `ring_weight` on
    the background pixels of that band (ring = foreground weight: a pixel on either side of the outline weighs
    the same, so an unsure boundary pixel is not pulled towards the object's colour).

    `contrast_reference` > 0 scales a clip's extra weights (not the 1) by (contrast_reference / c)^2, at
    least 1 and at most 16, where c is the largest RGB distance of its pixels from the background (the
    object's contrast, in [-1, 1] units; 0.8-2.5 in the shapes world): an outline blurred by the same
    fraction of its contrast then costs a low-contrast object (purple on gray) what it costs a high-contrast
    one, where the plain loss charges it (c / c_high)^2, 3-8x less, and its corners go first.

    `speed_reference` > 0 (pixels per frame) scales a clip's extra weights by (v / speed_reference)^2, at least
    1, where v is the object's mean speed (`object_speed`): a fast object crosses its own width within the four
    frames of one latent frame, and a decoder that blurs it along its path loses its corners first. The product
    of both scales stops at 16.

    x: (B, 3, T, H, W) in [-1, 1]; the background colour of a clip is the per-channel median of its first
    frame (the object covers well under half of it).
    """
    offset = x - x[:, :, 0].flatten(2).median(dim=2).values[:, :, None, None, None]  # (B, 3, T, H, W)
    differs = (offset.abs().amax(dim=1, keepdim=True) > 0.05).float()
    extra = foreground_weight * differs
    if edge_weight or ring_weight:
        dilated, eroded = dilate_erode(differs)
        extra = extra + edge_weight * (dilated - eroded) + ring_weight * (dilated - differs)
    scale = torch.ones(x.shape[0], device=x.device)  # (B,)
    if contrast_reference > 0:
        contrast = offset.norm(dim=1).flatten(1).amax(dim=1)  # (B,)
        scale = scale * (contrast_reference / contrast.clamp_min(1e-3)).square().clamp_min(1.0)
    if speed_reference > 0:
        scale = scale * (object_speed(differs) / speed_reference).square().clamp_min(1.0)
    return 1.0 + extra * scale.clamp_max(16.0)[:, None, None, None, None]


def object_speed(mask: torch.Tensor) -> torch.Tensor:
    """A 0/1 object mask (B, 1, T, H, W) -> (B,) the mean distance its centroid moves per frame, in pixels, over
    the consecutive frame pairs where the object shows in both (0 where there are none)."""
    H, W = mask.shape[-2:]
    m = mask[:, 0]  # (B, 1, T, H, W) -> (B, T, H, W)
    area = m.sum(dim=(2, 3))  # (B, T)
    ys = torch.arange(H, dtype=m.dtype, device=m.device)[:, None]
    xs = torch.arange(W, dtype=m.dtype, device=m.device)[None, :]
    centre = torch.stack([(m * ys).sum(dim=(2, 3)), (m * xs).sum(dim=(2, 3))], dim=-1)  # (B, T, 2)
    centre = centre / area.clamp_min(1.0)[..., None]
    step = (centre[:, 1:] - centre[:, :-1]).norm(dim=-1)  # (B, T - 1)
    both = ((area[:, 1:] > 0) & (area[:, :-1] > 0)).to(m.dtype)
    return (step * both).sum(dim=1) / both.sum(dim=1).clamp_min(1.0)


def _lr_factor(step: int, warmup: int, progress: float, min_ratio: float) -> float:
    """Linear warm-up over `warmup` steps times a cosine decay to `min_ratio` over progress in [0, 1]."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return warm * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def window_batches(
    frames: tuple[int, ...], batch: int, crop: int = 0, size: int = 64
) -> list[tuple[int, int, int]]:
    """(window length, clips, crop) for each step of the cycle: every entry of `frames` on the whole canvas, and
    with crop > 0 each again on object crops; equal pixels per step (longer or smaller samples: more of them)."""
    steps = [(f, max(1, round(batch * frames[0] / f)), 0) for f in frames]
    if crop:
        steps += [(f, round(n * (size / crop) ** 2), crop) for f, n, _ in steps]
    return steps


def save_vae(vae, out: Path, mean: list[float], std: list[float]) -> None:
    """Write the latent normalisation `mean` / `std` into the config, then the weights (fp16 safetensors) and
    config.json into `out`, each file atomically."""
    vae.register_to_config(latents_mean=list(mean), latents_std=list(std))
    state = {k: v.half() for k, v in vae.state_dict().items()}  # fp16 copy; the training weights stay fp32
    atomic_save_tensors(state, out / "diffusion_pytorch_model.safetensors")
    with atomic_path(out / "config.json") as tmp:
        tmp.write_text(vae.to_json_string())  # diffusers' config.json, with _class_name


def train_vae(args: VAETrainArgs, log=print) -> VAETrainResult:
    """Train, normalise, save and evaluate a VAE as described in the module docstring."""
    from diffusers import AutoencoderKLWan

    from sanavideo.adapters.wan_norm import use_fast_wan_norms

    frames = tuple(args.frames) if not isinstance(args.frames, int) else (args.frames,)
    for f in frames:
        if (f - 1) % 4:
            raise ValueError(f"--frames must be 4k+1 for the causal VAE (17, 33, ...), got {f}")
    if args.size % 8:
        raise ValueError(f"--size must be a multiple of the VAE's spatial stride 8, got {args.size}")
    if (args.data is None) == (args.render <= 0):
        raise ValueError("give exactly one data source: --data DIR or --render N (N > 0)")
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eval_frames = max(frames)

    # Data: training pool, held-out evaluation clips (unseen combinations, another seed), stats clips.
    t0 = time.perf_counter()
    if args.data is not None:
        train_np = load_pool(args.data, eval_frames)
        size = train_np.shape[2]
    else:
        train_np = render_pool(args.render, max(args.render_frames, eval_frames), args.size, seed=args.seed)
        size = args.size
    eval_np = render_pool(args.eval_clips, eval_frames, size, seed=args.seed + 1_000_003, held_out=True)
    stats_idx = np.random.default_rng(args.seed).permutation(len(train_np))[: args.stats_clips]
    pool = torch.from_numpy(train_np)
    if device.type == "cuda":
        pool = pool.to(device)  # the whole uint8 pool lives on the GPU: batches never wait for the host
    eval_pool = torch.from_numpy(eval_np).to(device)
    stats_pool = torch.from_numpy(train_np[stats_idx]).to(device)
    log(
        f"data: {tuple(train_np.shape)} training clips, {len(eval_np)} held-out clips ({time.perf_counter() - t0:.1f} s)"
    )

    # Model and optimiser.
    if args.init:
        vae = AutoencoderKLWan.from_pretrained(args.init, torch_dtype=torch.float32)
    else:
        vae = build_vae(args.preset, seed=args.seed)
    if args.widen_decoder is not None:
        if not args.init:
            raise ValueError("--widen-decoder widens a trained VAE's decoder: give the VAE with --init")
        from sanavideo.train.vae_widen import widen_decoder

        vae = widen_decoder(vae, args.widen_decoder, seed=args.seed)
    vae.to(device).train()
    use_fast_wan_norms(vae)  # its RMS norms as one plain reduction: a training step ~1.2x faster on a CPU
    if args.decoder_only:
        if not args.init:
            raise ValueError("--decoder-only fine-tunes a trained VAE's decoder: give the VAE with --init")
        for module in (vae.encoder, vae.quant_conv):  # the posterior's path: the latent space stays as it is
            module.requires_grad_(False)
    reference = None
    if args.latents_like:
        if args.decoder_only:
            raise ValueError(
                "--latents-like fits a trained encoder's latent statistics; with --decoder-only the encoder and "
                "its statistics stay those of --init"
            )
        from sanavideo.adapters.vae import load_vae

        reference = load_vae(args.latents_like).to(device)

    def save(folder: Path) -> tuple[list[float], list[float]]:
        """The latent normalisation (kept with a frozen encoder, fitted to --latents-like, or measured), then
        the weights, into `folder`."""
        vae.eval()
        if args.decoder_only:
            mean, std = list(vae.config.latents_mean), list(vae.config.latents_std)
        elif reference is not None:
            mean, std = latent_stats_like(vae, reference, stats_pool, device, eval_batch, eval_frames)
        else:
            mean, std = latent_stats(vae, stats_pool, device, eval_batch, eval_frames)
        save_vae(vae, folder, mean, std)
        vae.train()
        return mean, std

    trainable = [p for p in vae.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in trainable)
    log(f"vae: {args.init or args.preset} {n_params / 1e6:.2f}M trainable params on {device}")
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    amp = native_bf16(device) if args.bf16 is None else args.bf16
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest 3-D conv kernels
    if args.crop and (args.crop % 16 or args.crop >= size):
        raise ValueError(f"--crop must be a multiple of 16 below the canvas size {size}, got {args.crop}")
    schedule = window_batches(frames, args.batch, args.crop, size)
    eval_batch = max(1, min(args.batch, 16))

    fixed = pool[: min(len(pool), 8)]
    fixed_start = reconstruction_loss(vae, fixed, device, eval_frames)
    losses: list[float] = []
    window: list[float] = []
    evals: list[dict] = []  # periodic held-out PSNR
    best_psnr = -math.inf
    start = time.perf_counter()
    next_checkpoint = args.checkpoint_every_s
    step = 0
    frames_seen = 0
    while step < args.steps:
        elapsed = time.perf_counter() - start
        if args.time_budget_s is not None and elapsed >= args.time_budget_s:
            log(f"time budget of {args.time_budget_s:.0f} s reached after {step} steps")
            break
        if args.checkpoint_every_s and elapsed >= next_checkpoint:
            next_checkpoint += args.checkpoint_every_s
            psnr = evaluate(vae, eval_pool, device, eval_batch, eval_frames)
            evals.append({"step": step, "seconds": round(elapsed, 1), "psnr_db": psnr})
            if psnr > best_psnr:
                best_psnr = psnr
                save(out / "best")
            log(f"step {step}: held-out PSNR {psnr:.2f} dB (best {best_psnr:.2f})")
        progress = step / args.steps
        if args.time_budget_s:
            progress = max(progress, elapsed / args.time_budget_s)
        for group in opt.param_groups:
            group["lr"] = args.lr * _lr_factor(step, args.warmup, progress, args.min_lr_ratio)

        length, clips, crop = schedule[step % len(schedule)]
        x = to_model_input(sample_batch(pool, clips, length, gen, crop), device)  # (B, 3, T, H, W)
        with autocast, torch.set_grad_enabled(not args.decoder_only):
            post = posterior(vae, x)
        with autocast:
            rec = decode_latents(vae, post.sample())
        rec = rec.float()
        # (B, 1, T, H, W)
        weight = pixel_weights(
            x,
            args.foreground_weight,
            args.edge_weight,
            args.ring_weight,
            args.contrast_reference,
            args.speed_reference,
        )
        l1 = ((rec - x).abs() * weight).mean()
        l2 = ((rec - x) ** 2 * weight).mean()
        # KL to N(0, 1) per latent element (diffusers' .kl() sums over only some axes of 5-D latents).
        mu, logvar = post.mean.float(), post.logvar.float()
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).mean()
        loss = args.l1_weight * l1 + args.l2_weight * l2 + args.kl_weight * kl
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite VAE loss at step {step}: l1={l1.item()} l2={l2.item()} kl={kl.item()}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, args.grad_clip)
        opt.step()
        step += 1
        frames_seen += clips * length * ((crop or size) / size) ** 2  # in whole-canvas frames
        window.append(loss.item())
        if step % args.log_every == 0 or step == args.steps:
            mean_loss = float(np.mean(window))
            losses.append(mean_loss)
            window = []
            seconds = time.perf_counter() - start
            log(
                f"step {step}/{args.steps} loss {mean_loss:.4f} (l1 {l1.item():.4f} l2 {l2.item():.5f} "
                f"kl {kl.item():.2f}) lr {opt.param_groups[0]['lr']:.2e} {step / seconds:.2f} steps/s "
                f"{frames_seen / seconds:.0f} frames/s"
            )
    if window:
        losses.append(float(np.mean(window)))
    train_seconds = time.perf_counter() - start

    # Final evaluation; keep the final weights unless a periodic checkpoint scored better.
    fixed_end = reconstruction_loss(vae, fixed, device, eval_frames)
    log(f"fixed-batch reconstruction loss {fixed_start:.4f} -> {fixed_end:.4f}")
    psnr = evaluate(vae, eval_pool, device, eval_batch, eval_frames)
    evals.append({"step": step, "seconds": round(train_seconds, 1), "psnr_db": psnr})
    if psnr < best_psnr:
        log(
            f"final held-out PSNR {psnr:.2f} dB is below the checkpoint's {best_psnr:.2f} dB: keeping that one"
        )
        vae = AutoencoderKLWan.from_pretrained(out / "best", torch_dtype=torch.float32).to(device)
        psnr = best_psnr
    mean, std = save(out)
    log(f"held-out reconstruction PSNR {psnr:.2f} dB over {len(eval_np)} clips of {eval_frames} frames")
    result = VAETrainResult(
        steps=step,
        losses=losses,
        psnr_db=psnr,
        fixed_loss_start=fixed_start,
        fixed_loss_end=fixed_end,
        latents_mean=mean,
        latents_std=std,
        train_seconds=train_seconds,
        steps_per_second=step / max(train_seconds, 1e-9),
        out=str(out),
        config=dict(vae.config),
        evals=evals,
    )
    report = {"args": asdict(args), **{k: v for k, v in asdict(result).items() if k != "config"}}
    atomic_write_json(report, out / "vae_train_report.json", indent=1)
    log(f"saved {out} ({step} steps in {train_seconds:.0f} s)")
    return result


def evaluate(vae, eval_pool: torch.Tensor, device: torch.device, batch: int, frames: int) -> float:
    """Held-out PSNR in eval mode, restoring the training mode afterwards."""
    was_training = vae.training
    vae.eval()
    psnr = reconstruction_psnr(vae, eval_pool, device, batch, frames)
    vae.train(was_training)
    return psnr
