"""Benchmark of the web app's footage streaming and annotation API, in one run.

Builds a throwaway installation under /tmp with a synthetic ``playback`` rendition of
``--size-mib`` MiB (random bytes, encrypted as the real rendition would be: transport
is what is timed), starts ONE real HTTP server in a child process (werkzeug's threaded
server on 127.0.0.1, HTTP/1.1 keep-alive) that serves both

* the verp app: ``/api/v1/clips/<id>/media`` decrypting only the covering segments;
* a bench-only app under ``/plain``: the same bytes in plaintext through Flask's
  ``send_file(path, conditional=True)``. Werkzeug's server offers no
  ``wsgi.file_wrapper``, so Werkzeug's own seekable FileWrapper serves ranges by
  seeking: the fair baseline (gunicorn's non-seekable wrapper would read and discard
  every byte before a range's start),

and measures with keep-alive HTTP clients (``requests.Session``):

* p50/p95 of ``--ranges`` random 1 MiB Range requests, encrypted vs plaintext
  (alternating, every body checked against the plaintext), and the same with 100-byte
  ranges, which shows each side's fixed cost per request (the verp side signs the
  session cookie, loads the user, checks role, site, consent and the playback session);
* full-stream throughput (no Range), both ways, median of 3;
* annotation create latency with ``--clients`` concurrent signed-in clients (threads,
  each with its own session and CSRF token).

Usage: ``python bench/web.py --json`` (``--size-mib 64`` for a quick run). Exit status
0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

import requests  # noqa: E402

from bench.pgschema import DEFAULT_POSTGRES, pg_schema  # noqa: E402
from bench.seeding import seed_playback_clip  # noqa: E402

MiB = 1024 * 1024
RANGE_BYTES = MiB
TARGET_RANGE_P95_RATIO = 1.5
TARGET_STREAM_RATIO = 0.5
#: 20 concurrent coders creating annotations on one clip (issue 13).
TARGET_ANNOTATION_P95_MS = 100.0
#: A generous bitrate for a tablet rendition (1080p H.264 at crf 23 is about 5-8 Mbit/s).
VIDEO_MBIT_S = 8.0
PASSWORD = "bench-password-not-secret"
EMAIL = "facilitator@bench.example.org"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def overrides(home: Path, database_url: str = "") -> dict[str, Any]:
    extra = {"database.url": database_url} if database_url else {}
    return {
        "paths.home": str(home), "web.secure_cookies": False, "queue.url": "memory://", **extra,
    }  # fmt: skip


# -- set-up (parent) -----------------------------------------------------------------


def build_installation(home: Path, plain: Path, size: int, database_url: str = "") -> str:
    """A site, a facilitator, a consent and a ready clip whose playback rendition is
    ``size`` random bytes (also written in plaintext to ``plain``); returns the clip id."""
    from config import load_settings

    settings = load_settings(environ={}, overrides=overrides(home, database_url))
    return seed_playback_clip(
        settings, plain, size, slug="bench", family="FAM-9000", email=EMAIL, password=PASSWORD
    )


# -- the server (child process) ------------------------------------------------------


def serve(home: Path, plain: Path, database_url: str = "") -> None:
    """Serve verp and the plaintext baseline on one threaded werkzeug server."""
    from flask import Flask, Response, send_file
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import make_server

    from config import load_settings
    from webapp.app import create_app
    from webapp.composition import build_services

    # One log line per request would be timed too (equally for both sides): keep quiet.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = load_settings(environ={}, overrides=overrides(home, database_url))
    app = create_app(services=build_services(settings))
    baseline = Flask("bench_plain")
    baseline.config["USE_X_SENDFILE"] = False

    @baseline.get("/file")
    def plain_file() -> Response:
        return send_file(plain, mimetype="video/mp4", conditional=True, max_age=0)

    wsgi = DispatcherMiddleware(app, {"/plain": baseline})
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


# -- measurements (parent) -----------------------------------------------------------


def signed_in(base: str) -> tuple[requests.Session, str]:
    """A keep-alive session signed in as the bench facilitator, and its CSRF token."""
    http = requests.Session()
    token = _token(http.get(f"{base}/login").text)
    response = http.post(
        f"{base}/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")
    return http, _token(http.get(f"{base}/account").text)


def _token(html: str) -> str:
    found = _META.search(html)
    if found is None:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 3),
        "p95_ms": round(percentile(values, 95) * 1000, 3),
        "mean_ms": round(statistics.fmean(values) * 1000, 3),
    }


def ranges(
    http: requests.Session,
    urls: dict[str, str],
    plain: Path,
    size: int,
    count: int,
    length: int = RANGE_BYTES,
) -> dict[str, dict[str, float]]:
    """Random ranges of ``length`` bytes, alternating between the two URLs; bodies
    verified."""
    rng = random.Random(7 + length)
    starts = [rng.randrange(0, size - length) for _ in range(count)]
    timings: dict[str, list[float]] = {name: [] for name in urls}
    with plain.open("rb") as source:
        for url in urls.values():  # warm up connections, caches and the session
            for start in starts[:5]:
                http.get(url, headers={"Range": f"bytes={start}-{start + 99}"}).raise_for_status()
        for i, start in enumerate(starts):
            source.seek(start)
            expected = source.read(length)
            order = list(urls.items()) if i % 2 == 0 else list(urls.items())[::-1]
            for name, url in order:
                header = {"Range": f"bytes={start}-{start + length - 1}"}
                began = time.perf_counter()
                response = http.get(url, headers=header)
                body = response.content
                timings[name].append(time.perf_counter() - began)
                if response.status_code != 206 or body != expected:
                    raise RuntimeError(f"{name}: wrong answer for a range at {start}")
    return {name: summary_ms(values) for name, values in timings.items()}


def stream(http: requests.Session, url: str, size: int, runs: int = 3) -> dict[str, float]:
    """Whole-body download rate (MiB/s), median of ``runs``."""
    rates = []
    for _ in range(runs):
        began = time.perf_counter()
        received = 0
        with http.get(url, stream=True) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=MiB):
                received += len(chunk)
        elapsed = time.perf_counter() - began
        if received != size:
            raise RuntimeError(f"short stream from {url}: {received} of {size}")
        rates.append(size / MiB / elapsed)
    return {"mib_per_s": round(statistics.median(rates), 1), "runs": runs}


def annotation_create(base: str, clip_id: str, clients: int, per_client: int) -> dict[str, Any]:
    """Create annotations from ``clients`` concurrent signed-in clients."""
    sessions = [signed_in(base) for _ in range(clients)]
    url = f"{base}/api/v1/clips/{clip_id}/annotations"
    timings: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def work(index: int) -> None:
        http, token = sessions[index]
        barrier.wait()
        for n in range(per_client):
            body = {"start_ms": (index * per_client + n) * 100, "subject": "infant",
                    "scheme_id": "infant-cues", "codes": ["smiling"], "text": "bench"}  # fmt: skip
            began = time.perf_counter()
            response = http.post(url, json=body, headers={"X-CSRFToken": token})
            elapsed = time.perf_counter() - began
            if response.status_code != 201:
                raise RuntimeError(f"create failed: {response.status_code} {response.text[:200]}")
            with lock:
                timings.append(elapsed)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    wall = time.perf_counter() - began
    return {
        "clients": clients,
        "created": len(timings),
        "per_second": round(len(timings) / wall, 1),
        **summary_ms(timings),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.postgres:
        with pg_schema(args.postgres, "bench_web") as url:
            return _run(args, url)
    return _run(args, "")


def _run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="verp-bench-web-") as tmp:
        home, plain = Path(tmp) / "home", Path(tmp) / "plain.bin"
        clip_id = build_installation(home, plain, size, database_url)
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(home), str(plain), database_url],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("READY "):
                raise RuntimeError("the bench server did not start")
            base = f"http://127.0.0.1:{int(line.split()[1])}"
            if args.annotations_only:
                notes = annotation_create(base, clip_id, args.clients, args.per_client)
                return annotations_report(args, notes)
            http, _ = signed_in(base)
            urls = {
                "encrypted": f"{base}/api/v1/clips/{clip_id}/media",
                "plaintext": f"{base}/plain/file",
            }
            range_stats = ranges(http, urls, plain, size, args.ranges)
            # Tiny ranges: what each side costs per request before any bytes move.
            overhead = ranges(http, urls, plain, size, args.ranges, length=100)
            streams = {name: stream(http, url, size) for name, url in urls.items()}
            notes = annotation_create(base, clip_id, args.clients, args.per_client)
        finally:
            child.terminate()
            child.wait(timeout=10)
    return report(args, range_stats, overhead, streams, notes)


def _notes_target(args: argparse.Namespace, notes: dict[str, Any]) -> dict[str, Any]:
    return {
        **notes,
        "database": "postgresql" if args.postgres else "sqlite",
        "target_p95_ms_max": TARGET_ANNOTATION_P95_MS,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def annotations_report(args: argparse.Namespace, notes: dict[str, Any]) -> dict[str, Any]:
    """The result of ``--annotations-only``."""
    return {
        "server": "werkzeug threaded, one process; client: requests keep-alive",
        "annotation_create": _notes_target(args, notes),
        "targets_met": notes["p95_ms"] <= TARGET_ANNOTATION_P95_MS,
    }


def report(
    args: argparse.Namespace,
    range_stats: dict[str, dict[str, float]],
    overhead: dict[str, dict[str, float]],
    streams: dict[str, dict[str, float]],
    notes: dict[str, Any],
) -> dict[str, Any]:
    p95_ratio = range_stats["encrypted"]["p95_ms"] / range_stats["plaintext"]["p95_ms"]
    stream_ratio = streams["encrypted"]["mib_per_s"] / streams["plaintext"]["mib_per_s"]
    over_video = streams["encrypted"]["mib_per_s"] * 8 * 1.048576 / VIDEO_MBIT_S
    return {
        "rendition_mib": args.size_mib,
        "server": "werkzeug threaded, one process; client: requests keep-alive",
        "range_1mib": {
            "requests": args.ranges,
            **range_stats,
            "p95_ratio_encrypted_vs_plaintext": round(p95_ratio, 3),
            "target_p95_ratio_max": TARGET_RANGE_P95_RATIO,
        },
        "range_100_bytes_per_request_overhead": overhead,
        "full_stream": {
            **streams,
            "ratio_encrypted_vs_plaintext": round(stream_ratio, 3),
            "target_ratio_min": TARGET_STREAM_RATIO,
            "times_an_8_mbit_s_video": round(over_video, 1),
        },
        "annotation_create": _notes_target(args, notes),
        "targets_met": p95_ratio <= TARGET_RANGE_P95_RATIO
        and stream_ratio >= TARGET_STREAM_RATIO
        and notes["p95_ms"] <= TARGET_ANNOTATION_P95_MS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=384)
    parser.add_argument("--ranges", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--postgres", nargs="?", const=DEFAULT_POSTGRES, default="", metavar="URL",
        help="run on a fresh schema of this PostgreSQL server instead of SQLite",
    )  # fmt: skip
    parser.add_argument(
        "--annotations-only", action="store_true", help="only the annotation_create figure"
    )
    parser.add_argument("--serve", nargs=3, metavar=("HOME", "PLAIN", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), args.serve[2])
        return 0
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
