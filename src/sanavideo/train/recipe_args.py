"""The arguments of the two recipes, torch-free so that `sanavideo train-vae --help` and `sanavideo
train-embedded --help` (sanavideo.cli.recipes, whose flags mirror these fields) load no torch: `VAETrainArgs` of
the shapes VAE trainer (`sanavideo.train.vae.train_vae`) with the `VAE_PRESETS` it builds from, and
`EmbeddedRecipe` of the embedded model's whole recipe (`sanavideo.train.embedded.run`). Each field is
documented once, in its metadata's "help" (the flag's help text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CONFIG = Path(__file__).with_name("embedded-shapes.yaml")  # package data: works from a wheel too

# Every preset: strides (4, 8, 8), 16 latent channels, no attention.
_EMBEDDED = dict(
    base_dim=32,
    decoder_base_dim=16,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=1,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    dropout=0.0,
)
# Wan2.2-style input patchification (`patch_size=2`: 2x2 pixels -> 12 channels) with one spatial level fewer,
# so the network runs at 32x32 and below for a 64x64 canvas and the total stride stays (4, 8, 8). Same classes
# and checkpoint layout as any `AutoencoderKLWan`; several times cheaper per frame (docs/embedded-model.md).
_PATCH2 = dict(
    base_dim=16,
    decoder_base_dim=16,
    z_dim=16,
    dim_mult=[1, 2, 4],
    num_res_blocks=1,
    attn_scales=[],
    temperal_downsample=[True, True],
    dropout=0.0,
    in_channels=12,
    out_channels=12,
    patch_size=2,
    scale_factor_spatial=8,
    scale_factor_temporal=4,
)

VAE_PRESETS: dict[str, dict] = {
    # The embedded model's VAE: patchified, base 16, 1.89 M parameters. On the 2-core AMD EPYC dev VM:
    # ~150 training frames/s (fp32; ~190 with bf16 autocast) and ~430 decoded frames/s at 64x64.
    "patch2": _PATCH2,
    # The shipped VAE since session 15 (checkpoints/shapes-vae): patch2's encoder and a decoder of base 24, made
    # by widening a trained patch2 decoder (`train-vae --widen-decoder 24`); 3.3 M, ~115 decoded frames/s.
    "patch2-dec24": {**_PATCH2, "decoder_base_dim": 24},
    # Wider patchified VAE (base 24, 4.2 M): ~70 / ~105 training frames/s, ~230 decoded frames/s.
    "patch2-wide": {**_PATCH2, "base_dim": 24, "decoder_base_dim": 24},
    # Unpatchified Wan2.1 layout at full resolution (the first shipped VAE, and its wider-encoder sibling):
    # ~35 / ~50 training frames/s, ~120 decoded frames/s.
    "embedded": _EMBEDDED,
    "embedded-light": {**_EMBEDDED, "base_dim": 16},
    # Test-sized: 0.1 M parameters.
    "test": {**_PATCH2, "base_dim": 8, "decoder_base_dim": 8, "z_dim": 4, "dim_mult": [1, 1, 2]},
}


def _doc(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass
class VAETrainArgs:
    """Train the embedded model's small causal video VAE (Wan architecture) on shapes-world clips."""

    out: str = _doc("folder for the saved VAE (save_pretrained, fp16 safetensors)")
    data: str | None = _doc(
        "folder of NAME.mp4 (+ NAME.json) clips (from sanavideo.data.shapes)", default=None
    )
    render: int = _doc("render this many clips in memory instead of --data", default=0)
    preset: str = _doc("network size: a key of VAE_PRESETS", default="patch2")
    steps: int = _doc("most training steps (the time budget may stop it first)", default=2000)
    batch: int = _doc("clips per step at the first window length", default=8)
    frames: tuple[int, ...] = _doc(
        "training window lengths (4k+1), taken in turn step by step; longer windows get proportionally fewer "
        "clips so every step costs about the same (e.g. 17 33: half the steps see 33-frame windows at half the "
        "batch)",
        default=(17,),
    )
    size: int = _doc("canvas side of the rendered clips; read clips must already have it", default=64)
    render_frames: int = _doc("length of the rendered clips the windows are cut from", default=33)
    lr: float = _doc("peak learning rate (AdamW, warm-up then cosine decay)", default=3e-4)
    min_lr_ratio: float = _doc("the learning rate at the end of the decay, as a fraction of lr", default=0.1)
    warmup: int = _doc("linear warm-up steps", default=100)
    weight_decay: float = _doc("AdamW weight decay", default=0.01)
    l1_weight: float = _doc("weight of the L1 pixel loss", default=1.0)
    l2_weight: float = _doc("weight of the L2 pixel loss", default=1.0)
    kl_weight: float = _doc("weight of the KL term (x mean KL per latent element)", default=1e-5)
    foreground_weight: float = _doc(
        "extra weight of object pixels (those that differ from the clip's background colour): the object covers "
        "~6% of a frame, and without it early training settles on reconstructing the background alone",
        default=10.0,
    )
    edge_weight: float = _doc(
        "extra weight of the object's outline (pixels with object and background in their 3x3 neighbourhood): "
        "small objects are mostly outline, and their corners and points are what the shape check reads",
        default=0.0,
    )
    ring_weight: float = _doc(
        "extra weight of the background pixels touching the object (3x3 neighbourhood); equal to "
        "--foreground-weight, it weighs both sides of the outline alike, where the foreground weight alone makes "
        "the decoder bleed the object's colour one pixel outwards",
        default=0.0,
    )
    contrast_reference: float = _doc(
        "object/background contrast (RGB distance in [-1, 1] units) below which a clip's foreground, edge and "
        "ring weights grow as (reference / contrast)^2, up to 16x: low-contrast objects (on gray: 0.8-1.3) "
        "otherwise cost 3-8x less per blurred outline than high-contrast ones (2-2.5); 0: off",
        default=0.0,
    )
    speed_reference: float = _doc(
        "object speed (pixels per frame) above which a clip's foreground, edge and ring weights grow as "
        "(speed / reference)^2 (times the contrast scale, up to 16x): a quick object crosses its own width "
        "within one latent frame's four frames (normal speed ~1.1 px/frame at 64 px, quickly ~2.2); 0: off",
        default=0.0,
    )
    grad_clip: float = _doc("gradient norm clip", default=1.0)
    device: str = _doc("torch device to train on", default="cpu")
    seed: int = _doc("seed of the rendered clips, the initial weights and the batches", default=0)
    log_every: int = _doc("log the mean training loss every this many steps", default=20)
    time_budget_s: float | None = _doc(
        "stop training after this many seconds (fixed-time runs)", default=None
    )
    eval_clips: int = _doc("held-out clips (held-out combinations, fresh seed) for the PSNR", default=32)
    stats_clips: int = _doc("clips for the latents' per-channel mean/std", default=128)
    init: str | None = _doc("continue training a saved VAE folder", default=None)
    decoder_only: bool = _doc(
        "train the decoder alone, the encoder frozen (with --init): the latent space, and so a transformer "
        "trained on it, stays valid",
        default=False,
    )
    widen_decoder: int | None = _doc(
        "with --init: first widen its decoder to this base width (decoder_base_dim), decoding exactly as before "
        "(sanavideo.train.vae_widen), then train; with --decoder-only the latent space stays the one --init's "
        "transformer reads",
        default=None,
    )
    latents_like: str | None = _doc(
        "a VAE folder whose normalised latents this VAE's should match: instead of "
        "this VAE's own mean and std, latents_mean / latents_std are fitted by least squares on the stats clips "
        "so that (mu - mean) / std lands where that VAE's latents do. With --init from that VAE, a transformer "
        "trained on its latents then needs only a short fine-tune on this one's",
        default=None,
    )
    bf16: bool | None = _doc("bf16 autocast (default: on CUDA and on CPUs with native bf16)", default=None)
    checkpoint_every_s: float = _doc(
        "seconds between held-out evaluations; the best weights so far go to OUT/best", default=300.0
    )
    crop: int = _doc(
        "every other step: object-centred crops of this side (multiple of 16; 4x the clips at size / 2; 0: off)",
        default=0,
    )


@dataclass
class EmbeddedRecipe:
    """The recipe of the embedded default model (`sanavideo/assets/shapes-tiny`), end to end, device-agnostic:

    1. train the small causal Wan VAE on rendered shapes clips (`sanavideo.train.vae`);
    2. render the transformer's training clips, encode them with that VAE and tokenize their captions into a
       latent cache (the layout `sanavideo precompute` writes; no video files, so no video codec is needed);
    3. train the SANA-Video transformer block-causally with image-to-video joint training, together with a tiny
       Gemma-2 text encoder (`sanavideo.train`, config `sanavideo/train/embedded-shapes.yaml`);
    4. assemble a diffusers-layout pipeline folder: model_index.json, transformer/ (diffusers keys, fp16),
       vae/, text_encoder/, tokenizer/, scheduler/, plus sanavideo.json with the model's prompt and streaming
       options.
    """

    out: str = _doc(
        "run folder: vae/, the latent cache, the transformer run and shapes-tiny/", default="runs/embedded"
    )
    device: str = _doc("auto (CUDA when there is one, else CPU), cpu, cuda or cuda:N", default="auto")
    seed: int = _doc("seed of the text encoder, the rendered clips and training", default=0)
    size: int = _doc("canvas side, pixels", default=64)
    frames: int = _doc("frames per transformer training clip (33: 9 latent frames)", default=33)
    clips: int = _doc("transformer training clips", default=6000)
    continuation_clips: int = _doc(
        "more training clips that start mid-way through their motion (at a wall, after a reflection) with their "
        "first chunk given as clean history: what a streamed chunk sees after the first second",
        default=2000,
    )
    switch_clips: int = _doc(
        "more continuation clips whose object changes its motion right after the history, captioned with the new "
        "motion: what a streamed chunk sees after a prompt switch",
        default=2000,
    )
    context_frames: int | None = _doc(
        "latent frames of history a continuation or switch clip gives (default: the training config's "
        "objective.chunk_frames, one streamed chunk)",
        default=None,
    )
    vae_clips: int = _doc("clips rendered for the VAE", default=4000)
    vae_steps: int = _doc(
        "most VAE training steps (the time budget usually stops it first)", default=1_000_000
    )
    vae_seconds: float = _doc(
        "VAE training time, seconds (45 minutes: the VAE recipe measured on 2 CPU cores, docs/embedded-model.md)",
        default=2700.0,
    )
    vae_batch: int = _doc(
        "VAE clips of 17 frames per step (alternating with half as many of 33 frames)", default=8
    )
    vae_init: str | None = _doc(
        "warm-start VAE training from this VAE folder (e.g. checkpoints/shapes-vae); its latent statistics are "
        "fitted to that folder's (as train-vae --latents-like), so --init-from's transformer still reads them",
        default=None,
    )
    max_text_length: int = _doc("tokens per caption", default=32)
    dit_seconds: float = _doc("transformer training time, seconds", default=3600.0)
    dit_steps: int = _doc(
        "most transformer training steps (the time budget usually stops it first)", default=100_000
    )
    config: str = _doc("the transformer's training config (YAML of TrainArgs)", default=str(CONFIG))
    overrides: list[str] = _doc("training config overrides key=value", default_factory=list)
    vae_from: str | None = _doc(
        "a trained VAE folder: use it instead of training one (skips step 1)", default=None
    )
    init_from: str | None = _doc(
        "a pipeline folder whose transformer/, text_encoder/ and tokenizer/ start training", default=None
    )

    @property
    def root(self) -> Path:
        return Path(self.out)
