"""Device and dtype rules shared by every command (sanavideo.device)."""

import pytest
import torch

from sanavideo import device as dev


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected",
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_native_bf16_on_cpu_follows_the_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    # AVX512 alone (oneDNN's bf16 check passes, the arithmetic is emulated) is not native
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    cpu = torch.device("cpu")
    assert dev.native_bf16(cpu) is expected
    assert dev.inference_dtype(cpu) == (torch.bfloat16 if expected else torch.float32)


def test_native_bf16_without_the_probes_is_false(monkeypatch):
    for probe in dev._BF16_CPU_PROBES:
        monkeypatch.delattr(torch.cpu, probe, raising=False)
    assert dev.native_bf16(torch.device("cpu")) is False


def test_cuda_is_bf16_and_other_devices_float32():
    assert dev.native_bf16(torch.device("cuda")) is True
    assert dev.inference_dtype(torch.device("cuda")) == torch.bfloat16
    assert dev.inference_dtype(torch.device("mps")) == torch.float32


def test_resolve_dtype_names_a_dtype_or_defers_to_the_device(monkeypatch):
    monkeypatch.setattr(dev, "native_bf16", lambda _device: True)
    cpu = torch.device("cpu")
    assert dev.resolve_dtype(None, cpu) == dev.resolve_dtype("auto", cpu) == torch.bfloat16
    assert dev.resolve_dtype("float32", cpu) == torch.float32
    with pytest.raises(ValueError, match="unknown dtype 'float64x'"):
        dev.resolve_dtype("float64x", cpu)
