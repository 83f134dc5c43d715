"""Streaming VAE decode speed on CPU: diffusers' `AutoencoderKLWan.decode` (one decoder call per latent frame)
against `sanavideo.adapters.wan_causal.WanCausalDecoder` (one call per streamed chunk of latent frames), with
PyTorch's own choice of conv kernel, with the batch-1 3x3x3 convs routed to oneDNN (`sanavideo.adapters.cpu_conv`),
and with the RMS norms as one plain reduction as well (`sanavideo.adapters.wan_norm`; both as the pipeline's VAE
adapter runs them), for each VAE folder given (default: the embedded model's VAE).

Each decode covers one `--frames`-long clip at `--size` pixels from the same random latents; the chunked decode
is checked against diffusers' output (max abs difference). Times are the best of `--repeats`.

    python benchmarks/vae_decode.py [FOLDER ...] [--frames 81] [--size 64] [--chunk 3] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

from report import machine, publish


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(folder: Path, frames: int, size: int, chunk: int, repeats: int) -> dict:
    import torch
    from diffusers import AutoencoderKLWan

    from sanavideo.adapters.cpu_conv import use_onednn_conv3d
    from sanavideo.adapters.vae import WanVAE
    from sanavideo.adapters.wan_causal import WanCausalDecoder

    vae = AutoencoderKLWan.from_pretrained(folder, torch_dtype=torch.float32).eval()
    routed = AutoencoderKLWan.from_pretrained(folder, torch_dtype=torch.float32).eval()
    use_onednn_conv3d(routed)
    # the module as the pipeline's VAE adapter runs it (oneDNN convs and the plain-reduction RMS norms)
    tuned = WanVAE(AutoencoderKLWan.from_pretrained(folder, torch_dtype=torch.float32)).module
    latent_frames = (frames - 1) // vae.config.scale_factor_temporal + 1
    side = size // vae.config.scale_factor_spatial
    z = torch.randn(
        1, vae.config.z_dim, latent_frames, side, side, generator=torch.Generator().manual_seed(0)
    )

    def chunked(module=vae):
        decoder = WanCausalDecoder(module)
        return torch.cat([decoder(z[:, :, i : i + chunk]) for i in range(0, latent_frames, chunk)], dim=2)

    with torch.inference_mode():
        reference = vae.decode(z).sample
        diff = float((chunked().clamp(-1, 1) - reference).abs().max())
        diff_routed = float((chunked(routed).clamp(-1, 1) - reference).abs().max())
        diff_tuned = float((chunked(tuned).clamp(-1, 1) - reference).abs().max())
        t_diffusers = best_time(lambda: vae.decode(z), repeats)
        t_chunked = best_time(chunked, repeats)
        t_routed = best_time(lambda: chunked(routed), repeats)
        t_tuned = best_time(lambda: chunked(tuned), repeats)
    return {
        "vae": str(folder),
        "params_m": sum(p.numel() for p in vae.parameters()) / 1e6,
        "patch_size": vae.config.patch_size,
        "diffusers_fps": frames / t_diffusers,
        "chunked_fps": frames / t_chunked,
        "max_abs_diff": diff,
        "routed_fps": frames / t_routed,
        "routed_max_abs_diff": diff_routed,
        "tuned_fps": frames / t_tuned,
        "tuned_max_abs_diff": diff_tuned,
    }


def main() -> None:

    from sanavideo.pipeline import DEFAULT_MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vae", nargs="*", help="VAE folders to measure (default: the embedded model's vae/)")
    p.add_argument("--frames", type=int, default=81)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--chunk", type=int, default=3, help="latent frames per streamed chunk")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--write", default=None, help="append a results table to this markdown file")
    a = p.parse_args()
    folders = [Path(f) for f in a.vae] or [DEFAULT_MODEL_DIR / "vae"]
    rows = [measure(f, a.frames, a.size, a.chunk, a.repeats) for f in folders]
    header = (
        f"### Streaming VAE decode, CPU ({datetime.date.today().isoformat()})\n\n"
        f"Machine: {machine()}. "
        f"One {a.frames}-frame clip at {a.size}x{a.size} from random latents, float32, inference mode, best of "
        f"{a.repeats} after a warm-up. `diffusers` = `AutoencoderKLWan.decode` (one decoder call per latent frame); "
        f"`chunked` = `WanCausalDecoder` fed chunks of {a.chunk} latent frames as `generate --stream` decodes them "
        "(`sanavideo.adapters.wan_causal`), PyTorch choosing the conv kernels; `+ oneDNN` = the same with the "
        "batch-1 3x3x3 convs routed to oneDNN (`sanavideo.adapters.cpu_conv`); `+ norms` = that and the RMS norms "
        "as one plain reduction (`sanavideo.adapters.wan_norm`; what the pipeline runs). Speed-ups are over "
        "diffusers; max abs diff against diffusers' output. Script: `benchmarks/vae_decode.py`.\n\n"
        "| VAE | parameters (M) | patch | diffusers (frames/s) | chunked (frames/s) | chunked + oneDNN (frames/s) "
        "| chunked + oneDNN + norms (frames/s) | speed-up | speed-up + oneDNN | speed-up + oneDNN + norms "
        "| max abs diff | max abs diff + oneDNN + norms |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['vae']} | {r['params_m']:.2f} | {r['patch_size'] or 1} | {r['diffusers_fps']:.0f} | "
        f"{r['chunked_fps']:.0f} | {r['routed_fps']:.0f} | {r['tuned_fps']:.0f} | "
        f"{r['chunked_fps'] / r['diffusers_fps']:.2f}x | {r['routed_fps'] / r['diffusers_fps']:.2f}x | "
        f"{r['tuned_fps'] / r['diffusers_fps']:.2f}x | {r['max_abs_diff']:.1e} | {r['tuned_max_abs_diff']:.1e} |\n"
        for r in rows
    ]
    publish(header + "".join(lines), a.write)


if __name__ == "__main__":
    main()
