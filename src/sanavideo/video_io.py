"""Video and image files: atomic writers (mp4 / gif / png frames), a reader, and image loading.

Frames are `uint8` arrays `(T, H, W, 3)` in RGB, or floats in [0, 1] of the same layout (converted with
rounding). Every writer puts its bytes in a temporary file in the destination folder and `os.replace`s it onto
the final name only when the whole video is written, so a crash or a bad input never leaves a half-written
file behind. `VideoWriter` appends frame chunks as they come (used by chunked / streaming generation);
`write_video` is the one-shot form.

Formats, chosen by the output suffix:
- `.mp4`: H.264 (`libx264`, yuv420p, CRF 18) through PyAV. yuv420p needs an even width and height.
- `.gif`: Pillow animated GIF, looping, frame duration `1000 / fps` ms (GIF stores centiseconds).
- `.png`: one PNG per frame, named `<stem>_00000.png`, `<stem>_00001.png`, ... beside the given path.
"""

from __future__ import annotations

import glob
import os
import shutil
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from sanavideo.fsutil import publish, temp_sibling

VIDEO_SUFFIXES = (".mp4", ".gif", ".png")


def to_uint8_frames(frames: np.ndarray) -> np.ndarray:
    """Check a `(T, H, W, 3)` frame array and return it as `uint8` (floats are taken to be in [0, 1])."""
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] == 3:  # a single frame (H, W, 3) -> (1, H, W, 3)
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3) in RGB, got {tuple(frames.shape)}")
    if frames.dtype == np.uint8:
        return frames
    if np.issubdtype(frames.dtype, np.floating):
        return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    raise ValueError(f"frames must be uint8 or float in [0, 1], got dtype {frames.dtype}")


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"unsupported output suffix {path.suffix!r} for {path}; expected one of {VIDEO_SUFFIXES}"
        )
    return suffix


class VideoWriter:
    """Incremental, atomic video writer: `append` frame chunks, `close` to publish, `abort` to discard.

    Use it as a context manager: leaving the block normally publishes the file; an exception deletes the
    temporary file and leaves any existing file at `path` untouched.

        with VideoWriter("out.mp4", fps=16) as writer:
            for chunk in chunks:          # each (t, H, W, 3)
                writer.append(chunk)
    """

    def __init__(self, path: str | os.PathLike, fps: float = 16.0) -> None:
        self.path = Path(path)
        self.suffix = _check_suffix(self.path)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (H, W), fixed by the first chunk
        self._closed = False
        self._container = None
        self._stream = None
        self._gif_frames: list[Image.Image] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path, directory=self.suffix == ".png")

    # -- writing -------------------------------------------------------------------------------------------
    def append(self, frames: np.ndarray) -> None:
        """Append a chunk of frames `(t, H, W, 3)` (uint8, or float in [0, 1])."""
        if self._closed:
            raise RuntimeError(f"VideoWriter for {self.path} is already closed")
        frames = to_uint8_frames(frames)
        height, width = frames.shape[1:3]
        if self.size is None:
            if self.suffix == ".mp4" and (height % 2 or width % 2):
                raise ValueError(
                    f"H.264 mp4 (yuv420p) needs an even height and width, got {height}x{width}; "
                    "use a .gif or .png output, or an even size"
                )
            self.size = (height, width)
        elif self.size != (height, width):
            raise ValueError(f"frame size changed from {self.size} to {(height, width)} within one video")
        if self.suffix == ".mp4":
            self._append_mp4(frames)
        elif self.suffix == ".gif":
            self._gif_frames.extend(Image.fromarray(f) for f in frames)
        else:
            for i, frame in enumerate(frames):
                name = f"{self.path.stem}_{self.frames_written + i:05d}.png"
                Image.fromarray(frame).save(self._tmp / name)
        self.frames_written += len(frames)

    def _append_mp4(self, frames: np.ndarray) -> None:
        import av

        if self._container is None:
            self._container = av.open(str(self._tmp), mode="w", format="mp4")
            rate = Fraction(self.fps).limit_denominator(1001)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.height, self._stream.width = self.size
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": "18"}
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)

    # -- finishing -----------------------------------------------------------------------------------------
    def close(self) -> Path:
        """Finish the file and move it onto `path` atomically. Returns the final path."""
        if self._closed:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"no frames were written to {self.path}")
        try:
            if self.suffix == ".mp4":
                for packet in self._stream.encode():  # flush the encoder
                    self._container.mux(packet)
                self._container.close()
                self._container = None
                publish(self._tmp, self.path)
            elif self.suffix == ".gif":
                duration_ms = 1000.0 / self.fps
                first, *rest = self._gif_frames
                first.save(
                    self._tmp, format="GIF", save_all=True, append_images=rest, duration=duration_ms, loop=0
                )
                publish(self._tmp, self.path)
            else:
                for frame_file in sorted(self._tmp.iterdir()):
                    publish(frame_file, self.path.parent / frame_file.name)
                self._tmp.rmdir()
                for stale in self._stale_frames():  # frames of an earlier, longer video to the same path
                    stale.unlink(missing_ok=True)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def _stale_frames(self) -> list[Path]:
        """PNG frames `<stem>_NNNNN.png` beside `path` numbered past the frames this writer wrote."""
        stale = []
        for f in self.path.parent.glob(f"{glob.escape(self.path.stem)}_*.png"):
            number = f.stem[len(self.path.stem) + 1 :]
            if len(number) == 5 and number.isdigit() and int(number) >= self.frames_written:
                stale.append(f)
        return stale

    @property
    def written_name(self) -> str:
        """What to tell the user was written: the file, or for PNG frames the pattern of their names."""
        if self.suffix == ".png":
            return str(
                self.path.parent
                / f"{self.path.stem}_00000.png ... {self.path.stem}_{self.frames_written - 1:05d}.png"
            )
        return str(self.path)

    def abort(self) -> None:
        """Discard everything written so far (the temporary file or folder); `path` is left untouched."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the container may be half-initialised; we delete it anyway
                pass
            self._container = None
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 16.0) -> Path:
    """Write a whole video `(T, H, W, 3)` atomically; the format follows the suffix (.mp4, .gif, .png)."""
    frames = to_uint8_frames(frames)
    with VideoWriter(path, fps=fps) as writer:
        writer.append(frames)
    return writer.path


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode a video file with PyAV. Returns `(frames uint8 (T, H, W, 3), fps)`."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video file at {path}")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path} contains no video frames")
    return np.stack(frames), float(rate) if rate else 0.0


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB, 8 bits per channel. PIL's own convert("RGB") clips 16/32-bit grayscale ("I;16", "I") at 255 instead
    of scaling it, which turns a 16-bit PNG almost white; scale those to 8 bits first."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max() > 255 else 255.0
        img = Image.fromarray(np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.round(np.asarray(img) * 255.0), 0, 255).astype(np.uint8), mode="L")
    return img.convert("RGB")


def load_image(image: str | os.PathLike | Image.Image) -> Image.Image:
    """Open an image file (or pass through a PIL image) as 8-bit RGB, with an error that names the path."""
    if isinstance(image, Image.Image):
        return _to_rgb(image)
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            return _to_rgb(img)
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError ... for bad files
        raise ValueError(f"cannot read image {path}: {err}") from err
