"""`sanavideo demo`: serve the web demo (needs the `demo` extra: pip install -e ".[demo]")."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from sanavideo.cli.fields import add_field_arguments
    from sanavideo.demo.limits import DemoLimits

    p = sub.add_parser(
        "demo",
        help="serve a web demo: text/image-to-video and a long video that plays while it is made",
        description="A Gradio page on HOST:PORT (offline: no fonts, scripts or analytics from the internet, no "
        "share link). Results live in a temporary folder removed when the server stops.",
    )
    p.add_argument("--model", default=None, help="model folder or checkpoint (default: the embedded model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--share-nothing",
        action="store_true",
        help="refuse a --host that other machines can reach (only loopback addresses); with or without it "
        "there is no share link, no telemetry and no fetch from the internet",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    add_field_arguments(p.add_argument_group("limits"), DemoLimits)
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from sanavideo.cli.fields import from_args
    from sanavideo.demo.limits import DemoLimits

    limits = from_args(DemoLimits, args)
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be from 1 to 65535, got {args.port}")
    if args.share_nothing and not _is_loopback(args.host):
        raise ValueError(
            f"--share-nothing listens on this machine only; --host {args.host} is reachable from others "
            "(use 127.0.0.1, ::1 or localhost)"
        )
    workspace = Path(tempfile.mkdtemp(prefix="sanavideo-demo-"))
    # Read when the libraries are imported: Gradio's uploads and caches, matplotlib's font cache (Gradio imports
    # it) and torch's compile cache all go into our folder, and Gradio phones nowhere.
    os.environ["GRADIO_TEMP_DIR"] = str(workspace / "gradio")
    os.environ["MPLCONFIGDIR"] = str(workspace / "matplotlib")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(workspace / "torchinductor")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        try:
            from sanavideo.demo.app import launch
        except ImportError as err:
            raise ValueError(f'the demo needs the demo extra: pip install -e ".[demo]" ({err})') from None
        from sanavideo.device import inference_dtype, resolve_device
        from sanavideo.pipeline import SanaVideoPipeline

        device = resolve_device(args.device)
        pipe = SanaVideoPipeline.from_pretrained(args.model).to(device, inference_dtype(device))
        results = workspace / "results"
        results.mkdir()
        print(
            f"sanavideo demo: serving on http://{args.host}:{args.port} (results in {workspace})", flush=True
        )
        launch(pipe, limits, results, args.host, args.port)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return 0
