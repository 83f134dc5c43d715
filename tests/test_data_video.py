"""Raw clips -> cache: folder and zip layouts, 4k+1 frames, buckets, motion score, broken clips skipped and
counted, and training from the cache (frozen and trainable text encoder)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sanavideo.data.latents import load_cache
from sanavideo.data.precompute import PrecomputeArgs, precompute
from sanavideo.data.video import make_buckets, nearest_bucket, read_frames, resize_crop, scan_sources

WORDS = ["a", "red", "blue", "circle", "square", "moves", "left", "right", "motion", "score", ":", "."] + [
    str(i) for i in range(40)
]


pytestmark = pytest.mark.usefixtures("one_thread")


def write_mp4(path: Path, frames: int, height: int = 48, width: int = 64, seed: int = 0) -> None:
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=16)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[..., 0] = 40 + 8 * i
            img[10:30, 5 + 2 * i : 25 + 2 * i] = rng.integers(0, 255, 3)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_encoders(folder: Path, caption_channels: int = 24) -> Path:
    """A tiny Wan VAE (4 latent channels), a word-level tokenizer and a tiny Gemma-2 text encoder."""
    from diffusers import AutoencoderKLWan
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import Gemma2Config, Gemma2Model, PreTrainedTokenizerFast

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        latents_mean=[0.1, -0.2, 0.0, 0.3],
        latents_std=[1.5, 0.5, 1.0, 2.0],
    )
    vae.save_pretrained(folder / "vae")
    vocab = {t: i for i, t in enumerate(["<pad>", "<bos>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", unk_token="<unk>"
    )
    fast.save_pretrained(folder / "tokenizer")
    cfg = Gemma2Config(
        vocab_size=len(vocab),
        hidden_size=caption_channels,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=12,
        pad_token_id=0,
        bos_token_id=1,
    )
    Gemma2Model(cfg).save_pretrained(folder / "text_encoder")
    return folder


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make_encoders(tmp_path_factory.mktemp("encoders"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for i in range(4):
        write_mp4(d / f"clip{i}.mp4", frames=11, seed=i)  # 11 decoded -> 9 = 4*2+1 kept
        meta = {"prompt": f"a {'red' if i % 2 else 'blue'} circle moves left"}
        if i == 1:
            meta["motion_score"] = 7.6
        (d / f"clip{i}.json").write_text(json.dumps(meta))
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    (d / "broken.json").write_text(json.dumps({"prompt": "a blue square"}))
    write_mp4(d / "nosidecar.mp4", frames=5)
    return d


def test_frames_buckets_and_resize(clips):
    frames = read_frames(str(clips / "clip0.mp4"), num_frames=81)
    assert frames.shape == (9, 48, 64, 3) and frames.dtype == torch.uint8
    assert read_frames(str(clips / "clip0.mp4"), num_frames=5).shape[0] == 5
    assert read_frames(str(clips / "clip0.mp4"), num_frames=81, stride=2).shape[0] == 5  # 6 decoded -> 5
    buckets = make_buckets(480)
    assert all(h % 16 == 0 and w % 16 == 0 for h, w in buckets)
    assert nearest_bucket(480, 832, buckets) in buckets
    h, w = nearest_bucket(480, 832, buckets)
    assert abs(h * w - 480 * 480) / (480 * 480) < 0.1 and h < w
    video = resize_crop(frames, (32, 32))
    assert video.shape == (3, 9, 32, 32) and video.min() >= -1 and video.max() <= 1


def test_scan_skips_missing_sidecar_and_reads_zip_layout(clips, tmp_path):
    records, skipped = scan_sources([clips])
    assert skipped == 1 and len(records) == 5  # nosidecar skipped; broken.mp4 is found (fails at decode)
    zdir = tmp_path / "zips"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / "shard0.zip", "w") as zf:
        zf.write(clips / "clip0.mp4", "k0.mp4")
        zf.writestr("k0.json", json.dumps({"prompt": "a red square", "height": 48, "width": 64}))
        zf.write(clips / "clip1.mp4", "k1.mp4")
        zf.writestr("k1.json", json.dumps({"prompt": "a blue circle", "height": 48, "width": 64}))
    (zdir / "shard0_unimatch.json").write_text(json.dumps({"k0": {"flow": [3.0, 5.0]}}))
    (zdir / "shard0_Qwen2.5-VL.json").write_text(json.dumps({"k1": {"prompt": "a long caption"}}))
    (zdir / "bad.zip").write_bytes(b"not a zip")
    records, skipped = scan_sources([zdir])
    assert skipped == 1 and [r.key.rsplit(":", 1)[1] for r in records] == ["k0.mp4", "k1.mp4"]
    assert records[0].motion_score == 4.0 and records[1].motion_score is None
    assert records[1].caption({"_Qwen2_5-VL": 1.0}) == "a long caption"
    assert records[1].caption({"prompt": 1.0}) == "a blue circle"
    assert read_frames(records[0].open(), 81).shape[0] == 9


def test_precompute_skips_broken_clips_and_training_reads_the_cache(clips, encoders, tmp_path):
    out = tmp_path / "cache"
    args = PrecomputeArgs(
        video_dirs=[str(clips)],
        encoders=str(encoders),
        output=str(out),
        num_frames=81,
        resolution=32,
        max_text_length=12,
        chi="none",
        lowercase=True,
        device="cpu",
    )
    result = precompute(args)
    assert result.written == 4 and result.skipped == 2  # broken.mp4 and the clip without a sidecar
    data = load_cache(out)
    assert len(data) == 4 and data.text_len == 12 and data.caption_channels == 24
    size = nearest_bucket(48, 64, make_buckets(32))  # landscape 48x64 clips -> a landscape bucket
    assert size[0] < size[1] and size[0] % 16 == 0 and size[1] % 16 == 0
    assert [b.shape for b in data.buckets] == [(4, 3, size[0] // 8, size[1] // 8)]  # 9 frames -> 3 latent
    assert "a red circle moves left motion score: 7." in data.captions
    index = json.loads((out / "index.json").read_text())
    assert index["skipped"] == 2
    # the normalisation is the VAE config's: z = (mu - mean) / std
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan.from_pretrained(encoders / "vae")
    frames = read_frames(str(clips / "clip0.mp4"), 81)
    with torch.no_grad():
        mu = vae.encode(resize_crop(frames, size)[None]).latent_dist.mean[0]
    mean = torch.tensor([0.1, -0.2, 0.0, 0.3])[:, None, None, None]
    std = torch.tensor([1.5, 0.5, 1.0, 2.0])[:, None, None, None]
    i = data.captions.index("a blue circle moves left")
    assert torch.allclose(data.batch([i], "cpu").latents[0], (mu - mean) / std, atol=1e-5)
    # running again reuses every item
    assert precompute(args).reused == 4
    # upstream's motion-score filter: only clip1 has a score (7.6)
    assert load_cache(out, motion_score_min=5).captions == ["a red circle moves left motion score: 7."]
    with pytest.raises(
        ValueError, match="no clip of .* has a motion score in \\[8, inf\\] \\(1 of 4 have one\\)"
    ):
        load_cache(out, motion_score_min=8)
    # a curriculum's sub-world: captions matching a regular expression, case-insensitive
    assert sorted(load_cache(out, caption_pattern="RED circle").captions) == [
        c for c in sorted(data.captions) if "red circle" in c
    ]
    with pytest.raises(ValueError, match="no caption of 4 clips in .* matches 'green'"):
        load_cache(out, caption_pattern="green")

    from sanavideo.train import TrainArgs, train

    run = TrainArgs.from_dict(
        {
            "output_dir": str(tmp_path / "run"),
            "max_steps": 2,
            "log_every": 1,
            "export": False,
            "device": "cpu",
            "data": {"cache_dir": str(out), "batch_size": 2},
        }
    )
    assert train(run).steps == 2
    run.data.caption_pattern = "green"  # the training config's sub-world reaches load_cache
    with pytest.raises(ValueError, match="matches 'green'"):
        train(run)


def test_training_from_videos_with_a_trainable_text_encoder(clips, encoders, tmp_path):
    from sanavideo.train import TrainArgs, train

    run = TrainArgs.from_dict(
        {
            "output_dir": str(tmp_path / "run"),
            "max_steps": 2,
            "log_every": 1,
            "device": "cpu",
            "data": {
                "video_dirs": [str(clips)],
                "encoders": str(encoders),
                "resolution": 32,
                "max_text_length": 12,
                "batch_size": 2,
            },
            "text_encoder": {"trainable": True, "path": str(encoders)},
            "objective": {"null_caption": "empty", "caption_dropout": 0.5},
            "export": True,
            "export_components_from": str(encoders),
        }
    )
    result = train(run)
    assert result.skipped_clips == 2
    cache = load_cache(tmp_path / "run" / "cache")
    assert cache.has("input_ids") and not cache.has("prompt_embeds")
    final = Path(result.export_dir)
    assert {p.name for p in final.iterdir()} >= {
        "transformer",
        "text_encoder",
        "tokenizer",
        "vae",
        "null_caption.safetensors",
        "train_config.yaml",
    }


def test_full_prompt_adds_the_motion_score_once():
    from sanavideo.data.video import full_prompt

    assert full_prompt(" a red circle ", 7.9) == "a red circle motion score: 7."  # upstream: int(score)
    assert (
        full_prompt("a red circle moves left motion score: 20.", 20)
        == "a red circle moves left motion score: 20."
    )
    assert full_prompt("a red circle", None) == "a red circle"
