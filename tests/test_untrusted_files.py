"""Nothing we load unpickles arbitrary objects: a pickle payload in any file a user may be handed (an upstream
.pth, a training checkpoint's optimizer state) never runs, and the error names the file and what it expected."""

from __future__ import annotations

import pytest
import torch

from sanavideo.cli import main as cli_main
from sanavideo.fsutil import load_plain_torch


class _Payload:
    """Unpickling this creates a marker file (the stand-in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def payload_pth(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x_embedder.proj.weight": torch.zeros(1)}, "extra": _Payload(marker)}, path)
    return path, marker


def test_plain_loader_refuses_a_payload(payload_pth):
    path, marker = payload_pth
    with pytest.raises(ValueError, match="evil.pth is not a plain tensor file") as info:
        load_plain_torch(path)
    assert "weights_only=False" not in str(info.value)  # no advice to turn the protection off
    assert not marker.exists()


def test_model_loading_and_convert_refuse_a_payload(payload_pth, capsys):
    from sanavideo.model import SanaVideoTransformer

    path, marker = payload_pth
    with pytest.raises(ValueError, match="not a plain tensor file"):
        SanaVideoTransformer.from_pretrained(path)
    assert cli_main(["convert", str(path), str(path.parent / "out"), "--to", "diffusers"]) == 2
    assert "evil.pth is not a plain tensor file" in capsys.readouterr().err
    assert not marker.exists() and not (path.parent / "out").exists()


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.pth could not be read as a torch tensor file"):
        load_plain_torch(path)


def test_truncated_safetensors_weights_are_named(tmp_path, capsys):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(1000)}, str(path))
    path.write_bytes(path.read_bytes()[:100])
    assert cli_main(["convert", str(path), str(tmp_path / "out"), "--to", "diffusers"]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors is not a readable safetensors file (truncated or corrupt?)" in err
    assert not (tmp_path / "out").exists()
