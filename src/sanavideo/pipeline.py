"""SanaVideoPipeline: text-to-video and image-to-video with SANA-Video, used by the CLI, demo and Python API.

    pipe = SanaVideoPipeline.from_pretrained("path/to/SANA-Video_2B_480p_diffusers").to("cuda", torch.bfloat16)
    video = pipe("a red circle moves to the right", frames=81, generator=torch.Generator().manual_seed(0)).frames[0]

Stages: check inputs -> encode prompts (docs/reference.md §3.1) -> seeded CPU noise -> (I2V: encode the image into latent
frame 0) -> denoise with CFG (`sanavideo.sampling`) -> VAE decode -> frames. The transformer only predicts
velocity; the sampler decides everything else.

Model folders (`from_pretrained(path)`):

1. **diffusers layout**: a folder with `model_index.json` and `transformer/`, `vae/`, `text_encoder/`,
   `tokenizer/`, `scheduler/` (as written by `diffusers.SanaVideoPipeline.save_pretrained`). The sampler
   follows `scheduler/scheduler_config.json` (DPMSolverMultistepScheduler with flow sigmas -> `dpm`,
   FlowMatchEulerDiscreteScheduler -> `euler`, with their flow shift), prompts follow diffusers (video CHI,
   lower-cased prompts, empty negative prompt). An optional `sanavideo.json` beside `model_index.json`
   overrides the `sampler` and `options` (e.g. `"options": {"chi": "none"}` for a model trained without CHI).
2. **upstream layout**: a `sanavideo.json` / `sanavideo.yaml` (or that file's path) naming the parts, paths
   relative to the file:

       {
         "transformer": "SANA_Video_2B_480p.pth",          # upstream checkpoint (or any transformer path)
         "model_config": "2B-480p",                        # optional: a preset name or ModelConfig fields;
                                                           #   default: inferred from the checkpoint
         "vae": "Wan2.1-T2V-1.3B-Diffusers/vae",           # a diffusers VAE folder
         "vae_type": "wan",                                # optional: "wan" | "ltx2" (default: from config.json)
         "text_encoder": "gemma-2-2b-it",                  # a transformers model folder (Gemma2Model / *ForCausalLM)
         "tokenizer": null,                                # optional, default: the text_encoder folder
         "sampler": {"name": "dpm", "flow_shift": 8.0},    # optional
         "options": {"chi": "image", "motion_score": 10}   # optional, see PipelineOptions
       }

   Without `options`, upstream prompt conventions apply: image CHI, no lower-casing, the upstream negative
   prompt, motion score 10.
3. No path: the embedded default model at `sanavideo/assets/shapes-tiny/` (diffusers layout).

Any component may instead be passed in (`transformer=`, `vae=`, `text_encoder=`, `tokenizer=`); then a bare
transformer checkpoint path (`.pth`, `.safetensors`, a transformer folder) is enough.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sanavideo.adapters.text import (
    DEFAULT_NEGATIVE_PROMPT,
    PromptFormat,
    TextEncoder,
    add_motion_score,
    load_text_encoder,
    resolve_chi,
)
from sanavideo.adapters.vae import VideoVAE, load_vae, wrap_vae
from sanavideo.config import ModelConfig, check_field_types, get_preset
from sanavideo.fsutil import read_json, read_yaml
from sanavideo.pixels import to_uint8, to_unit
from sanavideo.sampling import SamplerConfig, TextCondition, denoise, draw_noise
from sanavideo.sampling.streaming import (
    StreamSettings,
    prompt_schedule_from_frames,
    shifted_timesteps,
    stream_latents,
)
from sanavideo.video_io import load_image, to_uint8_frames

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "shapes-tiny"
SPEC_FILES = ("sanavideo.json", "sanavideo.yaml", "sanavideo.yml")
OUTPUT_TYPES = ("pil", "np", "pt", "latent")
DIFFUSERS_COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")

# diffusers' resolution bins (height, width) by aspect ratio h/w, for the 480p (sample_size 30) and
# 720p (sample_size 22) models. Other models generate at the requested size.
ASPECT_RATIO_480_BIN: dict[float, tuple[int, int]] = {
    0.5: (448, 896),
    0.57: (480, 832),
    0.68: (528, 768),
    0.78: (560, 720),
    1.0: (624, 624),
    1.13: (672, 592),
    1.29: (720, 560),
    1.46: (768, 528),
    1.67: (816, 496),
    1.75: (832, 480),
    2.0: (896, 448),
}
ASPECT_RATIO_720_BIN: dict[float, tuple[int, int]] = {
    0.5: (672, 1344),
    0.57: (704, 1280),
    0.68: (800, 1152),
    0.78: (832, 1088),
    1.0: (960, 960),
    1.13: (1024, 896),
    1.29: (1088, 832),
    1.46: (1152, 800),
    1.67: (1248, 736),
    1.75: (1280, 704),
    2.0: (1344, 672),
}
RESOLUTION_BINS = {30: ASPECT_RATIO_480_BIN, 22: ASPECT_RATIO_720_BIN}


@dataclass(frozen=True)
class PipelineOptions:
    """Per-model prompt conventions and generation defaults (the `options` of `sanavideo.json`)."""

    chi: str | tuple[str, ...] | None = "video"  # "video", "image", "none"/None, or explicit lines
    lowercase_prompts: bool = True
    max_sequence_length: int = 300
    negative_prompt: str = ""
    motion_score: int | None = None  # appended as " motion score: N." when not None
    height: int = 480
    width: int = 832
    frames: int = 81
    num_inference_steps: int = 50
    guidance_scale: float = 6.0
    fps: float = 16.0
    # streaming (`stream`, `generate --stream`): upstream LongSANA defaults
    stream_chunk_frames: int = 10  # latent frames per chunk
    stream_steps: int | None = None  # None: upstream's [1000, 960, 889, 727]; else the flow-shift grid
    stream_window: int | None = None  # attend to the last N chunks only
    stream_fresh_noise: bool = True  # re-noise with fresh noise (upstream) or the model's noise estimate

    def __post_init__(self) -> None:
        check_field_types(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: PipelineOptions | None = None) -> PipelineOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown pipeline options {unknown}; expected a subset of {sorted(known)}")
        return dataclasses.replace(base or cls(), **data)

    @property
    def prompt_format(self) -> PromptFormat:
        return PromptFormat(
            chi=resolve_chi(self.chi), max_length=self.max_sequence_length, lowercase=self.lowercase_prompts
        )


# prompt conventions of the upstream scripts (inference_sana_video.py), used for the upstream layout
UPSTREAM_OPTIONS = PipelineOptions(
    chi="image", lowercase_prompts=False, negative_prompt=DEFAULT_NEGATIVE_PROMPT, motion_score=10
)


@dataclass
class SanaVideoPipelineOutput:
    """`frames`: per `output_type`: "pil" list (B) of lists (T) of images; "np" (B, T, H, W, 3) float in
    [0, 1]; "pt" (B, T, 3, H, W) in [0, 1]; "latent" normalised latents (B, C, F, H, W)."""

    frames: Any


@dataclass(frozen=True)
class GenerationSize:
    """Checked sizes of one request: pixels requested, pixels generated (after binning), latent shape."""

    height: int
    width: int
    frames: int
    gen_height: int
    gen_width: int
    latent_shape: tuple[int, int, int, int]  # (C, F', H', W')


# -- loading helpers ---------------------------------------------------------------------------------------
def sampler_from_diffusers_config(config: dict[str, Any]) -> SamplerConfig:
    """Map a diffusers `scheduler_config.json` onto our samplers, refusing settings they do not reproduce."""
    name = config.get("_class_name")
    if name == "DPMSolverMultistepScheduler":
        required = {
            "use_flow_sigmas": True,
            "prediction_type": "flow_prediction",
            "algorithm_type": "dpmsolver++",
            "solver_order": 2,
            "solver_type": "midpoint",
            "final_sigmas_type": "zero",
        }
        off = {
            "use_karras_sigmas",
            "use_exponential_sigmas",
            "use_beta_sigmas",
            "use_dynamic_shifting",
            "thresholding",
        }
        bad = [f"{k}={config.get(k)!r} (need {v!r})" for k, v in required.items() if config.get(k, v) != v]
        bad += [f"{k}=True (unsupported)" for k in sorted(off) if config.get(k)]
        if bad:
            raise ValueError(
                f"DPMSolverMultistepScheduler settings not reproduced by the flow DPM sampler: {bad}"
            )
        return SamplerConfig("dpm", float(config.get("flow_shift", 1.0)))
    if name == "FlowMatchEulerDiscreteScheduler":
        off = {
            "use_dynamic_shifting",
            "use_karras_sigmas",
            "use_exponential_sigmas",
            "use_beta_sigmas",
            "invert_sigmas",
            "shift_terminal",
            "stochastic_sampling",
        }
        bad = [f"{k}={config.get(k)!r} (unsupported)" for k in sorted(off) if config.get(k)]
        if config.get("num_train_timesteps", 1000) != 1000:
            bad.append(f"num_train_timesteps={config['num_train_timesteps']} (need 1000)")
        if bad:
            raise ValueError(
                f"FlowMatchEulerDiscreteScheduler settings not reproduced by the flow Euler sampler: {bad}"
            )
        return SamplerConfig("euler", float(config.get("shift", 1.0)))
    raise ValueError(
        f"unsupported scheduler {name!r}; expected DPMSolverMultistepScheduler (flow sigmas) or "
        "FlowMatchEulerDiscreteScheduler"
    )


def _whole(name: str, value) -> int:
    """An integer size argument; 5.7 or "5" is an error, not silently 5."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        and not (isinstance(value, float) and value.is_integer())
    ):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _read_spec(file: Path) -> dict[str, Any]:
    data = read_yaml(file) if file.suffix in (".yaml", ".yml") else read_json(file)
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a mapping (JSON object / YAML dict), got {type(data).__name__}")
    known = {
        "transformer",
        "model_config",
        "vae",
        "vae_type",
        "text_encoder",
        "tokenizer",
        "sampler",
        "options",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{file}: unknown keys {unknown}; expected a subset of {sorted(known)}")
    return data


def _model_config_from_spec(data: dict[str, Any]) -> ModelConfig:
    """ModelConfig fields from a spec; numbers that YAML 1.1 read as strings (`1e-08`) are converted back."""
    defaults = ModelConfig()
    fixed = {}
    for key, value in data.items():
        default = getattr(defaults, key, None)
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                value = type(default)(float(value)) if isinstance(default, int) else float(value)
            except ValueError as err:
                raise ValueError(f"model_config.{key} must be a number, got {value!r}") from err
        fixed[key] = value
    return ModelConfig.from_dict(fixed)


def _find_spec(folder: Path) -> Path | None:
    for name in SPEC_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _component_dir(root: Path, name: str) -> Path:
    folder = root / name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"model folder {root} has no {name}/ component (a diffusers SANA-Video folder has "
            f"{', '.join(c + '/' for c in DIFFUSERS_COMPONENTS)}); pass {name}= explicitly to use your own"
        )
    return folder


def _resolve_model_path(path: str | os.PathLike | None) -> Path:
    if path is None:
        if not (DEFAULT_MODEL_DIR / "model_index.json").is_file():
            raise FileNotFoundError(
                f"no model path given and the embedded default model is not installed (looked for "
                f"{DEFAULT_MODEL_DIR / 'model_index.json'}); pass a model folder or sanavideo.json"
            )
        return DEFAULT_MODEL_DIR
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model path does not exist: {path}")
    return path


class SanaVideoPipeline:
    """Text-to-video and image-to-video generation with a SANA-Video transformer.

    Components: `transformer` (`sanavideo.model.SanaVideoTransformer` or anything with the same call
    contract and a `config` with `in_channels` and `patch_size`), `vae` (a `VideoVAE` adapter or a diffusers
    autoencoder module), `text_encoder` (`TextEncoder`, optional if prompt embeddings are always passed),
    `sampler` (`SamplerConfig`), `options` (`PipelineOptions`).
    """

    def __init__(
        self,
        transformer: torch.nn.Module,
        vae: VideoVAE | torch.nn.Module,
        text_encoder: TextEncoder | None = None,
        sampler: SamplerConfig | None = None,
        options: PipelineOptions | None = None,
    ) -> None:
        self.transformer = transformer.eval()
        self.vae = wrap_vae(vae)
        self.text_encoder = text_encoder
        self.sampler = sampler or SamplerConfig()
        self.options = options or PipelineOptions()
        latent_channels = self.transformer.config.in_channels
        if self.vae.latent_channels != latent_channels:
            raise ValueError(
                f"the VAE has {self.vae.latent_channels} latent channels but the transformer expects {latent_channels}"
            )

    # -- loading -------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        *,
        transformer: torch.nn.Module | None = None,
        vae: VideoVAE | torch.nn.Module | None = None,
        text_encoder: TextEncoder | torch.nn.Module | None = None,
        tokenizer: Any = None,
        sampler: SamplerConfig | None = None,
        options: PipelineOptions | None = None,
        dtype: torch.dtype | None = None,
    ) -> SanaVideoPipeline:
        """Load a diffusers-layout folder, an upstream-layout `sanavideo.json`/`.yaml` (file or its folder), a
        bare transformer checkpoint (with the other parts passed in), or the embedded model (`path=None`).

        `dtype` applies to the transformer and the text encoder (default float32, as diffusers loads, whatever
        the stored precision); the VAE stays float32.
        """
        from sanavideo.model import SanaVideoTransformer

        dtype = torch.float32 if dtype is None else dtype

        root = _resolve_model_path(path)
        spec: dict[str, Any] = {}
        spec_dir = root if root.is_dir() else root.parent
        spec_file = None
        if root.is_file() and root.suffix in (".json", ".yaml", ".yml"):
            spec_file, layout = root, "upstream"
        elif root.is_dir() and (root / "model_index.json").is_file():
            spec_file, layout = _find_spec(root), "diffusers"
        elif root.is_dir() and _find_spec(root):
            spec_file, layout = _find_spec(root), "upstream"
        elif vae is not None:
            layout = "checkpoint"  # a bare transformer path; the VAE (and text encoder) were passed in
        else:
            raise ValueError(
                f"{root} is not a SANA-Video model: expected a diffusers folder with model_index.json, a folder "
                f"with one of {SPEC_FILES}, or such a spec file (or a transformer checkpoint together with "
                "vae= and text_encoder=)"
            )

        if spec_file is not None:
            spec = _read_spec(spec_file)
        base_options = UPSTREAM_OPTIONS if layout == "upstream" else PipelineOptions()
        try:  # a hand-edited spec: name the file
            if options is None:
                options = PipelineOptions.from_dict(spec.get("options", {}), base=base_options)
            if sampler is None and "sampler" in spec:
                sampler = SamplerConfig(**spec["sampler"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{spec_file}: {err}") from None

        def spec_path(key: str) -> Path:
            if not spec.get(key):
                raise ValueError(
                    f"the model spec in {spec_dir} names no {key!r}; add it or pass {key}= explicitly"
                )
            return (spec_dir / spec[key]).expanduser()

        # transformer
        if transformer is None:
            if layout == "diffusers":
                transformer = SanaVideoTransformer.from_pretrained(
                    _component_dir(root, "transformer"), dtype=dtype
                )
            elif layout == "upstream":
                model_config = spec.get("model_config")
                if isinstance(model_config, str):
                    model_config = get_preset(model_config)
                elif isinstance(model_config, dict):
                    model_config = _model_config_from_spec(model_config)
                transformer = SanaVideoTransformer.from_pretrained(
                    spec_path("transformer"), config=model_config, dtype=dtype
                )
            else:
                transformer = SanaVideoTransformer.from_pretrained(root, dtype=dtype)
        elif dtype is not None:
            transformer = transformer.to(dtype=dtype)

        # VAE (float32)
        if vae is None:
            if layout == "diffusers":
                vae = load_vae(_component_dir(root, "vae"))
            else:
                vae = load_vae(spec_path("vae"), spec.get("vae_type"))

        # text encoder + tokenizer
        prompt_format = options.prompt_format
        if isinstance(text_encoder, TextEncoder):
            text_encoder.format = prompt_format
        elif text_encoder is not None:
            if tokenizer is None:
                raise ValueError(
                    "a text_encoder module was passed without its tokenizer; pass tokenizer= too"
                )
            text_encoder = TextEncoder(tokenizer, text_encoder, prompt_format)
        elif layout == "diffusers":
            index = read_json(root / "model_index.json")
            if index.get("text_encoder", [None])[0] is None:
                text_encoder = None  # prompt embeddings must then be passed to __call__
            else:
                tokenizer_dir = _component_dir(root, "tokenizer")
                text_encoder = load_text_encoder(
                    _component_dir(root, "text_encoder"), tokenizer_dir, prompt_format
                )
        elif layout == "upstream":
            tok = spec_path("tokenizer") if spec.get("tokenizer") else None
            text_encoder = load_text_encoder(spec_path("text_encoder"), tok, prompt_format)
        if text_encoder is not None and dtype is not None:
            text_encoder.to(dtype=dtype)

        # sampler
        if sampler is None:
            if layout == "diffusers":
                scheduler_file = _component_dir(root, "scheduler") / "scheduler_config.json"
                if not scheduler_file.is_file():
                    raise FileNotFoundError(f"{scheduler_file} is missing; pass sampler= explicitly")
                sampler = sampler_from_diffusers_config(read_json(scheduler_file))
            else:
                sampler = SamplerConfig()
        return cls(transformer, vae, text_encoder, sampler, options)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SanaVideoPipeline:
        """Move the transformer and text encoder to `device`/`dtype`; the VAE moves to `device` in float32."""
        self.transformer.to(device=device, dtype=dtype)
        if self.text_encoder is not None:
            self.text_encoder.to(device=device, dtype=dtype)
        if device is not None:
            self.vae.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    # -- checks --------------------------------------------------------------------------------------------
    def check_size(
        self,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        use_resolution_binning: bool = True,
    ) -> GenerationSize:
        """Validate a request's size and return the shapes it will use; errors name actual and expected values."""
        opts = self.options
        height = opts.height if height is None else _whole("height", height)
        width = opts.width if width is None else _whole("width", width)
        frames = opts.frames if frames is None else _whole("frames", frames)
        t_stride, s_stride = self.vae.temporal_stride, self.vae.spatial_stride
        if frames < 1 or (frames - 1) % t_stride:
            lower = max(1, (frames - 1) // t_stride * t_stride + 1)
            raise ValueError(
                f"frames must be {t_stride}k+1 for this VAE (temporal stride {t_stride}), got {frames}; "
                f"nearest valid: {lower} or {lower + t_stride}"
            )
        gen_height, gen_width = height, width
        bins = RESOLUTION_BINS.get(getattr(self.transformer.config, "sample_size", None))
        if use_resolution_binning and bins is not None:
            ratio = min(bins, key=lambda r: abs(r - height / width))
            gen_height, gen_width = bins[ratio]
        patch_t, patch_h, patch_w = self.transformer.config.patch_size
        multiple_h, multiple_w = s_stride * patch_h, s_stride * patch_w
        if gen_height % multiple_h or gen_width % multiple_w or gen_height <= 0 or gen_width <= 0:
            raise ValueError(
                f"height and width must be positive multiples of the VAE stride x patch = {multiple_h} x "
                f"{multiple_w}, got {gen_height}x{gen_width}"
            )
        latent_frames = (frames - 1) // t_stride + 1
        if latent_frames % patch_t:
            raise ValueError(
                f"{latent_frames} latent frames are not a multiple of the temporal patch {patch_t}"
            )
        latent_shape = (
            self.vae.latent_channels,
            latent_frames,
            gen_height // s_stride,
            gen_width // s_stride,
        )
        return GenerationSize(height, width, frames, gen_height, gen_width, latent_shape)

    def memory_estimate(self, size: GenerationSize, batch: int = 1, cfg: bool = True) -> int:
        """Rough peak bytes of one `__call__`: transformer activations (about 16 float32 values per token and
        hidden unit, doubled under CFG) plus the decoded video in float32, three copies (decode, [0, 1], output).
        Both grow linearly with the frames; `stream` instead stays constant."""
        _, f, h, w = size.latent_shape
        pt, ph, pw = self.transformer.config.patch_size
        tokens = (f // pt) * (h // ph) * (w // pw)
        activations = batch * (2 if cfg else 1) * tokens * int(self.transformer.config.hidden_size) * 4 * 16
        video = batch * size.frames * size.gen_height * size.gen_width * 3 * 4 * 3
        return activations + video

    def check_memory(self, size: GenerationSize, batch: int = 1, cfg: bool = True) -> None:
        """Refuse, before any work, a request whose estimate exceeds the memory available on its device."""
        need = self.memory_estimate(size, batch, cfg)
        device = self.device
        if device.type == "cuda":
            available = torch.cuda.mem_get_info(device)[0]
        elif device.type == "cpu" and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        else:
            return
        if need > available:
            raise ValueError(
                f"{size.frames} frames at {size.gen_height}x{size.gen_width} need about {need / 2**30:.1f} GiB, "
                f"but {available / 2**30:.1f} GiB are available on {device}; use fewer frames, or stream long "
                "videos (`stream()`, `generate --stream`) at constant memory"
            )

    # -- prompts -------------------------------------------------------------------------------------------
    def encode_prompt(
        self,
        prompts: list[str] | None = None,
        negative_prompts: list[str] | None = None,
        motion_score: int | None = None,
    ) -> tuple[TextCondition | None, TextCondition | None]:
        """Text conditions for positive prompts (CHI, motion score) and negative prompts (neither); None for
        a list not given."""
        if self.text_encoder is None:
            raise ValueError(
                "this pipeline has no text encoder; pass prompt_embeds (and negative_prompt_embeds)"
            )
        cond = uncond = None
        if prompts is not None:
            prompts = [add_motion_score(p, motion_score) for p in prompts]
            cond = TextCondition(*self.text_encoder.encode(prompts, use_chi=True))
        if negative_prompts is not None:
            uncond = TextCondition(*self.text_encoder.encode(negative_prompts, use_chi=False))
        return cond, uncond

    def _prepare_image(self, image: Any, height: int, width: int) -> torch.Tensor:
        """Image (path, PIL, uint8 array (H, W, 3), or tensor (3, H, W) in [-1, 1]) -> (1, 3, 1, H, W) in [-1, 1]."""
        if isinstance(image, torch.Tensor):
            if image.ndim != 3 or image.shape[0] != 3:
                raise ValueError(f"an image tensor must be (3, H, W) in [-1, 1], got {tuple(image.shape)}")
            pixels = image.float()[None]
            if pixels.shape[-2:] != (height, width):  # (1, 3, h, w) -> (1, 3, H, W)
                pixels = torch.nn.functional.interpolate(pixels, size=(height, width), mode="bilinear")
            return pixels[:, :, None]  # (1, 3, H, W) -> (1, 3, 1, H, W)
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        pil = load_image(image)
        if pil.size != (width, height):
            pil = pil.resize((width, height), resample=Image.LANCZOS)  # diffusers' VaeImageProcessor default
        pixels = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0)  # (H, W, 3) in [0, 1]
        pixels = pixels.permute(2, 0, 1)[None] * 2.0 - 1.0  # (H, W, 3) -> (1, 3, H, W) in [-1, 1]
        return pixels[:, :, None]  # (1, 3, H, W) -> (1, 3, 1, H, W)

    # -- generation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        *,
        image: Any = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        use_resolution_binning: bool = True,
        motion_score: int | None = None,
        sampler: str | SamplerConfig | None = None,
        latents: torch.Tensor | None = None,
        progress: bool = True,
    ) -> SanaVideoPipelineOutput:
        """Generate videos. Keyword arguments follow `diffusers.SanaVideoPipeline`; `None` means the model's
        default (`self.options`). `motion_score` appends `" motion score: N."` to the prompts; `image` turns on
        image-to-video (the image becomes frame 0); `sampler` ("dpm", "euler" or a `SamplerConfig`) overrides
        the model's sampler; `latents` replaces the initial noise.
        """
        opts = self.options
        steps = opts.num_inference_steps if num_inference_steps is None else int(num_inference_steps)
        guidance_scale = opts.guidance_scale if guidance_scale is None else float(guidance_scale)
        motion_score = opts.motion_score if motion_score is None else motion_score
        if isinstance(sampler, str):
            sampler = SamplerConfig(sampler, self.sampler.flow_shift)
        sampler = sampler or self.sampler

        # 1. check inputs before any work
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if guidance_scale < 1.0:
            raise ValueError(f"guidance_scale must be >= 1 (1 disables guidance), got {guidance_scale}")
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        if (prompt is None) == (prompt_embeds is None):
            raise ValueError("pass exactly one of prompt and prompt_embeds")
        size = self.check_size(height, width, frames, use_resolution_binning)
        self.check_memory(
            size, len([prompt] if isinstance(prompt, str) or prompt is None else prompt), guidance_scale > 1.0
        )
        pixels = self._prepare_image(image, size.gen_height, size.gen_width) if image is not None else None
        do_cfg = guidance_scale > 1.0

        # 2. text conditions: cond (B, L, D); uncond for CFG (negative prompt, never with CHI)
        if prompt is not None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            batch = len(prompts)
            cond, _ = self.encode_prompt(prompts, motion_score=motion_score)
        else:
            batch = prompt_embeds.shape[0]
            mask = (
                prompt_attention_mask
                if prompt_attention_mask is not None
                else torch.ones(prompt_embeds.shape[:2])
            )
            cond = TextCondition(prompt_embeds, mask)
        uncond = None
        if do_cfg and negative_prompt_embeds is not None:
            neg_mask = negative_prompt_attention_mask
            neg_mask = neg_mask if neg_mask is not None else torch.ones(negative_prompt_embeds.shape[:2])
            uncond = TextCondition(negative_prompt_embeds, neg_mask)
        elif do_cfg:
            negative_prompt = opts.negative_prompt if negative_prompt is None else negative_prompt
            negatives = (
                [negative_prompt] * batch if isinstance(negative_prompt, str) else list(negative_prompt)
            )
            _, uncond = self.encode_prompt(negative_prompts=negatives)
        if uncond is not None and uncond.embeds.shape[0] != batch:
            if uncond.embeds.shape[0] != 1:
                raise ValueError(f"got {uncond.embeds.shape[0]} negative prompts for a batch of {batch}")
            uncond = TextCondition(uncond.embeds.expand(batch, -1, -1), uncond.mask.expand(batch, -1))
        device = self.device
        cond = TextCondition(cond.embeds.to(device), cond.mask.to(device))
        if uncond is not None:
            uncond = TextCondition(uncond.embeds.to(device), uncond.mask.to(device))

        # 3. noise (drawn like diffusers' randn_tensor; CPU generators give device-independent latents)
        shape = (batch, *size.latent_shape)  # (B, C, F', H', W')
        if latents is not None:
            if tuple(latents.shape) != shape:
                raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
            if not torch.isfinite(latents).all():
                raise ValueError(
                    f"latents must be finite; got {int((~torch.isfinite(latents)).sum())} NaN/inf values"
                )
            noise = latents.to(device=device, dtype=torch.float32)
        else:
            noise = draw_noise(shape, generator, device)

        # 4. image-to-video: the clean image latent becomes frame 0
        first_frame = None
        if pixels is not None:
            # (1, C, 1, H', W') -> (B, C, 1, H', W')
            first_frame = self.vae.encode(pixels).float().to(device).expand(batch, -1, -1, -1, -1)

        # 5. denoise
        out = denoise(
            self.transformer,
            noise,
            sampler,
            steps,
            cond,
            uncond,
            guidance_scale,
            first_frame=first_frame,
            progress=progress,
        )
        if output_type == "latent":
            return SanaVideoPipelineOutput(frames=out)

        # 6. decode and post-process
        video = self.vae.decode(out).float()  # (B, 3, T, H, W) in [-1, 1]
        if (size.gen_height, size.gen_width) != (size.height, size.width):
            video = resize_and_crop(video, size.height, size.width)
        video = to_unit(video).permute(0, 2, 1, 3, 4).cpu()  # (B, 3, T, H, W) -> (B, T, 3, H, W)
        if output_type == "pt":
            return SanaVideoPipelineOutput(frames=video)
        array = video.permute(0, 1, 3, 4, 2).numpy()  # (B, T, 3, H, W) -> (B, T, H, W, 3)
        if output_type == "np":
            return SanaVideoPipelineOutput(frames=array)
        pil = [[Image.fromarray(f) for f in to_uint8_frames(clip)] for clip in array]
        return SanaVideoPipelineOutput(frames=pil)

    # -- streaming (LongSANA) ------------------------------------------------------------------------------
    @torch.no_grad()
    def stream(
        self,
        prompt: str | Sequence[tuple[int, str]],
        *,
        frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | None = None,
        guidance_scale: float = 1.0,
        image: Any = None,
        motion_score: int | None = None,
        generator: torch.Generator | None = None,
        chunk_frames: int | None = None,
        steps: int | None = None,
        window: int | None = None,
        fresh_noise: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream one long video: yields uint8 frame chunks `(T, H, W, 3)` as soon as each is decoded.

        `prompt`: a prompt, or `(video frame index, prompt)` pairs starting at frame 0 for prompt switches (a
        switch takes effect at the first chunk that starts at or after its frame; the chunk before it is
        re-cached with the new prompt). `chunk_frames` latent frames per chunk (the remainder joins the
        first chunk); `steps` re-noising Euler steps (upstream's 4 at [1000, 960, 889, 727] when None, else
        the grid of the sampler's flow shift); `window`: attend to the last N chunks only; `fresh_noise`:
        re-noise with fresh noise (upstream) or the model's own noise estimate (a deterministic Euler solve).
        Defaults come from the model's options (`stream_*`). Memory stays constant in `frames`.
        """
        stream_decoder = getattr(self.vae, "stream_decoder", None)  # an optional capability of a VideoVAE
        decoder = stream_decoder() if stream_decoder is not None else None
        if decoder is None:
            raise ValueError(
                "streaming needs a VAE that decodes chunk by chunk (the causal Wan VAE); this model has "
                f"{type(self.vae).__name__}"
            )
        switches = [(0, prompt)] if isinstance(prompt, str) else [(int(f), str(p)) for f, p in prompt]
        size = self.check_size(height, width, frames, use_resolution_binning=False)
        opts = self.options
        steps = opts.stream_steps if steps is None else steps
        timesteps = (
            StreamSettings.timesteps if steps is None else shifted_timesteps(steps, self.sampler.flow_shift)
        )
        settings = StreamSettings(
            chunk_frames=opts.stream_chunk_frames if chunk_frames is None else chunk_frames,
            timesteps=timesteps,
            guidance_scale=float(guidance_scale),
            window=opts.stream_window if window is None else window,
            fresh_noise=opts.stream_fresh_noise if fresh_noise is None else fresh_noise,
        )
        motion_score = opts.motion_score if motion_score is None else motion_score
        device = self.device
        conds = [self.encode_prompt([p], motion_score=motion_score)[0] for _, p in switches]
        conds = [TextCondition(c.embeds.to(device), c.mask.to(device)) for c in conds]
        negative = None
        if settings.guidance_scale > 1:
            neg = opts.negative_prompt if negative_prompt is None else negative_prompt
            _, negative = self.encode_prompt(negative_prompts=[neg])
            negative = TextCondition(negative.embeds.to(device), negative.mask.to(device))
        schedule = prompt_schedule_from_frames(
            [(f, c) for (f, _), c in zip(switches, conds)], self.vae.temporal_stride, negative
        )
        first_frame = None
        if image is not None:
            pixels = self._prepare_image(image, size.gen_height, size.gen_width)
            first_frame = self.vae.encode(pixels).float().to(device)  # (1, C, 1, H', W')
        chunks = stream_latents(
            self.transformer,
            (1, *size.latent_shape),
            schedule,
            settings,
            generator,
            first_frame=first_frame,
            device=device,
        )

        def frames() -> Iterator[np.ndarray]:
            for chunk in chunks:
                video = decoder.decode(chunk.latents.float())[0]  # (3, T, H, W) in [-1, 1]
                # (3, T, H, W) -> (T, H, W, 3) in [0, 1] -> uint8, as __call__ post-processes
                yield to_uint8(video).permute(1, 2, 3, 0).cpu().numpy()

        # inputs are checked and prompts encoded above, at the call; frames are made as the caller iterates
        return frames()


def resize_and_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a video `(B, C, T, h, w)` to cover `height x width` (bilinear), then center-crop to it."""
    batch, channels, frames, h, w = video.shape
    ratio = max(height / h, width / w)
    new_h, new_w = int(h * ratio), int(w * ratio)
    # (B, C, T, h, w) -> (B*T, C, h, w)
    flat = video.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, h, w)
    flat = torch.nn.functional.interpolate(flat, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    flat = flat[:, :, top : top + height, left : left + width]
    return flat.reshape(batch, frames, channels, height, width).permute(0, 2, 1, 3, 4)  # -> (B, C, T, H, W)
