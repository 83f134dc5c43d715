"""The flow-matching training objective of SANA-Video (docs/reference.md §4.1, §5.1, §2.6).

    x_sigma = (1 - sigma) * x0 + sigma * eps,   target v = eps - x0,   loss = mean (v_pred - v)^2

sigma: logit-normal u, discretised to one of `num_train_timesteps` levels of linspace(0, 0.999) and shifted by
`flow_shift`; the model receives t = 1000 * sigma. Per-frame variants: image-to-video (frame 0 clean at t = 0
and out of the loss), continuation clips (their first chunk clean at t = 0 and out of the loss: a streamed
chunk's history) and block-causal training (one sigma per chunk, non-decreasing with the chunk index).

All randomness of one optimizer step is drawn for the whole global batch from one seeded generator
(`StepNoise.draw`), and each rank / micro-batch takes its rows, so the result does not depend on the number of
ranks or on gradient accumulation, and a resumed run draws exactly what the uninterrupted one drew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sanavideo.sampling.schedules import shift_sigmas
from sanavideo.train.args import ObjectiveArgs


def logit_normal_index(normal: torch.Tensor, args: ObjectiveArgs) -> torch.Tensor:
    """Standard normals -> integer timestep indices in [0, T): floor(T * sigmoid(mean + std * normal))."""
    T = args.num_train_timesteps
    u = torch.sigmoid(args.logit_mean + args.logit_std * normal)
    return (u * T).long().clamp(0, T - 1)


def index_sigma(idx: torch.Tensor, args: ObjectiveArgs) -> torch.Tensor:
    """Integer timestep indices -> shifted sigmas: linspace(0, 0.999, T)[idx], then the flow shift."""
    base = idx.to(torch.float32) * (0.999 / (args.num_train_timesteps - 1))
    return shift_sigmas(base, args.flow_shift)


def logit_normal_sigma(normal: torch.Tensor, args: ObjectiveArgs) -> torch.Tensor:
    """Map standard normals to the discretised, shifted training sigmas (upstream `linear_flow` schedule)."""
    return index_sigma(logit_normal_index(normal, args), args)


def chunk_sigmas(
    normals: torch.Tensor, uniforms: torch.Tensor, args: ObjectiveArgs, shared: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, K) per-chunk sigmas, non-decreasing along K (chunk 0 has the least noise).

    scaled (upstream `respace`, incremental chunk timesteps): the last chunk's integer timestep index is
    logit-normal, each earlier one is floor(U(0,1) x the next one's index), and only then are the indices turned
    into sigmas with the flow shift; sorted: K independent logit-normal sigmas, sorted; shared: one sigma for
    all chunks. `shared` (B,) bool: rows that take the last chunk's sigma for every chunk whatever
    the mode (`ObjectiveArgs.shared_prob`).
    """
    B, K = normals.shape
    if args.chunk_timesteps == "shared" or K == 1:
        return logit_normal_sigma(normals[:, :1], args).expand(B, K)
    if args.chunk_timesteps == "sorted":
        sig = logit_normal_sigma(normals, args).sort(dim=1).values
    else:
        indices = [logit_normal_index(normals[:, -1], args)]
        for k in range(K - 2, -1, -1):
            indices.append((uniforms[:, k] * indices[-1].float()).long())
        sig = index_sigma(torch.stack(indices[::-1], dim=1), args)
    if shared is not None:
        sig = torch.where(shared[:, None], sig[:, -1:].expand(B, K), sig)
    return sig


@dataclass
class StepNoise:
    """Per-sample randomness of one optimizer step for a global batch of G samples."""

    noise: torch.Tensor  # (G, C, F, H, W)
    normals: torch.Tensor  # (G, K) for the logit-normal sigmas
    uniforms: torch.Tensor  # (G, K) for the "scaled" chunk sigmas
    drop: torch.Tensor  # (G,) bool: caption replaced by the null caption
    i2v: torch.Tensor  # (G,) bool: frame 0 is a clean condition
    shared: torch.Tensor  # (G,) bool: one sigma for all chunks (drawn last: the other draws do not change)

    @staticmethod
    def draw(
        seed: int,
        step: int,
        global_batch: int,
        latent_shape: Sequence[int],
        num_chunks: int,
        args: ObjectiveArgs,
        device: torch.device,
    ) -> StepNoise:
        gen = torch.Generator(device=device).manual_seed(step_seed(seed, step))
        G = global_batch
        noise = torch.randn((G, *latent_shape), generator=gen, device=device)
        normals = torch.randn((G, num_chunks), generator=gen, device=device)
        uniforms = torch.rand((G, num_chunks), generator=gen, device=device)
        drop = torch.rand((G,), generator=gen, device=device) < args.caption_dropout
        i2v = torch.rand((G,), generator=gen, device=device) < args.i2v_prob
        shared = torch.rand((G,), generator=gen, device=device) < args.shared_prob
        return StepNoise(noise, normals, uniforms, drop, i2v, shared)

    def rows(self, start: int, stop: int) -> StepNoise:
        return StepNoise(
            *(
                t[start:stop]
                for t in (self.noise, self.normals, self.uniforms, self.drop, self.i2v, self.shared)
            )
        )


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919 + 12345) % (2**63 - 1)


@dataclass
class NoisedBatch:
    noisy: torch.Tensor  # (B, C, F, H, W) model input x_sigma
    timestep: torch.Tensor  # (B,) or (B, F): 1000 * sigma
    target: torch.Tensor  # (B, C, F, H, W) eps - x0
    frame_weight: torch.Tensor  # (B, F) 1 where the frame counts in the loss


def add_noise(
    x0: torch.Tensor,
    rnd: StepNoise,
    chunks: list[int],
    args: ObjectiveArgs,
    num_train_timesteps: int = 1000,
    context_frames: torch.Tensor | None = None,
) -> NoisedBatch:
    """Noise clean latents x0 (B, C, F, H, W) with per-frame sigmas built from the drawn randomness.

    `context_frames` (B,) long: row b's first context_frames[b] latent frames are a continuation clip's history,
    clean at t = 0 and out of the loss, as a streamed chunk's committed history is (the image-to-video frame 0
    is the one-frame case)."""
    B, _, F, _, _ = x0.shape
    if sum(chunks) != F:
        raise ValueError(f"chunk sizes {chunks} must sum to the {F} latent frames")
    sig_chunk = chunk_sigmas(rnd.normals, rnd.uniforms, args, rnd.shared)  # (B, K)
    sizes = torch.tensor(chunks, device=x0.device)
    sigma = sig_chunk.repeat_interleave(sizes, dim=1)  # (B, K) -> (B, F)
    clean = torch.zeros(B, F, dtype=torch.bool, device=x0.device)
    clean[:, 0] = rnd.i2v
    if context_frames is not None:
        if context_frames.shape != (B,) or bool((context_frames < 0).any() | (context_frames >= F).any()):
            raise ValueError(
                f"context_frames must be (B,) = ({B},) counts in [0, {F}), got {tuple(context_frames.shape)} "
                f"{context_frames.tolist()}"
            )
        clean |= torch.arange(F, device=x0.device)[None, :] < context_frames[:, None]
    sigma = torch.where(clean, torch.zeros_like(sigma), sigma)
    weight = (~clean).float()
    s = sigma[:, None, :, None, None].to(x0.dtype)  # (B, F) -> (B, 1, F, 1, 1)
    noise = rnd.noise.to(x0.dtype)
    noisy = (1 - s) * x0 + s * noise
    per_frame = len(chunks) > 1 or bool(clean.any())
    timestep = sigma * num_train_timesteps if per_frame else sigma[:, 0] * num_train_timesteps
    return NoisedBatch(noisy, timestep, noise - x0, weight)


def object_mask(x0: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, C, F, H, W) clean latents -> (B, F, H, W) bool: positions whose latent vector lies at least
    `threshold` x the frame's largest distance from the frame's median latent (all positions of a uniform
    frame)."""
    x = x0.float()
    median = x.flatten(3).median(dim=3).values[..., None, None]  # (B, C, F, H*W) -> (B, C, F, 1, 1)
    dist = (x - median).norm(dim=1)  # (B, F, H, W)
    return dist >= threshold * dist.amax(dim=(2, 3), keepdim=True)


def position_weights(x0: torch.Tensor, args: ObjectiveArgs) -> torch.Tensor | None:
    """(B, F, H, W) loss weights: `object_weight` on `object_mask` positions, 1 elsewhere; None when unweighted."""
    if args.object_weight == 1.0:
        return None
    mask = object_mask(x0, args.object_threshold)
    return torch.where(mask, args.object_weight, 1.0).to(torch.float32)


def frame_losses(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, C, F, H, W) -> (B, F) mean squared error per frame, in fp32; with `weight` (B, F, H, W) the weighted
    mean over positions."""
    err = (pred.float() - target.float()).square().mean(dim=1)  # (B, F, H, W)
    if weight is None:
        return err.mean(dim=(2, 3))
    return (err * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3))


def masked_loss(per_frame: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, F) losses and weights -> (B,) per-sample mean over the frames that count."""
    return (per_frame * weight).sum(1) / weight.sum(1).clamp_min(1.0)
