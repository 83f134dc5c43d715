"""Checkpoint layouts: key maps, strict loading, format detection, the convert CLI, full-size shapes."""

from __future__ import annotations

import json

import pytest
import torch

from sanavideo.cli import main as cli_main
from sanavideo.config import PRESETS, ModelConfig, get_preset
from sanavideo.convert import diffusers_to_original, original_to_diffusers, read_checkpoint
from sanavideo.convert.io import save_diffusers, save_original
from sanavideo.model import SanaVideoTransformer

TINY = PRESETS["tiny"]


def upstream_state(cfg: ModelConfig = TINY, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict as an upstream .pth holds it, training buffers included."""
    torch.manual_seed(seed)
    state = {k: torch.randn_like(v) for k, v in SanaVideoTransformer(cfg).state_dict().items()}
    state["y_embedder.y_embedding"] = torch.randn(300, cfg.caption_channels)
    state["pos_embed"] = torch.zeros(1)
    return state


def test_full_size_parameter_counts():
    with torch.device("meta"):
        assert SanaVideoTransformer(get_preset("2B-480p")).num_parameters() == 2_056_862_144
        assert SanaVideoTransformer(get_preset("2B-720p")).num_parameters() == 2_057_148_928


def test_full_size_keys_match_upstream_inventory():
    """Spot-check the key names and shapes of docs/reference.md §1.10 on the meta device."""
    with torch.device("meta"):
        state = SanaVideoTransformer(get_preset("2B-480p")).state_dict()
    expected = {
        "x_embedder.proj.weight": (2240, 16, 1, 2, 2),
        "t_block.1.weight": (13440, 2240),
        "y_embedder.y_proj.fc1.weight": (2240, 2304),
        "attention_y_norm.weight": (2240,),
        "blocks.19.attn.qkv.weight": (6720, 2240),
        "blocks.0.cross_attn.kv_linear.bias": (4480,),
        "blocks.0.mlp.inverted_conv.conv.weight": (13440, 2240, 1, 1),
        "blocks.0.mlp.depth_conv.conv.weight": (13440, 1, 3, 3),
        "blocks.0.mlp.point_conv.conv.weight": (2240, 6720, 1, 1),
        "blocks.0.mlp.t_conv.weight": (2240, 2240, 3, 1),
        "final_layer.linear.weight": (64, 2240),
        "final_layer.scale_shift_table": (2, 2240),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert "blocks.0.attn.qkv.bias" not in state and "blocks.0.mlp.point_conv.conv.bias" not in state
    assert len([k for k in state if k.startswith("blocks.0.")]) == 20  # 1 + 5 attn + 8 cross + 6 mlp


def test_round_trip_original_diffusers_original_is_bit_exact():
    state = upstream_state()
    diff = original_to_diffusers(state)
    assert "transformer_blocks.1.attn1.to_k.weight" in diff and "scale_shift_table" in diff
    back = diffusers_to_original(diff)
    kept = {k: v for k, v in state.items() if k not in ("y_embedder.y_embedding", "pos_embed")}
    assert set(back) == set(kept)
    for key in kept:
        assert torch.equal(back[key], kept[key]), key


def test_diffusers_module_loads_converted_weights_strictly(tmp_path):
    from diffusers import SanaVideoTransformer3DModel

    save_diffusers(upstream_state(), TINY, tmp_path)
    model, info = SanaVideoTransformer3DModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_unmapped_keys_fail_naming_them():
    state = upstream_state()
    state["blocks.0.attn.mystery.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match="blocks.0.attn.mystery.weight"):
        original_to_diffusers(state)
    diff = original_to_diffusers(upstream_state())
    del diff["transformer_blocks.1.attn1.to_v.weight"]
    with pytest.raises(KeyError, match=r"blocks.1.attn.qkv.weight.*missing its part"):
        diffusers_to_original(diff)


@pytest.mark.parametrize("defect", ["missing", "extra", "shape"])
def test_strict_loading_names_the_bad_key(defect, tmp_path):
    state = upstream_state()
    key = "blocks.1.cross_attn.proj.weight"
    if defect == "missing":
        del state[key]
    elif defect == "extra":
        key = "blocks.1.cross_attn.extra.weight"
        state[key] = torch.zeros(3)
    else:
        state[key] = torch.zeros(5, 5)
    save_original(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        SanaVideoTransformer.from_pretrained(tmp_path / "bad.pth", config=TINY)


def test_load_every_layout_gives_the_same_model(tmp_path):
    state = upstream_state()
    save_original(state, tmp_path / "ckpt.pth")  # {"state_dict": ...}
    torch.save({k: v for k, v in state.items()}, tmp_path / "raw.pth")  # raw state dict
    save_original(state, tmp_path / "ckpt.safetensors")
    save_diffusers(state, TINY, tmp_path / "pipe" / "transformer")
    (tmp_path / "pipe" / "model_index.json").write_text(json.dumps({"_class_name": "SanaVideoPipeline"}))

    ref = SanaVideoTransformer.from_pretrained(tmp_path / "ckpt.pth", config=TINY)
    assert ref.config.integer_timesteps and ref.config.linear_attn_eps == 1e-8
    ref.save_pretrained(tmp_path / "ours")
    for path in ["raw.pth", "ckpt.safetensors", "pipe", "pipe/transformer", "ours"]:
        model = SanaVideoTransformer.from_pretrained(
            tmp_path / path, config=TINY if "pth" in path or "safe" in path else None
        )
        for key, value in ref.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), (path, key)
    diff_model = SanaVideoTransformer.from_pretrained(tmp_path / "pipe")
    assert not diff_model.config.integer_timesteps and diff_model.config.cross_norm_eps == 1e-5
    assert SanaVideoTransformer.from_pretrained(tmp_path / "ours").config == ref.config


def test_infer_config_from_upstream_shapes(tmp_path):
    cfg = TINY.replace(num_heads=1, head_dim=32, cross_num_heads=1, cross_head_dim=32)  # hidden 32
    state = upstream_state(cfg)
    save_original(state, tmp_path / "m.pth")
    from sanavideo.convert.io import infer_config_from_original

    inferred = infer_config_from_original(state, head_dim=32)
    assert inferred.hidden_size == 32 and inferred.num_layers == 2 and inferred.patch_size == (1, 2, 2)
    assert inferred.in_channels == 4 and inferred.caption_channels == 24 and inferred.mlp_ratio == 2.0
    with pytest.raises(ValueError, match="not a multiple of the assumed head_dim 112; give the architecture"):
        SanaVideoTransformer.from_pretrained(tmp_path / "m.pth")


def test_convert_cli_takes_the_architecture_from_config(tmp_path, capsys):
    cfg = TINY.replace(num_heads=2, head_dim=16, cross_num_heads=2, cross_head_dim=16)  # hidden 32
    state = upstream_state(cfg)
    save_original(state, tmp_path / "m.pth")
    dst = tmp_path / "out"
    assert cli_main(["convert", str(tmp_path / "m.pth"), str(dst), "--to", "diffusers"]) == 2
    assert "cannot infer the number of attention heads" in capsys.readouterr().err and not dst.exists()
    (tmp_path / "train.yaml").write_text("model:\n  model: SanaMSVideo_tiny\n  linear_head_dim: 16\n")
    assert (
        cli_main(
            [
                "convert",
                str(tmp_path / "m.pth"),
                str(dst),
                "--to",
                "diffusers",
                "--config",
                str(tmp_path / "train.yaml"),
            ]
        )
        == 0
    )
    assert json.loads((dst / "config.json").read_text())["num_attention_heads"] == 2
    model = SanaVideoTransformer.from_pretrained(dst)
    assert model.config.num_heads == 2 and model.config.head_dim == 16
    # a diffusers config.json works as well, and so does a preset name when it fits
    assert (
        cli_main(
            [
                "convert",
                str(tmp_path / "m.pth"),
                str(tmp_path / "out2"),
                "--to",
                "diffusers",
                "--config",
                str(dst / "config.json"),
            ]
        )
        == 0
    )
    save_original(upstream_state(TINY), tmp_path / "tiny.pth")
    assert (
        cli_main(
            [
                "convert",
                str(tmp_path / "tiny.pth"),
                str(tmp_path / "out3"),
                "--to",
                "diffusers",
                "--config",
                "tiny",
            ]
        )
        == 0
    )
    assert (
        cli_main(
            [
                "convert",
                str(tmp_path / "m.pth"),
                str(tmp_path / "x"),
                "--to",
                "diffusers",
                "--config",
                "no-such-preset",
            ]
        )
        == 2
    )
    assert "not a preset" in capsys.readouterr().err


def test_not_a_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="expected a weight file"):
        read_checkpoint(tmp_path / "notes.txt")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError, match="is not a SANA-Video model"):
        read_checkpoint(tmp_path / "dir")
    (tmp_path / "dir" / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="UNet2DModel"):
        read_checkpoint(tmp_path / "dir")


def test_convert_cli_round_trip(tmp_path):
    state = upstream_state()
    save_original(state, tmp_path / "up.pth")
    # a tiny model needs an explicit head_dim; the CLI infers the released 112, so use a 112-wide config
    cfg = ModelConfig(
        num_layers=1,
        num_heads=1,
        head_dim=112,
        cross_num_heads=1,
        cross_head_dim=112,
        caption_channels=8,
        in_channels=4,
        out_channels=4,
        mlp_ratio=1.0,
    )
    save_original(upstream_state(cfg), tmp_path / "up112.pth")
    assert (
        cli_main(["convert", str(tmp_path / "up112.pth"), str(tmp_path / "diff"), "--to", "diffusers"]) == 0
    )
    assert cli_main(["convert", str(tmp_path / "diff"), str(tmp_path / "back.pth"), "--to", "original"]) == 0
    original = torch.load(tmp_path / "up112.pth", weights_only=True)["state_dict"]
    back = torch.load(tmp_path / "back.pth", weights_only=True)["state_dict"]
    # the learned null caption survives the trip (a side file in the diffusers folder); pos_embed does not
    assert (tmp_path / "diff" / "null_caption.safetensors").is_file()
    assert set(back) == set(original) - {"pos_embed"}
    assert all(torch.equal(back[k], original[k]) for k in back)
    assert cli_main(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "x"), "--to", "diffusers"]) == 2
    assert not (tmp_path / "x").exists()


def test_fine_tuning_keeps_the_learned_null_caption(tmp_path):
    from sanavideo.train import TrainArgs
    from sanavideo.train.loop import _initial_null_caption

    state = upstream_state()
    save_original(state, tmp_path / "up.pth")
    args = TrainArgs.from_dict({"model": {"init_from": str(tmp_path / "up.pth")}})
    null = _initial_null_caption(args, 300, TINY.caption_channels)
    assert torch.equal(null, state["y_embedder.y_embedding"])
    with pytest.raises(
        ValueError, match="its null caption has shape \\(300, 24\\), the data needs \\(32, 24\\)"
    ):
        _initial_null_caption(args, 32, TINY.caption_channels)
    fresh = _initial_null_caption(TrainArgs(), 32, 24)  # nothing to carry: randn / sqrt(D) from the seed
    assert fresh.shape == (32, 24) and torch.equal(fresh, _initial_null_caption(TrainArgs(), 32, 24))
