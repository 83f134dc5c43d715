"""SanaVideoPipeline against diffusers' SanaVideoPipeline / SanaImageToVideoPipeline on tiny random folders.

Parity: the same folder, prompt embeddings, negative embeddings and generator seed give the same video
(max abs diff < 1e-3 on [0, 1] frames). Noise is drawn like diffusers' `randn_tensor`; a diffusers folder
makes the transformer use diffusers' float timesteps.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    FlowMatchEulerDiscreteScheduler,
    SanaImageToVideoPipeline,
)
from diffusers import SanaVideoPipeline as DiffusersSanaVideoPipeline
from PIL import Image
from test_pipeline_fixtures import TEXT_DIM, tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo import pipeline as pipeline_module
from sanavideo.adapters import DEFAULT_NEGATIVE_PROMPT, IMAGE_CHI, PromptFormat
from sanavideo.pipeline import PipelineOptions, SanaVideoPipeline, sampler_from_diffusers_config
from sanavideo.sampling import (
    FlowDPMSolver2M,
    FlowEulerSolver,
    SamplerConfig,
    dpm_flow_schedule,
    euler_flow_schedule,
)

SIZE = dict(height=32, width=32, frames=9)


def embeddings(seed: int = 0, length: int = 7):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(1, length, TEXT_DIM, generator=g)
    mask = torch.ones(1, length)
    mask[0, 5:] = 0  # padded prompt
    neg = torch.randn(1, length, TEXT_DIM, generator=g)
    return dict(
        prompt_embeds=emb,
        prompt_attention_mask=mask,
        negative_prompt_embeds=neg,
        negative_prompt_attention_mask=torch.ones(1, length),
    )


def run_both(ref, ours, steps=4, guidance=4.5, seed=3, **extra):
    kw = dict(
        **SIZE,
        **embeddings(),
        num_inference_steps=steps,
        guidance_scale=guidance,
        output_type="np",
        use_resolution_binning=False,
        **extra,
    )
    ref.set_progress_bar_config(disable=True)
    expected = ref(negative_prompt=None, generator=torch.Generator().manual_seed(seed), **kw).frames
    got = ours(generator=torch.Generator().manual_seed(seed), progress=False, **kw).frames
    return expected, got


# -- schedules and solvers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_schedules_match_diffusers(steps):
    dpm = DPMSolverMultistepScheduler(use_flow_sigmas=True, flow_shift=8.0, prediction_type="flow_prediction")
    dpm.set_timesteps(steps)
    ours = dpm_flow_schedule(steps, 8.0)
    torch.testing.assert_close(ours.sigmas, dpm.sigmas, rtol=0, atol=0)
    torch.testing.assert_close(ours.timesteps, dpm.timesteps.float(), rtol=0, atol=0)
    euler = FlowMatchEulerDiscreteScheduler(shift=8.0)
    euler.set_timesteps(steps)
    ours = euler_flow_schedule(steps, 8.0)
    torch.testing.assert_close(ours.sigmas, euler.sigmas, rtol=0, atol=0)
    torch.testing.assert_close(ours.timesteps, euler.timesteps, rtol=0, atol=0)


def test_dpm_schedule_values_from_spec():
    """docs/reference.md §4.2: 50 steps, shift 8 start at 0.99987, 0.99733 and end at 0.1402, 0 (Euler: last 0.0602)."""
    sigmas = dpm_flow_schedule(50, 8.0).sigmas
    assert sigmas[0].item() == pytest.approx(0.99987, abs=1e-5)
    assert sigmas[1].item() == pytest.approx(0.99733, abs=1e-5)
    assert sigmas[-2].item() == pytest.approx(0.1402, abs=1e-4) and sigmas[-1].item() == 0.0
    assert euler_flow_schedule(50, 8.0).sigmas[-2].item() == pytest.approx(0.0602, abs=1e-4)


@pytest.mark.parametrize("name", ["dpm", "euler"])
def test_solver_steps_match_diffusers(name):
    steps = 6
    if name == "dpm":
        ref = DPMSolverMultistepScheduler(
            use_flow_sigmas=True, flow_shift=8.0, prediction_type="flow_prediction"
        )
        schedule = dpm_flow_schedule(steps, 8.0)
        solver = FlowDPMSolver2M(schedule)
    else:
        ref = FlowMatchEulerDiscreteScheduler(shift=8.0)
        schedule = euler_flow_schedule(steps, 8.0)
        solver = FlowEulerSolver(schedule)
    ref.set_timesteps(steps)
    g = torch.Generator().manual_seed(0)
    x_ref = x_ours = torch.randn(2, 4, 3, 4, 4, generator=g)
    for i, t in enumerate(ref.timesteps):
        v = torch.randn(x_ref.shape, generator=g) + 0.5 * x_ref  # depends on x, like a model
        x_ref = ref.step(v, t, x_ref, return_dict=False)[0]
        x_ours = solver.step(x_ours, v, i)
        torch.testing.assert_close(x_ours, x_ref, rtol=1e-5, atol=1e-5)


def test_scheduler_config_mapping():
    def config(scheduler) -> dict:  # as read from scheduler_config.json
        return {"_class_name": type(scheduler).__name__, **scheduler.config}

    dpm = DPMSolverMultistepScheduler(use_flow_sigmas=True, flow_shift=7.0, prediction_type="flow_prediction")
    assert sampler_from_diffusers_config(config(dpm)) == SamplerConfig("dpm", 7.0)
    euler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    assert sampler_from_diffusers_config(config(euler)) == SamplerConfig("euler", 3.0)
    karras = DPMSolverMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", use_karras_sigmas=True
    )
    with pytest.raises(ValueError, match="use_karras_sigmas"):
        sampler_from_diffusers_config(config(karras))
    with pytest.raises(ValueError, match="UniPC"):
        sampler_from_diffusers_config({"_class_name": "UniPCMultistepScheduler"})


# -- parity with diffusers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["dpm", "euler"])
def test_t2v_parity_with_diffusers(tiny_folders, sampler):
    folder = tiny_folders[sampler]
    ours = SanaVideoPipeline.from_pretrained(folder)
    assert ours.sampler == SamplerConfig(sampler, 8.0)
    assert ours.transformer.config.integer_timesteps is False  # diffusers folder: float timesteps
    expected, got = run_both(DiffusersSanaVideoPipeline.from_pretrained(folder), ours)
    assert got.shape == expected.shape == (1, 9, 32, 32, 3)
    assert expected.std() > 0.01  # not a constant video
    assert np.abs(got - expected).max() < 1e-3


def test_t2v_parity_with_text_prompts(tiny_folders):
    """The whole prompt path (video CHI, lower-casing, empty negative prompt) against diffusers."""
    folder = tiny_folders["dpm"]
    ref = DiffusersSanaVideoPipeline.from_pretrained(folder)
    ref.set_progress_bar_config(disable=True)
    ours = SanaVideoPipeline.from_pretrained(folder)
    kw = dict(
        **SIZE, num_inference_steps=2, guidance_scale=3.0, output_type="np", use_resolution_binning=False
    )
    prompt = "A Red circle moves to the right motion score: 10."
    expected = ref(prompt, generator=torch.Generator().manual_seed(1), **kw).frames
    got = ours(prompt, generator=torch.Generator().manual_seed(1), progress=False, **kw).frames
    assert np.abs(got - expected).max() < 1e-3
    # motion_score= builds the same suffix
    got2 = ours(
        "A Red circle moves to the right",
        motion_score=10,
        generator=torch.Generator().manual_seed(1),
        progress=False,
        **kw,
    ).frames
    np.testing.assert_array_equal(got, got2)


@pytest.mark.parametrize("sampler", ["euler", "dpm"])
def test_i2v_parity_with_diffusers(tiny_folders, sampler):
    folder = tiny_folders["i2v"]
    scheduler = (
        FlowMatchEulerDiscreteScheduler(shift=8.0)
        if sampler == "euler"
        else DPMSolverMultistepScheduler(
            use_flow_sigmas=True, flow_shift=8.0, prediction_type="flow_prediction"
        )
    )
    ref = SanaImageToVideoPipeline.from_pretrained(folder, scheduler=scheduler)
    ours = SanaVideoPipeline.from_pretrained(folder, sampler=SamplerConfig(sampler, 8.0))
    image = Image.fromarray((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8))  # resized
    expected, got = run_both(ref, ours, image=image)
    assert np.abs(got - expected).max() < 1e-3

    # frame 0 is the input image through the VAE (encode -> decode), whatever the prompt did
    pixels = ours._prepare_image(image, 32, 32)  # (1, 3, 1, 32, 32)
    round_trip = (ours.vae.decode(ours.vae.encode(pixels))[0, :, 0] / 2 + 0.5).clamp(0, 1)  # (3, 32, 32)
    np.testing.assert_allclose(got[0, 0], round_trip.permute(1, 2, 0).numpy(), atol=1e-4)
    assert np.abs(got[0, 1:] - got[0, :1]).max() > 1e-3  # the later frames are generated, not copies


# -- API surface -------------------------------------------------------------------------------------------
def test_output_types_and_batch(tiny_folders):
    pipe = SanaVideoPipeline.from_pretrained(tiny_folders["euler"])
    kw = dict(height=32, width=48, frames=5, num_inference_steps=2, guidance_scale=2.0, progress=False)
    gen = lambda: [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)]  # noqa: E731
    prompts = ["a red circle", "a blue square"]
    latents = pipe(prompts, generator=gen(), output_type="latent", **kw).frames
    assert latents.shape == (2, 4, 2, 4, 6)
    pt = pipe(prompts, generator=gen(), output_type="pt", **kw).frames
    assert pt.shape == (2, 5, 3, 32, 48) and 0 <= pt.min() and pt.max() <= 1
    arr = pipe(prompts, generator=gen(), output_type="np", **kw).frames
    np.testing.assert_allclose(arr, pt.permute(0, 1, 3, 4, 2).numpy())
    pil = pipe(prompts, generator=gen(), output_type="pil", **kw).frames
    assert len(pil) == 2 and len(pil[0]) == 5 and pil[0][0].size == (48, 32)
    # generator per sample: sample 1 alone equals sample 1 of the batch
    single = pipe(prompts[1], generator=torch.Generator().manual_seed(1), output_type="latent", **kw).frames
    torch.testing.assert_close(single[0], latents[1], rtol=1e-4, atol=1e-4)


def test_block_causal_sampling(tiny_folders, tmp_path):
    """chunk_frames: the model attends block-causally while sampling, as a block-causally trained model did in
    training: a chunk's result does not depend on later chunks' noise, unlike full attention's."""
    pipe = SanaVideoPipeline.from_pretrained(tiny_folders["dpm"])
    kw = dict(height=32, width=32, frames=9, num_inference_steps=3, guidance_scale=2.0, progress=False)
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))  # (B, C, F', H', W')
    other = noise.clone()
    other[:, :, 1:] = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(1))

    def sample(latents, **extra):
        return pipe("a red circle", latents=latents, output_type="latent", **kw, **extra).frames

    causal, causal_other = sample(noise, chunk_frames=1), sample(other, chunk_frames=1)
    torch.testing.assert_close(causal[:, :, :1], causal_other[:, :, :1], rtol=0, atol=1e-6)
    full, full_other = sample(noise), sample(other)
    assert (full[:, :, :1] - full_other[:, :, :1]).abs().max() > 1e-3
    assert (causal - full).abs().max() > 1e-3
    # the model's option sets the default
    folder = tmp_path / "model"
    shutil.copytree(tiny_folders["dpm"], folder)
    (folder / "sanavideo.json").write_text(
        json.dumps({"options": {"chunk_frames": 1}})
    )  # the folder has none
    pipe = SanaVideoPipeline.from_pretrained(folder)
    assert pipe.options.chunk_frames == 1
    torch.testing.assert_close(sample(noise), causal)


def test_options_from_sanavideo_json(tiny_folders, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_folders["dpm"], folder)
    (folder / "sanavideo.json").write_text(
        json.dumps(
            {
                "sampler": {"name": "euler", "flow_shift": 3.0},
                "options": {
                    "chi": "none",
                    "lowercase_prompts": False,
                    "max_sequence_length": 12,
                    "frames": 5,
                    "height": 32,
                    "width": 32,
                    "num_inference_steps": 2,
                    "guidance_scale": 1.0,
                    "fps": 8,
                },
            }
        )
    )
    pipe = SanaVideoPipeline.from_pretrained(folder)
    assert pipe.sampler == SamplerConfig("euler", 3.0)
    assert pipe.text_encoder.format.chi is None and pipe.options.fps == 8
    cond, _ = pipe.encode_prompt(["a red circle"])
    assert cond.embeds.shape == (1, 12, TEXT_DIM)  # no CHI: max_sequence_length tokens
    video = pipe("a red circle", output_type="np", progress=False).frames  # sizes from the options
    assert video.shape == (1, 5, 32, 32, 3)


def test_upstream_layout_spec(tiny_folders, tmp_path):
    """A sanavideo.yaml naming an upstream .pth, a VAE folder and a text encoder folder."""
    from sanavideo.convert import read_checkpoint, save_original

    src = tiny_folders["dpm"]
    state, config, _ = read_checkpoint(src / "transformer")
    save_original(state, tmp_path / "model.pth")
    # tiny heads of 8 cannot be inferred from the .pth (it assumes 112), so the spec names the architecture
    upstream = config.replace(integer_timesteps=True, linear_attn_eps=1e-8, cross_norm_eps=1e-6)
    (tmp_path / "sanavideo.yaml").write_text(
        f"model_config: {json.dumps(upstream.to_dict())}\n"
        f"transformer: model.pth\nvae: {src / 'vae'}\ntext_encoder: {src / 'text_encoder'}\n"
        f"tokenizer: {src / 'tokenizer'}\nsampler: {{name: dpm, flow_shift: 8.0}}\noptions: {{motion_score: 5}}\n"
    )
    pipe = SanaVideoPipeline.from_pretrained(tmp_path)
    assert pipe.transformer.config.integer_timesteps is True  # upstream numerics
    assert pipe.options.chi == "image" and pipe.text_encoder.format.chi == IMAGE_CHI
    assert pipe.options.negative_prompt == DEFAULT_NEGATIVE_PROMPT and pipe.options.motion_score == 5
    assert pipe.options.lowercase_prompts is False
    # DPM timesteps are integers, so the upstream checkpoint follows the diffusers folder closely
    # (the remaining differences are the eps values of docs/reference.md §6.1)
    kw = dict(
        **SIZE, **embeddings(), num_inference_steps=3, guidance_scale=4.5, output_type="np", progress=False
    )
    a = pipe(generator=torch.Generator().manual_seed(0), **kw).frames
    b = SanaVideoPipeline.from_pretrained(src)(generator=torch.Generator().manual_seed(0), **kw).frames
    assert np.abs(a - b).max() < 1e-2


def test_explicit_components(tiny_folders):
    src = tiny_folders["dpm"]
    from test_pipeline_fixtures import tiny_text_encoder, tiny_tokenizer, tiny_vae

    from sanavideo.model import SanaVideoTransformer

    transformer = SanaVideoTransformer.from_pretrained(src / "transformer")
    pipe = SanaVideoPipeline.from_pretrained(
        src / "transformer",
        transformer=transformer,
        vae=tiny_vae(),
        text_encoder=tiny_text_encoder(),
        tokenizer=tiny_tokenizer(),
        sampler=SamplerConfig("euler", 8.0),
        options=PipelineOptions(chi="none"),
    )
    out = pipe("a red circle", **SIZE, num_inference_steps=1, output_type="latent", progress=False).frames
    assert out.shape == (1, 4, 3, 4, 4)
    assert pipe.to("cpu", torch.float64).vae.dtype == torch.float32  # the VAE stays float32


def test_ltx2_vae_adapter_and_pipeline():
    """LTX-2 VAE: per-channel buffers and scaling_factor normalisation, its strides drive the size checks."""
    from diffusers import AutoencoderKLLTX2Video

    from sanavideo.adapters import LTX2VAE, wrap_vae
    from sanavideo.config import ModelConfig
    from sanavideo.model import SanaVideoTransformer

    torch.manual_seed(0)
    module = AutoencoderKLLTX2Video(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        patch_size=1,
        patch_size_t=1,
        scaling_factor=0.5,
        spatial_compression_ratio=8,
        temporal_compression_ratio=8,  # what these blocks do
    ).eval()
    module.latents_mean.copy_(torch.linspace(-0.5, 0.5, 8))
    module.latents_std.copy_(torch.linspace(0.5, 2.0, 8))
    vae = wrap_vae(module)
    assert isinstance(vae, LTX2VAE) and (vae.latent_channels, vae.temporal_stride, vae.spatial_stride) == (
        8,
        8,
        8,
    )
    video = torch.rand(1, 3, 17, 32, 32) * 2 - 1
    z = vae.encode(video)
    mu = module.encode(video).latent_dist.mode()
    expected = (mu - module.latents_mean.view(1, 8, 1, 1, 1)) * 0.5 / module.latents_std.view(1, 8, 1, 1, 1)
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(vae.decode(z), module.decode(mu).sample.clamp(-1, 1), rtol=1e-4, atol=1e-4)

    config = ModelConfig(
        num_layers=1,
        num_heads=2,
        head_dim=8,
        cross_num_heads=2,
        cross_head_dim=8,
        caption_channels=TEXT_DIM,
        in_channels=8,
        out_channels=8,
        patch_size=(1, 1, 1),
        sample_size=8,
    )
    pipe = SanaVideoPipeline(
        SanaVideoTransformer(config), vae, TextEncoderForTests(), SamplerConfig("dpm", 8.0), PipelineOptions()
    )
    out = pipe(
        "a red circle",
        height=32,
        width=32,
        frames=17,
        num_inference_steps=2,
        output_type="np",
        progress=False,
    )
    assert out.frames.shape == (1, 17, 32, 32, 3)
    with pytest.raises(ValueError, match=r"frames must be 8k\+1 .*temporal stride 8\), got 13"):
        pipe("a red circle", height=32, width=32, frames=13, progress=False)
    with pytest.raises(ValueError, match="stride x patch = 8 x 8, got 32x36"):
        pipe("a red circle", height=32, width=36, frames=17, progress=False)


def TextEncoderForTests():  # noqa: N802  (reads like a class at the call site)
    from test_pipeline_fixtures import tiny_text_encoder, tiny_tokenizer

    from sanavideo.adapters import TextEncoder

    return TextEncoder(tiny_tokenizer(), tiny_text_encoder(), PromptFormat(chi=None, max_length=8))


# -- errors ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipe(tiny_folders):
    return SanaVideoPipeline.from_pretrained(tiny_folders["dpm"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frames=10), r"frames must be 4k\+1 .* got 10; nearest valid: 9 or 13"),
        (dict(frames=0), r"frames must be 4k\+1"),
        (dict(height=40), r"multiples of the VAE stride x patch = 16 x 16, got 40x32"),
        (dict(width=24), r"got 32x24"),
        (dict(guidance_scale=0.5), r"guidance_scale must be >= 1 .* got 0.5"),
        (dict(num_inference_steps=0), r"num_inference_steps must be at least 1, got 0"),
        (dict(output_type="mp4"), r"output_type must be one of .* got 'mp4'"),
        (dict(prompt=None), r"exactly one of prompt and prompt_embeds"),
        (dict(chunk_frames=0), r"chunk_frames must be >= 1, got 0"),
    ],
)
def test_bad_inputs(pipe, kwargs, message):
    kw = dict(prompt="a red circle", height=32, width=32, frames=5, num_inference_steps=1, progress=False)
    with pytest.raises(ValueError, match=message):
        pipe(**{**kw, **kwargs})


def test_bad_image(pipe, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    kw = dict(height=32, width=32, frames=5, num_inference_steps=1, progress=False)
    with pytest.raises(ValueError, match=r"cannot read image .*bad.png"):
        pipe("a red circle", image=bad, **kw)
    with pytest.raises(FileNotFoundError, match="image file not found"):
        pipe("a red circle", image=tmp_path / "missing.png", **kw)


def test_bad_model_paths(tiny_folders, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="model path does not exist"):
        SanaVideoPipeline.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not a SANA-Video model: expected a diffusers folder"):
        SanaVideoPipeline.from_pretrained(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_folders["dpm"], broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(FileNotFoundError, match=r"has no vae/ component .* pass vae= explicitly"):
        SanaVideoPipeline.from_pretrained(broken)
    # no path: the embedded model; its absence names where it looked
    monkeypatch.setattr(pipeline_module, "DEFAULT_MODEL_DIR", tmp_path / "assets" / "shapes-tiny")
    with pytest.raises(
        FileNotFoundError, match=r"embedded default model .*assets/shapes-tiny/model_index.json"
    ):
        SanaVideoPipeline.from_pretrained()
    # once it exists, no path loads it
    shutil.copytree(tiny_folders["dpm"], tmp_path / "assets" / "shapes-tiny")
    assert SanaVideoPipeline.from_pretrained().sampler.name == "dpm"


def test_resolution_binning_and_crop():
    """480p models (sample_size 30) generate at diffusers' bin, then resize and center-crop back."""
    from test_pipeline_fixtures import tiny_vae

    from sanavideo.config import ModelConfig
    from sanavideo.model import SanaVideoTransformer
    from sanavideo.pipeline import resize_and_crop

    config = ModelConfig(
        num_layers=1,
        num_heads=2,
        head_dim=8,
        cross_num_heads=2,
        cross_head_dim=8,
        caption_channels=TEXT_DIM,
        in_channels=4,
        out_channels=4,
        sample_size=30,
    )
    pipe = SanaVideoPipeline(SanaVideoTransformer(config), tiny_vae())
    size = pipe.check_size(500, 900, 81)
    assert (size.gen_height, size.gen_width) == (480, 832) and size.latent_shape == (4, 21, 60, 104)
    assert pipe.check_size(320, 320, 5).gen_height == 624  # square -> the 1.0 bin
    assert pipe.check_size(320, 320, 5, use_resolution_binning=False).gen_height == 320
    video = torch.arange(2 * 3 * 2 * 4 * 8, dtype=torch.float32).reshape(2, 3, 2, 4, 8)
    out = resize_and_crop(video, 4, 4)  # cover 4x4 keeps the 4x8 size, then crops the middle columns
    torch.testing.assert_close(out, video[..., 2:6])
