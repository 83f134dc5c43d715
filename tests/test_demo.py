"""The demo's parts without a browser: limits, the work it runs on the embedded model, and the page's checks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from demo_support import require_demo_extra

from sanavideo.demo.jobs import ClipRequest, StreamRequest, make_clip, stream_video
from sanavideo.demo.limits import DemoLimits
from sanavideo.video_io import read_video


@pytest.fixture(scope="module")
def pipe():
    from sanavideo.pipeline import SanaVideoPipeline

    return SanaVideoPipeline.from_pretrained()


def test_limits_refuse_with_actual_and_allowed_values():
    lim = DemoLimits(max_prompt_chars=10, max_frames=17, max_stream_frames=33, max_steps=8, max_side=64)
    with pytest.raises(ValueError, match="the prompt has 11 characters; this demo takes at most 10"):
        lim.check_prompt("x" * 11)
    with pytest.raises(ValueError, match="the prompt is empty"):
        lim.check_prompt("   ")
    with pytest.raises(ValueError, match="a clip has from 1 to 17 frames in this demo, got 21"):
        lim.check_frames(21)
    with pytest.raises(ValueError, match="a long video has from 1 to 33 frames in this demo, got 37"):
        lim.check_frames(37, long=True)
    with pytest.raises(ValueError, match="steps must be from 1 to 8, got 9"):
        lim.check_steps(9)
    with pytest.raises(ValueError, match="guidance must be from 1"):
        lim.check_guidance(0.5)
    with pytest.raises(ValueError, match="seed must be from 0"):
        lim.check_seed(-1)
    with pytest.raises(ValueError, match="from 1 to 64 pixels here, got 128x64"):
        lim.check_size(128, 64)
    with pytest.raises(ValueError, match="at most 8"):
        lim.check_switches(9)
    lim.check_prompt("a circle")
    lim.check_frames(17)
    with pytest.raises(ValueError, match="queue_size and workers must be >= 1"):
        DemoLimits(workers=0)
    with pytest.raises(ValueError, match="DemoLimits.max_frames must be int"):
        DemoLimits(max_frames="81")


def test_clip_is_a_playable_video_of_the_requested_frames(pipe, tmp_path):
    path = make_clip(pipe, ClipRequest("a red circle moves right", frames=9, steps=2, seed=1), tmp_path)
    frames, fps = read_video(path)
    assert path.parent == tmp_path and frames.shape == (9, 64, 64, 3) and fps == pipe.options.fps


def test_image_to_video_starts_from_the_image(pipe, tmp_path):
    image = np.zeros((64, 64, 3), np.uint8)
    image[20:40, 20:40] = (255, 0, 0)
    path = make_clip(pipe, ClipRequest("a red square", frames=5, steps=2, image=image), tmp_path)
    frames, _ = read_video(path)
    # frame 0 comes back through the VAE: red where the square was, dark elsewhere
    assert frames[0, 30, 30, 0] > 150 and frames[0, 30, 30, 1] < 100 and frames[0, 5, 5].max() < 80


def test_long_video_streams_segments_then_the_whole(pipe, tmp_path):
    request = StreamRequest([(0, "a red circle bounces around"), (20, "a red circle moves left")], frames=37)
    updates = list(stream_video(pipe, request, tmp_path))
    segments = [u for u in updates if u.segment is not None]
    assert len(segments) >= 2 and updates[-1].video is not None
    done = [u.frames_done for u in segments]
    assert done == sorted(done) and done[-1] == 37
    assert sum(len(read_video(u.segment)[0]) for u in segments) == 37
    whole, _ = read_video(updates[-1].video)
    assert len(whole) == 37


def test_stop_ends_the_stream_at_the_next_chunk_and_keeps_no_partial_file(pipe, tmp_path):
    stop = threading.Event()
    request = StreamRequest([(0, "a red circle bounces around")], frames=97)
    updates = []
    for update in stream_video(pipe, request, tmp_path, stop):
        updates.append(update)
        stop.set()
    assert len(updates) == 1 and updates[0].frames_done < 97 and updates[0].video is None
    assert not list(tmp_path.glob("long-*")) and not list(tmp_path.glob(".*"))  # no whole video, no temporary


def test_page_checks_mark_the_offending_input(pipe, tmp_path):
    require_demo_extra()
    from sanavideo.demo.app import DemoApp

    app = DemoApp(pipe, DemoLimits(max_frames=33), tmp_path)
    ok = app.validate_t2v("a red circle", "", 33, 20, 3.0, 0, 64, 64)
    assert all(v["is_valid"] for v in ok)

    def bad(result):
        return [(i, v["message"]) for i, v in enumerate(result) if not v["is_valid"]]

    assert bad(app.validate_t2v("a red circle", "", 37, 20, 3.0, 0, 64, 64)) == [
        (2, "a clip has from 1 to 33 frames in this demo, got 37")
    ]
    [(index, message)] = bad(app.validate_t2v("a red circle", "", 31, 20, 3.0, 0, 64, 64))
    assert index == 2 and "frames must be 4k+1" in message and "got 31" in message
    [(index, message)] = bad(app.validate_t2v("a red circle", "", 33, 20, 3.0, 0, 64, 60))
    assert index == 6 and "multiples" in message and "64x60" in message
    assert bad(app.validate_t2v("a red circle", "", 33, 20, 3.0, None, 64, 64)) == [
        (5, "seed: fill in a number")
    ]
    [(index, message)] = bad(app.validate_i2v(None, "a red circle", "", 33, 20, 3.0, 0, 64, 64))
    assert index == 0 and "upload a first frame" in message
    [(index, message)] = bad(app.validate_long("a red circle\n500: a blue circle", 97, 0, 1.0))
    assert index == 0 and "a timeline line at frame 500 is past the end of the 97-frame video" in message
    assert all(v["is_valid"] for v in app.validate_long("a red circle\n48: a blue circle", 97, 0, 1.0))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org"])
def test_share_nothing_refuses_a_reachable_host(host, capsys):
    from sanavideo.cli import main

    assert main(["demo", "--share-nothing", "--host", host]) == 2
    assert (
        f"--share-nothing listens on this machine only; --host {host} is reachable" in capsys.readouterr().err
    )
