"""Model offload (`SanaVideoPipeline.enable_model_offload`, `sanavideo.offload`) on a tiny random pipeline.

No accelerator here: the execution device is `cpu:0`, which torch runs on the CPU but which compares unequal
to the storage device `cpu`, so every move the offload makes is visible in a log of `.to` calls. The tests
check that each component is on the execution device exactly while it is used, and nowhere else, and that
the frames equal those of the pipeline without offload. (What it saves on a GPU is not measured yet: no GPU
was lent to the session that built it.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pipeline_fixtures import tiny_folders_fixture  # noqa: F401  (fixture)

from sanavideo.offload import ModelOffload
from sanavideo.pipeline import SanaVideoPipeline

EXEC, STORE = torch.device("cpu", 0), torch.device("cpu")
PROMPT = "a red circle moves to the right"


def watch(pipe: SanaVideoPipeline) -> list[tuple[str, str]]:
    """Log ("where", "<part>@<device>") at every `.to` of a component and ("use", state) when one runs, where
    state lists the components on the execution device at that moment."""
    log: list[tuple[str, str]] = []
    where = {name: STORE for name in ("text_encoder", "transformer", "vae")}
    parts = {"text_encoder": pipe.text_encoder, "transformer": pipe.transformer, "vae": pipe.vae}

    def on_exec() -> str:
        return ",".join(sorted(n for n, d in where.items() if d == EXEC))

    for name, part in parts.items():
        original_to = part.to

        def to(*args, _name=name, _to=original_to, **kwargs):
            device = kwargs.get("device", args[0] if args else None)
            if device is not None:
                where[_name] = torch.device(device)
                log.append(("where", f"{_name}@{where[_name]}"))
            return _to(*args, **kwargs)

        part.to = to
    for name, obj, method in (
        ("text_encoder", pipe.text_encoder, "encode"),
        ("vae", pipe.vae, "encode"),
        ("vae", pipe.vae, "decode"),
    ):
        original = getattr(obj, method)

        def used(*args, _name=name, _f=original, **kwargs):
            log.append(("use", f"{_name} with {on_exec()}"))
            return _f(*args, **kwargs)

        setattr(obj, method, used)
    make_decoder = pipe.vae.stream_decoder

    def stream_decoder():
        decoder = make_decoder()
        decode = decoder.decode

        def used(*args, **kwargs):
            log.append(("use", f"vae with {on_exec()}"))
            return decode(*args, **kwargs)

        decoder.decode = used
        return decoder

    pipe.vae.stream_decoder = stream_decoder
    pipe.transformer.register_forward_pre_hook(
        lambda *_: log.append(("use", f"transformer with {on_exec()}"))
    )
    return log


@pytest.fixture()
def pipes(tiny_folders):
    plain = SanaVideoPipeline.from_pretrained(tiny_folders["euler"])
    offloaded = SanaVideoPipeline.from_pretrained(tiny_folders["euler"]).enable_model_offload(EXEC)
    return plain, offloaded


def test_offload_puts_each_component_on_the_device_only_for_its_stage(pipes):
    plain, pipe = pipes
    log = watch(pipe)
    kwargs = dict(height=32, width=32, frames=9, num_inference_steps=2, output_type="np", progress=False)
    out = pipe(PROMPT, generator=torch.Generator().manual_seed(0), **kwargs).frames
    uses = sorted({event for kind, event in log if kind == "use"})
    assert uses == ["text_encoder with text_encoder", "transformer with transformer", "vae with vae"]
    assert pipe.device == EXEC and log[-1] == ("where", "vae@cpu")  # all back in storage at the end
    assert [e for k, e in log if k == "where"] == [
        "text_encoder@cpu:0",
        "text_encoder@cpu",
        "transformer@cpu:0",
        "transformer@cpu",
        "vae@cpu:0",
        "vae@cpu",
    ]  # one move in and out per stage, not per step or per prompt
    ref = plain(PROMPT, generator=torch.Generator().manual_seed(0), **kwargs).frames
    np.testing.assert_array_equal(out, ref)


def test_offload_image_to_video_and_stream(pipes):
    plain, pipe = pipes
    log = watch(pipe)
    image = np.zeros((32, 32, 3), np.uint8)
    pipe(PROMPT, image=image, height=32, width=32, frames=9, num_inference_steps=2, progress=False)
    assert ("use", "vae with vae") in log and log[-1] == ("where", "vae@cpu")
    log.clear()
    kwargs = dict(frames=13, height=32, width=32, chunk_frames=2)
    chunks = list(pipe.stream(PROMPT, generator=torch.Generator().manual_seed(0), **kwargs))
    uses = sorted({event for kind, event in log if kind == "use"})
    # a stream decodes as it goes: the transformer and the VAE are on the device together, the text encoder not
    assert uses == [
        "text_encoder with text_encoder",
        "transformer with transformer,vae",
        "vae with transformer,vae",
    ]
    assert {log[-1], log[-2]} == {("where", "transformer@cpu"), ("where", "vae@cpu")}
    ref = list(plain.stream(PROMPT, generator=torch.Generator().manual_seed(0), **kwargs))
    assert all(np.array_equal(a, b) for a, b in zip(chunks, ref)) and len(chunks) == len(ref)


def test_offload_moves_back_on_errors_and_to_ends_it(pipes):
    _, pipe = pipes
    log = watch(pipe)

    def fail(*_):
        raise RuntimeError("boom")

    pipe.transformer.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        pipe(PROMPT, height=32, width=32, frames=9, num_inference_steps=2, progress=False)
    assert log[-1] == ("where", "transformer@cpu")  # not left on the device by the failed stage
    pipe.to("cpu")
    assert pipe.offload is None and pipe.device == STORE


def test_model_offload_ignores_missing_components():
    moves = []

    class Part:
        def to(self, device):
            moves.append(str(device))

    with ModelOffload(EXEC).onload(Part(), None):
        assert moves == ["cpu:0"]
    assert moves == ["cpu:0", "cpu"]


def test_generate_offload_needs_an_accelerator(tiny_folders, tmp_path, capsys):
    from sanavideo.cli import main

    out = tmp_path / "v.mp4"
    argv = ["generate", PROMPT, "--model", str(tiny_folders["euler"]), "--device", "cpu", "--offload"]
    assert main([*argv, "-o", str(out)]) == 2
    assert "--offload moves each component onto an accelerator for its stage; --device is cpu" in (
        capsys.readouterr().err
    )
    assert not out.exists()
