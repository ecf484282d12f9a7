"""Load benchmark of the scale-out stack on loopback, against nginx serving plaintext.

Starts, all on 127.0.0.1 and all as children of this process:

* a fresh database on the running PostgreSQL (``--postgres``, default the test server);
* a private huey queue name on the running Redis (``--redis``);
* a moto S3 + KMS server (a child process; a fresh bucket and KMS key);
* two ``verp serve`` web processes (gunicorn, gthread) and two ``verp worker``s on
  that database, bucket, KMS key and queue;
* nginx with its own config in the temp dir, serving the same rendition in plaintext
  (sendfile): the baseline.

A ready clip whose ``playback`` rendition is ``--size-mib`` random MiB is stored
encrypted in the bucket. Then, for ``--rounds`` rounds of at most ``--seconds`` seconds
each, ``--viewers`` threads seek (random 1 MiB Range GETs, verp then nginx for the same
range, the order alternating; every body checked against the plaintext; at most
``--max-requests`` pairs per viewer and round) while ``--coders`` threads create
annotations on the same clip. Requests alternate between the two web processes.

Prints p50/p95/p99 and error counts per round and overall, the ratios to nginx and the
load average. Everything is bounded in time; children are stopped and the schema,
queue keys and temp dir removed at the end, also on Ctrl-C or SIGTERM. Exit status 0
when the targets are met (Range p95 <= 2x nginx, no error), 1 otherwise.

The rendition is small by default (64 MiB) because moto, unlike S3, copies the whole
object for every ranged GET: its cost grows with the object, which S3's does not.

Usage: ``python bench/load.py --json`` (needs ``apt-get install -y nginx``); a quick
run: ``--size-mib 16 --viewers 2 --coders 2 --rounds 1 --seconds 5``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))


from bench.load_clients import (  # noqa: E402
    RANGE_BYTES,
    Recorder,
    client,
    coder,
    sign_in,
    summarise,
    viewer,
)
from bench.load_stack import (  # noqa: E402
    AWS_ENV,
    REGION,
    Children,
    Stop,
    build_clip,
    free_port,
    ignore_stop_signals,
    make_bucket_and_key,
    nginx_config,
    on_stop_signal,
    pg_database,
    redis_queue,
    run_moto,
    wait_http,
)

MiB = 1024 * 1024
TARGET_RANGE_P95_RATIO = 2.0


# -- the run -------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    load_at_start = os.getloadavg()
    size = args.size_mib * MiB
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="verp-load-")))
        logs = tmp / "logs"
        logs.mkdir()
        children = Children(logs)
        stack.callback(children.stop)
        db_url = stack.enter_context(pg_database(args.postgres))
        queue_url = stack.enter_context(redis_queue(args.redis))
        moto = children.start(
            "moto", [sys.executable, __file__, "--moto"], {**os.environ, **AWS_ENV},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        line = moto.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError("the moto server did not start (see its log)")
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        os.environ.update(AWS_ENV)  # boto3 in this process (set-up) talks to moto only
        os.environ.pop("AWS_PROFILE", None)
        bucket, key_id = make_bucket_and_key(endpoint)
        env = {
            "VERP_HOME": str(tmp / "home"),
            "VERP_DATABASE_URL": db_url,
            "VERP_BLOB_URL": f"s3://{bucket}/verp",
            "VERP_S3_ENDPOINT_URL": endpoint,
            "VERP_KEY_PROVIDER": "kms",
            "VERP_KMS_KEY_ID": key_id,
            "VERP_KMS_ENDPOINT_URL": endpoint,
            "VERP_AWS_REGION": REGION,
            "VERP_QUEUE_URL": queue_url,
            "VERP_SECURE_COOKIES": "false",
            **AWS_ENV,
        }
        docroot = tmp / "www"
        docroot.mkdir()
        plain = docroot / "playback.mp4"
        clip_id = build_clip(env, plain, size)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")} | env
        verp = [sys.executable, "-c", "from webapp.cli import main; main()"]
        bases = []
        for n in range(2):
            port = free_port()
            proc = children.start(
                f"web{n}",
                [*verp, "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(args.web_workers), "--threads", str(args.threads)],
                child_env,
            )  # fmt: skip
            bases.append((f"http://127.0.0.1:{port}", proc, f"web{n}"))
        for n in range(2):
            children.start(f"worker{n}", [*verp, "worker"], child_env)
        nginx_port = free_port()
        conf = nginx_config(tmp, nginx_port, docroot)
        nginx = children.start(
            "nginx", [nginx_bin, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"], child_env
        )
        nginx_url = f"http://127.0.0.1:{nginx_port}/playback.mp4"
        wait_http(nginx_url, nginx, "nginx")
        for base, proc, name in bases:
            wait_http(f"{base}/login", proc, name)
        urls = [base for base, _, _ in bases]
        cookies, token = sign_in(urls[0])
        media = f"/api/v1/clips/{clip_id}/media"
        # Warm-up (untimed): connections, caches, the session on both processes.
        for base in urls:
            for _ in range(3):
                client(cookies).get(f"{base}{media}", headers={"Range": "bytes=0-99"}, timeout=30)
        stack.callback(ignore_stop_signals)  # runs first when the stack unwinds
        total = Recorder()
        rounds = []
        for round_no in range(args.rounds):
            rec = Recorder()
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=viewer, args=(
                    i, urls, nginx_url, cookies, media, plain, size, until, args.max_requests,
                    rec,
                )) for i in range(args.viewers)
            ] + [
                threading.Thread(target=coder, args=(
                    i, urls, cookies, token, clip_id, round_no, until, args.max_requests, rec,
                )) for i in range(args.coders)
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            dead = children.dead()
            if dead:
                raise RuntimeError(f"children exited during the run: {dead}")
            for name in rec.times:
                total.times[name] += rec.times[name]
                total.errors[name] += rec.errors[name]
            total.first_errors += rec.first_errors[: 5 - len(total.first_errors)]
            rounds.append({"round": round_no + 1, **summarise(rec),
                           "load_average_1min": round(os.getloadavg()[0], 2)})  # fmt: skip
    overall = summarise(total)
    ratio = overall.get("range_ratio_to_nginx", {}).get("p95", float("inf"))
    errors = sum(total.errors.values())
    return {
        "stack": "PostgreSQL (fresh database) + Redis queue + moto S3/KMS + 2 x verp serve "
        f"(gunicorn gthread, {args.web_workers} worker x {args.threads} threads) + "
        "2 x verp worker; baseline nginx sendfile on the same plaintext",
        "rendition_mib": args.size_mib,
        "viewers": args.viewers,
        "coders": args.coders,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "range_bytes": RANGE_BYTES,
        "overall": overall,
        "every_round": rounds,
        "errors_total": errors,
        "first_errors": total.first_errors,
        "note": "moto (not S3) reads the whole object under a per-object lock for every "
        "ranged GET, so the verp figures include a cost that grows with --size-mib",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "targets": {"range_p95_ratio_max": TARGET_RANGE_P95_RATIO, "errors": 0},
        "targets_met": ratio <= TARGET_RANGE_P95_RATIO and errors == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=64, help="rendition size (see doc)")
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--coders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one round")
    parser.add_argument("--max-requests", type=int, default=100, help="per client and round")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn workers per serve")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "VERP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--moto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.moto:
        run_moto()
        return 0
    if args.size_mib < 2:
        raise SystemExit("--size-mib must be at least 2")
    signal.signal(signal.SIGTERM, on_stop_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_stop_signal)
    try:
        result = run(args)
    except (KeyboardInterrupt, Stop):
        print("stopped; children and temporary state cleaned up", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2 if not args.json else None))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
