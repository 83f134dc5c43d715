"""The demo as a visitor meets it: `sanavideo demo` started on 127.0.0.1 with the embedded model, driven by a
headless Chromium (Playwright), and by 20 HTTP clients at once.

Screenshots go to a temporary folder, or to SANAVIDEO_DEMO_SHOTS (docs/demo/ holds the committed ones).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from demo_support import require_browser

pytestmark = pytest.mark.slow

FPS = 16  # the embedded model's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Server:
    """`sanavideo demo` in a child process with its own empty working, home and temporary folders."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dirs = {name: root / name for name in ("cwd", "home", "tmp")}
        for d in self.dirs.values():
            d.mkdir()
        env = {**os.environ, "HOME": str(self.dirs["home"]), "TMPDIR": str(self.dirs["tmp"])}
        env.pop("GRADIO_TEMP_DIR", None)
        self.log = root / "server.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sanavideo", "demo", "--port", str(self.port), "--max-frames", "33"],
            cwd=self.dirs["cwd"],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the demo server did not answer in 120 s: {self.log.read_text()[-2000:]}")
        self.workspace = Path(re.search(r"results in (\S+)\)", self.log.read_text()).group(1))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chromium():
    return require_browser()


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("demo"))
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("SANAVIDEO_DEMO_SHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh visitor; every request the page makes is recorded and must go to the server."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    hosts: set[str] = set()
    pg.on("request", lambda r: hosts.add(r.url.split("/")[2]) if "://" in r.url else None)
    pg.goto(server.url)
    pg.wait_for_selector("#t2v-generate")
    yield pg
    context.close()
    assert hosts <= {f"127.0.0.1:{server.port}"}, f"the page fetched from elsewhere: {hosts}"


def _set_number(pg, selector: str, value) -> None:
    box = pg.locator(f"{selector} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def _video_duration(pg, selector: str) -> float | None:
    return pg.evaluate(
        f"() => {{ const v = document.querySelector('{selector} video'); return v ? v.duration : null }}"
    )


def test_text_to_video_plays_a_video_of_the_requested_length(page, shots):
    page.fill("#t2v-prompt textarea", "a blue square moves left")
    _set_number(page, "#t2v-frames", 17)
    _set_number(page, "#t2v-steps", 8)
    page.click("#t2v-generate")
    page.wait_for_function(
        "() => { const v = document.querySelector('#t2v-video video'); return v && v.duration > 0 }",
        timeout=120_000,
    )
    assert _video_duration(page, "#t2v-video") == pytest.approx(17 / FPS, abs=0.07)
    page.screenshot(path=str(shots / "text-to-video.png"))
    page.get_by_role("tab", name="Gallery").click()
    page.wait_for_selector("#gallery video, #gallery img", timeout=10_000)


def test_long_video_grows_while_it_is_made_and_ends_whole(page, shots):
    page.get_by_role("tab", name="Long video").click()
    page.fill("#timeline textarea", "a red circle bounces around\n48: a red circle moves left")
    _set_number(page, "#long-frames", 97)
    page.click("#long-start")
    seen, deadline = [], time.monotonic() + 180
    while time.monotonic() < deadline:
        status = page.inner_text("#long-status")
        duration = _video_duration(page, "#long-live")
        if duration and duration == duration and (not seen or duration > seen[-1]):  # NaN != NaN
            seen.append(duration)
        if status.startswith("done"):
            break
        time.sleep(0.2)
    assert status.startswith("done: 97 / 97 frames"), status
    assert len(seen) >= 3, f"the live video did not grow while generating: durations {seen}"
    page.wait_for_function(
        "() => { const v = document.querySelector('#long-video video'); return v && v.duration > 0 }",
        timeout=30_000,
    )
    assert _video_duration(page, "#long-video") == pytest.approx(97 / FPS, abs=0.07)
    assert re.search(r"[\d.]+ generated frames/s", status)
    page.screenshot(path=str(shots / "long-video.png"))


def test_stop_frees_the_worker(page):
    page.get_by_role("tab", name="Long video").click()
    page.fill("#timeline textarea", "a red circle bounces around")
    _set_number(page, "#long-frames", 961)
    page.click("#long-start")
    page.wait_for_function(
        "() => /\\d+ \\/ 961 frames/.test(document.querySelector('#long-status').innerText)"
    )
    page.click("#long-stop")
    page.wait_for_function(
        "() => document.querySelector('#long-status').innerText.includes('stopped')", timeout=30_000
    )
    page.get_by_role("tab", name="Text to video").click()
    _set_number(page, "#t2v-frames", 9)
    _set_number(page, "#t2v-steps", 2)
    page.click("#t2v-generate")  # runs at once: the stopped stream no longer holds the worker
    page.wait_for_function(
        "() => { const v = document.querySelector('#t2v-video video'); return v && v.duration > 0 }",
        timeout=60_000,
    )


def test_over_limit_input_is_refused_with_a_message(page):
    page.fill("#t2v-prompt textarea", "a red circle " * 30)
    page.click("#t2v-generate")
    page.get_by_text("this demo takes at most 300").first.wait_for(timeout=10_000)
    assert _video_duration(page, "#t2v-video") is None


def _post(server: Server, name: str, data: list) -> tuple[int, str]:
    body = json.dumps({"data": data}).encode()
    req = urllib.request.Request(
        f"{server.url}/gradio_api/call/{name}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _result(server: Server, name: str, event_id: str) -> str:
    with urllib.request.urlopen(f"{server.url}/gradio_api/call/{name}/{event_id}", timeout=300) as r:
        return r.read().decode()


def test_twenty_clients_at_once_are_queued_and_the_server_holds(server):
    rss_before = _rss_mb(server.proc.pid)
    clip = ["a red circle moves right", "", 9, 2, 3.0, 0, 64, 64]
    answers: list = [None] * 20
    barrier = threading.Barrier(20)

    def client(i: int) -> None:
        barrier.wait()
        status, body = _post(server, "t2v", clip)
        if status == 200:
            body = _result(server, "t2v", json.loads(body)["event_id"])
        answers[i] = (status, body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert all(a is not None for a in answers), "a client got no answer"
    done = [body for status, body in answers if status == 200]
    full = [body for status, body in answers if status == 503]
    assert len(done) + len(full) == 20, [a[0] for a in answers]
    assert len(done) >= 16, f"only {len(done)} of 20 were queued (queue size 16)"
    assert all("event: complete" in body and ".mp4" in body for body in done)
    assert all("Queue is full" in body for body in full)
    # over-limit input: refused before the queue, with the reason (the frames slider's own bound, then ours)
    status, body = _post(server, "t2v", ["a red circle", "", 81, 2, 3.0, 0, 64, 64])
    assert status == 400 and "Value 81 is greater than maximum value 33" in body
    status, body = _post(server, "t2v", ["a red circle " * 30, "", 9, 2, 3.0, 0, 64, 64])
    assert status == 422 and "the prompt has 390 characters; this demo takes at most 300" in body
    assert server.proc.poll() is None
    assert _rss_mb(server.proc.pid) - rss_before < 400, "server memory grew by more than 400 MB"


def test_stopping_the_server_leaves_nothing_behind(server):
    assert server.workspace.is_dir()
    server.stop()
    assert server.proc.returncode is not None
    assert not server.workspace.exists(), "the results folder outlived the server"
    for name in ("cwd", "home"):
        left = [p.name for p in server.dirs[name].rglob("*")]
        assert not left, f"the demo wrote into its {name}: {left}"
    assert [p.name for p in server.dirs["tmp"].iterdir()] == []
