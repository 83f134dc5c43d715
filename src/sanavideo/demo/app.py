"""The Gradio page: text-to-video, image-to-video, a long video that plays while it is made, and a gallery of
this visitor's results. UI only: the work is `jobs`, the bounds are `limits`, the model is the pipeline's.

Offline by construction: the default theme's fonts are served by Gradio itself (a web-font theme would be
fetched from the internet), analytics are off and there is no share link; every request the page makes goes to
this server (the browser test checks it).
"""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
import numpy as np

from sanavideo.demo.jobs import ClipRequest, StreamRequest, make_clip, stream_video
from sanavideo.demo.limits import DemoLimits
from sanavideo.timeline import parse_timeline_text

QUEUE = "generate"  # one concurrency group: all three kinds of work share the workers
VIDEO_HEIGHT = 320
CSS = "video, img { image-rendering: pixelated; }"  # small videos scaled up keep sharp pixels, not a blur


def _valid(names: list[str], bad: str | None = None, message: str = "") -> list[dict]:
    """One `gr.validate` per input, the message on the input named `bad`."""
    return [gr.validate(name != bad, message if name == bad else "") for name in names]


def _check(names: list[str], checks: list[tuple[str, object]]) -> list[dict]:
    """Run (input name, zero-argument check) pairs in order; the first failure marks its input."""
    for name, check in checks:
        try:
            check()
        except ValueError as err:
            return _valid(names, name, str(err))
        except TypeError:  # int(None): a number box left empty
            return _valid(names, name, f"{name}: fill in a number")
    return _valid(names)


class DemoApp:
    """Holds the pipeline, the limits and the output folder; `build()` makes the page."""

    def __init__(self, pipe, limits: DemoLimits, folder: Path) -> None:
        self.pipe = pipe
        self.limits = limits
        self.folder = Path(folder)
        self.opts = pipe.options
        self._stops: dict[str, threading.Event] = {}  # session -> Stop pressed

    # -- checks, run by Gradio before a request joins the queue ----------------------------------------------
    CLIP_INPUTS = ["prompt", "negative", "frames", "steps", "guidance", "seed", "height", "width"]

    def _clip_checks(self, prompt, negative, frames, steps, guidance, seed, height, width) -> list:
        lim, pipe = self.limits, self.pipe
        return [
            ("prompt", lambda: lim.check_prompt(prompt)),
            ("negative", lambda: negative and lim.check_prompt(negative, "negative prompt")),
            ("frames", lambda: lim.check_frames(int(frames))),
            ("frames", lambda: pipe.check_size(frames=int(frames))),
            ("steps", lambda: lim.check_steps(int(steps))),
            ("guidance", lambda: lim.check_guidance(float(guidance))),
            ("seed", lambda: lim.check_seed(int(seed))),
            ("height", lambda: lim.check_size(int(height), int(width))),
            ("height", lambda: pipe.check_size(int(height), int(width), use_resolution_binning=False)),
        ]

    def validate_t2v(self, prompt, negative, frames, steps, guidance, seed, height, width, gallery=None):
        checks = self._clip_checks(prompt, negative, frames, steps, guidance, seed, height, width)
        return _check([*self.CLIP_INPUTS, "gallery"], checks)

    def validate_i2v(
        self, image, prompt, negative, frames, steps, guidance, seed, height, width, gallery=None
    ):
        def has_image():
            if image is None:
                raise ValueError("upload a first frame for image-to-video")

        checks = [("image", has_image)] + self._clip_checks(
            prompt, negative, frames, steps, guidance, seed, height, width
        )
        return _check(["image", *self.CLIP_INPUTS, "gallery"], checks)

    LONG_INPUTS = ["timeline", "frames", "seed", "guidance"]

    def validate_long(self, timeline, frames, seed, guidance, gallery=None):
        lim = self.limits

        def timeline_ok():
            entries = parse_timeline_text(timeline or "", int(frames))
            lim.check_switches(len(entries) - 1)
            for _, prompt in entries:
                lim.check_prompt(prompt)

        checks = [
            ("frames", lambda: lim.check_frames(int(frames), long=True)),
            ("frames", lambda: self.pipe.check_size(frames=int(frames), use_resolution_binning=False)),
            ("timeline", timeline_ok),
            ("seed", lambda: lim.check_seed(int(seed))),
            ("guidance", lambda: lim.check_guidance(float(guidance))),
        ]
        return _check([*self.LONG_INPUTS, "gallery"], checks)

    # -- work ------------------------------------------------------------------------------------------------
    def _clip(self, image, prompt, negative, frames, steps, guidance, seed, height, width, gallery):
        request = ClipRequest(
            prompt=prompt,
            negative_prompt=negative or None,
            frames=int(frames),
            steps=int(steps),
            guidance=float(guidance),
            seed=int(seed),
            height=int(height),
            width=int(width),
            image=None if image is None else np.asarray(image, dtype=np.uint8),
        )
        path = str(make_clip(self.pipe, request, self.folder))
        gallery = [*(gallery or []), path]
        return path, gallery, gallery

    def t2v(self, prompt, negative, frames, steps, guidance, seed, height, width, gallery):
        return self._clip(None, prompt, negative, frames, steps, guidance, seed, height, width, gallery)

    def i2v(self, image, prompt, negative, frames, steps, guidance, seed, height, width, gallery):
        return self._clip(image, prompt, negative, frames, steps, guidance, seed, height, width, gallery)

    def long(self, timeline, frames, seed, guidance, gallery, request: gr.Request):
        stop = self._stops[request.session_hash] = threading.Event()
        entries = parse_timeline_text(timeline, int(frames))
        job = StreamRequest(entries, int(frames), int(seed), float(guidance))
        gallery = list(gallery or [])
        try:
            for progress in stream_video(self.pipe, job, self.folder, stop):
                status = (
                    f"{progress.frames_done} / {progress.frames_total} frames, "
                    f"{progress.fps:.1f} generated frames/s"
                )
                if progress.video is None:
                    yield str(progress.segment), gr.skip(), status, gr.skip(), gr.skip()
                else:
                    gallery.append(str(progress.video))
                    yield gr.skip(), str(progress.video), f"done: {status}", gallery, gallery
            if stop.is_set():
                yield gr.skip(), gr.skip(), "stopped", gr.skip(), gr.skip()
        finally:
            self._stops.pop(request.session_hash, None)

    def stop(self, request: gr.Request) -> str:
        event = self._stops.get(request.session_hash)
        if event is None:
            return "nothing is running"
        event.set()
        return "stopping after this chunk"

    # -- page ------------------------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        opts, lim = self.opts, self.limits
        with gr.Blocks(title="sanavideo demo", analytics_enabled=False) as page:
            gr.Markdown(
                "## sanavideo: SANA-Video on this machine\n"
                "Text-to-video, image-to-video and long videos with prompt changes, streamed as they are made."
            )
            gallery_state = gr.State([])
            with gr.Tabs():
                with gr.Tab("Text to video"):
                    t2v_inputs, t2v_button = self._clip_inputs(with_image=False)
                    t2v_video = gr.Video(
                        label="video", autoplay=True, loop=True, height=VIDEO_HEIGHT, elem_id="t2v-video"
                    )
                with gr.Tab("Image to video"):
                    i2v_inputs, i2v_button = self._clip_inputs(with_image=True)
                    i2v_video = gr.Video(
                        label="video", autoplay=True, loop=True, height=VIDEO_HEIGHT, elem_id="i2v-video"
                    )
                with gr.Tab("Long video"):
                    timeline = gr.Textbox(
                        label="timeline: the opening prompt, then one FRAME: PROMPT line per change",
                        value=f"a red circle bounces around\n{opts.frames * 4}: a red circle moves left",
                        lines=4,
                        elem_id="timeline",
                    )
                    with gr.Row():
                        long_frames = gr.Slider(
                            9,
                            lim.max_stream_frames,
                            value=min(opts.frames * 8 + 1, lim.max_stream_frames),
                            step=self.pipe.vae.temporal_stride,
                            label="frames",
                            elem_id="long-frames",
                        )
                        long_seed = gr.Number(0, label="seed", precision=0, elem_id="long-seed")
                        long_guidance = gr.Number(
                            opts.stream_guidance_scale, label="guidance (1 = off)", elem_id="long-guidance"
                        )
                    with gr.Row():
                        start = gr.Button("Start", variant="primary", elem_id="long-start")
                        stop = gr.Button("Stop", elem_id="long-stop")
                    status = gr.Markdown("", elem_id="long-status")
                    with gr.Row():
                        live = gr.Video(
                            label="live",
                            streaming=True,
                            autoplay=True,
                            height=VIDEO_HEIGHT,
                            elem_id="long-live",
                        )
                        finished = gr.Video(label="finished video", height=VIDEO_HEIGHT, elem_id="long-video")
                with gr.Tab("Gallery"):
                    gallery = gr.Gallery(label="your results (this visit)", columns=4, elem_id="gallery")

            common = dict(concurrency_id=QUEUE, concurrency_limit=lim.workers)
            t2v_button.click(
                self.t2v,
                [*t2v_inputs, gallery_state],
                [t2v_video, gallery_state, gallery],
                validator=self.validate_t2v,
                api_name="t2v",
                **common,
            )
            i2v_button.click(
                self.i2v,
                [*i2v_inputs, gallery_state],
                [i2v_video, gallery_state, gallery],
                validator=self.validate_i2v,
                api_name="i2v",
                **common,
            )
            start.click(
                self.long,
                [timeline, long_frames, long_seed, long_guidance, gallery_state],
                [live, finished, status, gallery_state, gallery],
                validator=self.validate_long,
                api_name="long",
                **common,
            )
            # outside the queue, so it is heard while the stream holds the worker; the stream sees the flag
            # before its next chunk and deletes its unfinished file
            stop.click(self.stop, None, status, queue=False, api_name=False)
        page.queue(max_size=lim.queue_size, default_concurrency_limit=lim.workers)
        return page

    def _clip_inputs(self, with_image: bool) -> tuple[list, gr.Button]:
        opts, lim = self.opts, self.limits
        prefix = "i2v" if with_image else "t2v"
        inputs = []
        if with_image:
            inputs.append(gr.Image(label="first frame", type="numpy", elem_id=f"{prefix}-image"))
        inputs.append(
            gr.Textbox(
                label="prompt", value="a red circle moves right", max_lines=3, elem_id=f"{prefix}-prompt"
            )
        )
        inputs.append(
            gr.Textbox(label="negative prompt", value=opts.negative_prompt, elem_id=f"{prefix}-negative")
        )
        stride = self.pipe.vae.temporal_stride
        with gr.Row():
            inputs.append(
                gr.Slider(
                    1,
                    lim.max_frames,
                    value=opts.frames,
                    step=stride,
                    label="frames",
                    elem_id=f"{prefix}-frames",
                )
            )
            inputs.append(
                gr.Slider(
                    1,
                    lim.max_steps,
                    value=opts.num_inference_steps,
                    step=1,
                    label="steps",
                    elem_id=f"{prefix}-steps",
                )
            )
            inputs.append(
                gr.Slider(
                    1.0,
                    lim.max_guidance,
                    value=opts.guidance_scale,
                    step=0.5,
                    label="guidance",
                    elem_id=f"{prefix}-guidance",
                )
            )
        with gr.Row():
            inputs.append(gr.Number(0, label="seed", precision=0, elem_id=f"{prefix}-seed"))
            inputs.append(gr.Number(opts.height, label="height", precision=0, elem_id=f"{prefix}-height"))
            inputs.append(gr.Number(opts.width, label="width", precision=0, elem_id=f"{prefix}-width"))
        button = gr.Button("Generate", variant="primary", elem_id=f"{prefix}-generate")
        return inputs, button


def launch(pipe, limits: DemoLimits, folder: Path, host: str, port: int, **kwargs):
    """Build the page and serve it (blocking unless `prevent_thread_lock=True` is passed)."""
    page = DemoApp(pipe, limits, folder).build()
    return page.launch(
        server_name=host,
        server_port=port,
        share=False,
        css=CSS,
        allowed_paths=[str(folder)],
        show_error=True,
        **kwargs,
    )
