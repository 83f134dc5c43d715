"""Atomic video writing (mp4 / gif / png), reading back with PyAV, and image loading."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sanavideo.video_io import VideoWriter, load_image, read_video, write_video


def frames(t=9, h=32, w=48, seed=0) -> np.ndarray:
    """Smooth moving gradients (H.264-friendly), uint8 (T, H, W, 3)."""
    y, x = np.mgrid[0:h, 0:w]
    out = [
        np.stack([(x * 5 + 10 * i) % 256, (y * 7) % 256, np.full_like(x, 40 * (i % 6))], -1) for i in range(t)
    ]
    return np.asarray(out, dtype=np.uint8)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_mp4_round_trip(tmp_path):
    video = frames()
    path = write_video(tmp_path / "clip.mp4", video, fps=16)
    decoded, fps = read_video(path)
    assert decoded.shape == video.shape and fps == pytest.approx(16)
    assert np.abs(decoded.astype(int) - video.astype(int)).mean() < 8  # lossy but close
    assert leftovers(tmp_path) == []


def test_incremental_writer_appends_chunks(tmp_path):
    video = frames(t=13)
    with VideoWriter(tmp_path / "long.mp4", fps=12.5) as writer:
        for start in range(0, 13, 5):
            writer.append(video[start : start + 5].astype(np.float32) / 255.0)  # floats in [0, 1]
    decoded, fps = read_video(tmp_path / "long.mp4")
    assert decoded.shape[0] == 13 and fps == pytest.approx(12.5)


def test_error_deletes_temp_and_keeps_old_file(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(target, fps=16) as writer:
            writer.append(frames(t=3))
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_bad_inputs_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="even height and width, got 31x48"):
        write_video(tmp_path / "odd.mp4", frames(h=31))
    with pytest.raises(ValueError, match=r"frames must have shape \(T, H, W, 3\)"):
        write_video(tmp_path / "bad.mp4", np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="unsupported output suffix '.avi'"):
        write_video(tmp_path / "x.avi", frames())
    with pytest.raises(ValueError, match="frame size changed"):
        with VideoWriter(tmp_path / "y.gif") as writer:
            writer.append(frames(h=16))
            writer.append(frames(h=32))
    assert list(tmp_path.iterdir()) == []


def test_gif_and_png(tmp_path):
    video = frames(t=5, h=16, w=16)
    write_video(tmp_path / "a.gif", video, fps=10)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16) and gif.info["duration"] == 100
    write_video(tmp_path / "f.png", video)
    pngs = sorted(p.name for p in tmp_path.glob("f_*.png"))
    assert pngs == [f"f_{i:05d}.png" for i in range(5)]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f_00003.png")), video[3])
    assert leftovers(tmp_path) == []


def test_load_image(tmp_path):
    Image.fromarray(frames(t=1)[0]).convert("L").save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").mode == "RGB"
    (tmp_path / "bad.jpg").write_text("nope")
    with pytest.raises(ValueError, match="cannot read image"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(FileNotFoundError, match="image file not found"):
        load_image(tmp_path / "none.png")


def test_png_over_a_longer_earlier_run_leaves_only_the_new_frames(tmp_path):
    from sanavideo.video_io import VideoWriter

    (tmp_path / "out_backup_00001.png").write_bytes(b"not ours")  # another stem sharing the prefix
    write_video(tmp_path / "out.png", np.zeros((9, 8, 8, 3), np.uint8))
    with VideoWriter(tmp_path / "out.png") as writer:
        writer.append(np.full((5, 8, 8, 3), 255, np.uint8))
    names = sorted(p.name for p in tmp_path.glob("out_*.png"))
    assert names == [f"out_{i:05d}.png" for i in range(5)] + ["out_backup_00001.png"]
    assert writer.written_name.endswith("out_00000.png ... out_00004.png")


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    gray = np.full((8, 8), 32768, np.uint16)  # mid-gray in 16 bits
    Image.fromarray(gray).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as img:
        assert img.mode.startswith("I")  # PIL reads it as a 16/32-bit integer image
    rgb = np.asarray(load_image(tmp_path / "g16.png"))
    assert rgb.shape == (8, 8, 3) and abs(int(rgb[0, 0, 0]) - 128) <= 1  # not 255
