"""Model folders -> pipeline parts: the layouts `SanaVideoPipeline.from_pretrained(path)` reads.

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
         "options": {"chi": "image", "motion_score": 10}   # optional, see sanavideo.options.PipelineOptions
       }

   Without `options`, upstream prompt conventions apply: image CHI, no lower-casing, the upstream negative
   prompt, motion score 10.
3. No path: the embedded default model at `sanavideo/assets/shapes-tiny/` (diffusers layout).
4. **checkpoint**: any transformer path (`.pth`, `.safetensors`, a transformer folder) when the VAE (and the
   text encoder) are passed in.

Any part may be passed in (`transformer=`, `vae=`, `text_encoder=`, `tokenizer=`, `sampler=`, `options=`);
the folder then supplies only the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from sanavideo.adapters.text import DEFAULT_NEGATIVE_PROMPT, TextEncoder, load_text_encoder
from sanavideo.adapters.vae import VideoVAE, load_vae
from sanavideo.config import ModelConfig, get_preset
from sanavideo.fsutil import read_json, read_yaml
from sanavideo.options import PipelineOptions
from sanavideo.sampling import SamplerConfig

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "shapes-tiny"
SPEC_FILES = ("sanavideo.json", "sanavideo.yaml", "sanavideo.yml")
SPEC_KEYS = (
    "transformer",
    "model_config",
    "vae",
    "vae_type",
    "text_encoder",
    "tokenizer",
    "sampler",
    "options",
)
DIFFUSERS_COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
# prompt conventions of the upstream scripts (inference_sana_video.py), used for the upstream layout
UPSTREAM_OPTIONS = PipelineOptions(
    chi="image", lowercase_prompts=False, negative_prompt=DEFAULT_NEGATIVE_PROMPT, motion_score=10
)

Layout = Literal["diffusers", "upstream", "checkpoint"]


@dataclass
class PipelineParts:
    """What a model folder (plus the parts passed in) gives a pipeline."""

    transformer: torch.nn.Module
    vae: VideoVAE | torch.nn.Module
    text_encoder: TextEncoder | None
    sampler: SamplerConfig
    options: PipelineOptions


@dataclass
class ModelFolder:
    """A resolved model path: its layout, the folder its spec's paths are relative to, and the spec."""

    root: Path
    layout: Layout
    spec_file: Path | None
    spec: dict[str, Any]

    @property
    def spec_dir(self) -> Path:
        return self.root if self.root.is_dir() else self.root.parent

    def spec_path(self, key: str) -> Path:
        """A part's path named by the spec, relative to the spec's folder."""
        if not self.spec.get(key):
            raise ValueError(
                f"the model spec in {self.spec_dir} names no {key!r}; add it or pass {key}= explicitly"
            )
        return (self.spec_dir / self.spec[key]).expanduser()

    def component(self, name: str) -> Path:
        """A diffusers component folder (`vae/`, ...), or an error saying how to do without it."""
        folder = self.root / name
        if not folder.is_dir():
            raise FileNotFoundError(
                f"model folder {self.root} has no {name}/ component (a diffusers SANA-Video folder has "
                f"{', '.join(c + '/' for c in DIFFUSERS_COMPONENTS)}); pass {name}= explicitly to use your own"
            )
        return folder


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


def read_spec(file: Path) -> dict[str, Any]:
    """A `sanavideo.json` / `.yaml`: a mapping with only the known keys."""
    data = read_yaml(file) if file.suffix in (".yaml", ".yml") else read_json(file)
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a mapping (JSON object / YAML dict), got {type(data).__name__}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"{file}: unknown keys {unknown}; expected a subset of {sorted(SPEC_KEYS)}")
    return data


def model_config_from_spec(data: dict[str, Any]) -> ModelConfig:
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


def find_spec(folder: Path) -> Path | None:
    """The folder's spec file, the first of `SPEC_FILES` present."""
    for name in SPEC_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def resolve_model_path(path: str | os.PathLike | None, default_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """The path given, or the embedded default model when there is none; missing paths are errors here."""
    if path is None:
        if not (default_dir / "model_index.json").is_file():
            raise FileNotFoundError(
                f"no model path given and the embedded default model is not installed (looked for "
                f"{default_dir / 'model_index.json'}); pass a model folder or sanavideo.json"
            )
        return default_dir
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model path does not exist: {path}")
    return path


def open_model_folder(root: Path, bare_checkpoint_ok: bool) -> ModelFolder:
    """Tell the layout of `root` and read its spec, if it has one. `bare_checkpoint_ok`: the VAE was passed
    in, so a bare transformer path is enough."""
    spec_file: Path | None = None
    if root.is_file() and root.suffix in (".json", ".yaml", ".yml"):
        spec_file, layout = root, "upstream"
    elif root.is_dir() and (root / "model_index.json").is_file():
        spec_file, layout = find_spec(root), "diffusers"  # an optional spec overrides sampler and options
    elif root.is_dir() and (spec_file := find_spec(root)) is not None:
        layout = "upstream"
    elif bare_checkpoint_ok:
        layout = "checkpoint"
    else:
        raise ValueError(
            f"{root} is not a SANA-Video model: expected a diffusers folder with model_index.json, a folder "
            f"with one of {SPEC_FILES}, or such a spec file (or a transformer checkpoint together with "
            "vae= and text_encoder=)"
        )
    spec = read_spec(spec_file) if spec_file is not None else {}
    return ModelFolder(root, layout, spec_file, spec)


def _load_transformer(folder: ModelFolder, dtype: torch.dtype) -> torch.nn.Module:
    from sanavideo.model import SanaVideoTransformer

    if folder.layout == "diffusers":
        return SanaVideoTransformer.from_pretrained(folder.component("transformer"), dtype=dtype)
    if folder.layout == "upstream":
        model_config = folder.spec.get("model_config")
        if isinstance(model_config, str):
            model_config = get_preset(model_config)
        elif isinstance(model_config, dict):
            model_config = model_config_from_spec(model_config)
        return SanaVideoTransformer.from_pretrained(
            folder.spec_path("transformer"), config=model_config, dtype=dtype
        )
    return SanaVideoTransformer.from_pretrained(folder.root, dtype=dtype)


def _load_text_encoder(
    folder: ModelFolder,
    text_encoder: TextEncoder | torch.nn.Module | None,
    tokenizer: Any,
    options: PipelineOptions,
) -> TextEncoder | None:
    """The passed encoder (given the model's prompt format), or the folder's; None for a folder without one."""
    prompt_format = options.prompt_format
    if isinstance(text_encoder, TextEncoder):
        text_encoder.format = prompt_format
        return text_encoder
    if text_encoder is not None:
        if tokenizer is None:
            raise ValueError("a text_encoder module was passed without its tokenizer; pass tokenizer= too")
        return TextEncoder(tokenizer, text_encoder, prompt_format)
    if folder.layout == "diffusers":
        index = read_json(folder.root / "model_index.json")
        if index.get("text_encoder", [None])[0] is None:
            return None  # prompt embeddings must then be passed to __call__
        return load_text_encoder(
            folder.component("text_encoder"), folder.component("tokenizer"), prompt_format
        )
    if folder.layout == "upstream":
        tok = folder.spec_path("tokenizer") if folder.spec.get("tokenizer") else None
        return load_text_encoder(folder.spec_path("text_encoder"), tok, prompt_format)
    return None


def _load_sampler(folder: ModelFolder) -> SamplerConfig:
    if folder.layout != "diffusers":
        return SamplerConfig()
    scheduler_file = folder.component("scheduler") / "scheduler_config.json"
    if not scheduler_file.is_file():
        raise FileNotFoundError(f"{scheduler_file} is missing; pass sampler= explicitly")
    return sampler_from_diffusers_config(read_json(scheduler_file))


def load_pipeline_parts(
    path: str | os.PathLike | None = None,
    *,
    transformer: torch.nn.Module | None = None,
    vae: VideoVAE | torch.nn.Module | None = None,
    text_encoder: TextEncoder | torch.nn.Module | None = None,
    tokenizer: Any = None,
    sampler: SamplerConfig | None = None,
    options: PipelineOptions | None = None,
    dtype: torch.dtype | None = None,
    default_dir: Path = DEFAULT_MODEL_DIR,
) -> PipelineParts:
    """Load the parts not passed in from a model path (any layout above; None: `default_dir`).

    `dtype` applies to the transformer and the text encoder (default float32, as diffusers loads, whatever
    the stored precision); the VAE stays float32.
    """
    dtype = torch.float32 if dtype is None else dtype
    folder = open_model_folder(resolve_model_path(path, default_dir), bare_checkpoint_ok=vae is not None)
    base_options = UPSTREAM_OPTIONS if folder.layout == "upstream" else PipelineOptions()
    try:  # a hand-edited spec: name the file
        if options is None:
            options = PipelineOptions.from_dict(folder.spec.get("options", {}), base=base_options)
        if sampler is None and "sampler" in folder.spec:
            sampler = SamplerConfig(**folder.spec["sampler"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{folder.spec_file}: {err}") from None

    transformer = _load_transformer(folder, dtype) if transformer is None else transformer.to(dtype=dtype)
    if vae is None:  # float32
        if folder.layout == "diffusers":
            vae = load_vae(folder.component("vae"))
        else:
            vae = load_vae(folder.spec_path("vae"), folder.spec.get("vae_type"))
    text_encoder = _load_text_encoder(folder, text_encoder, tokenizer, options)
    if text_encoder is not None:
        text_encoder.to(dtype=dtype)
    sampler = _load_sampler(folder) if sampler is None else sampler
    return PipelineParts(transformer, vae, text_encoder, sampler, options)
