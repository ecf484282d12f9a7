"""The clients of bench/load.py: sign-in, viewers seeking, coders annotating, and the
recorder and statistics of their latencies."""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import requests
from requests.cookies import RequestsCookieJar

from bench.load_stack import EMAIL, PASSWORD

MiB = 1024 * 1024
RANGE_BYTES = MiB
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


# -- clients -------------------------------------------------------------------------


def sign_in(base: str) -> tuple[RequestsCookieJar, str]:
    """Sign in once; returns the session cookies and the CSRF token (shared by threads:
    the session is server-side and valid on every web process).

    The jar keeps each cookie's domain, so a cookie the server re-sends replaces the
    copy in a client's jar, as in a browser (a plain dict would leave the stale copy
    beside it, and the server would keep reading the stale one)."""
    http = requests.Session()
    http.trust_env = False
    token = _token(http.get(f"{base}/login", timeout=30).text)
    response = http.post(
        f"{base}/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")
    token = _token(http.get(f"{base}/account", timeout=30).text)
    return http.cookies.copy(), token


def _token(html: str) -> str:
    found = _META.search(html)
    if found is None:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


def client(cookies: RequestsCookieJar | None = None) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    if cookies is not None:
        http.cookies = cookies.copy()
    return http


class Recorder:
    """Latencies (seconds) and errors per series, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {"verp": [], "nginx": [], "annotate": []}
        self.errors: dict[str, int] = {name: 0 for name in self.times}
        self.first_errors: list[str] = []

    def ok(self, series: str, seconds: float) -> None:
        with self.lock:
            self.times[series].append(seconds)

    def error(self, series: str, what: str) -> None:
        with self.lock:
            self.errors[series] += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(f"{series}: {what}")


def viewer(
    index: int, bases: list[str], nginx: str, cookies: RequestsCookieJar, media: str,
    plain: Path, size: int, until: float, max_requests: int, rec: Recorder,
) -> None:  # fmt: skip
    """Random 1 MiB Range GETs, verp and nginx for the same range, bodies checked."""
    rng = random.Random(1000 + index)
    verp, base_http = client(cookies), client()
    with plain.open("rb") as source:
        for n in range(max_requests):
            if time.monotonic() >= until:
                return
            start = rng.randrange(0, size - RANGE_BYTES + 1)
            source.seek(start)
            expected = source.read(RANGE_BYTES)
            header = {"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"}
            targets = [
                ("verp", verp, f"{bases[(index + n) % len(bases)]}{media}"),
                ("nginx", base_http, nginx),
            ]
            for series, http, url in targets if n % 2 == 0 else targets[::-1]:
                began = time.perf_counter()
                try:
                    response = http.get(url, headers=header, timeout=30)
                    body = response.content
                except requests.RequestException as exc:
                    rec.error(series, type(exc).__name__)
                    continue
                elapsed = time.perf_counter() - began
                if response.status_code != 206 or body != expected:
                    rec.error(series, f"status {response.status_code}, {len(body)} bytes")
                else:
                    rec.ok(series, elapsed)


def coder(
    index: int, bases: list[str], cookies: RequestsCookieJar, token: str, clip_id: str,
    round_no: int, until: float, max_requests: int, rec: Recorder,
) -> None:  # fmt: skip
    """Create annotations on the shared clip until the round ends."""
    http = client(cookies)
    for n in range(max_requests):
        if time.monotonic() >= until:
            return
        url = f"{bases[(index + n) % len(bases)]}/api/v1/clips/{clip_id}/annotations"
        start_ms = ((round_no * 64 + index) * max_requests + n) * 10 % 600_000
        body = {"start_ms": start_ms, "subject": "infant", "scheme_id": "infant-cues",
                "codes": ["smiling"], "text": f"load {round_no}/{index}/{n}"}  # fmt: skip
        began = time.perf_counter()
        try:
            response = http.post(url, json=body, headers={"X-CSRFToken": token}, timeout=30)
        except requests.RequestException as exc:
            rec.error("annotate", type(exc).__name__)
            continue
        elapsed = time.perf_counter() - began
        if response.status_code != 201:
            rec.error("annotate", f"status {response.status_code}: {response.text[:120]}")
        else:
            rec.ok("annotate", elapsed)


# -- statistics ----------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def stats(values: list[float], errors: int) -> dict[str, Any]:
    if not values:
        return {"requests": 0, "errors": errors}
    return {
        "requests": len(values),
        "errors": errors,
        **{f"p{p}_ms": round(percentile(values, p) * 1000, 2) for p in (50, 95, 99)},
    }


def summarise(rec: Recorder) -> dict[str, Any]:
    out: dict[str, Any] = {name: stats(rec.times[name], rec.errors[name]) for name in rec.times}
    verp, nginx = out["verp"], out["nginx"]
    if verp.get("requests") and nginx.get("requests"):
        out["range_ratio_to_nginx"] = {
            q: round(verp[f"{q}_ms"] / nginx[f"{q}_ms"], 2) for q in ("p50", "p95", "p99")
        }
    return out
