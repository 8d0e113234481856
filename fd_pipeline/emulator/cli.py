"""`fd-pipeline emulator`: serve a seeded fake Freshdesk account until Ctrl-C."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from fd_pipeline.signals import stop_signals_raise

from .ratelimit import PLANS

DEV_API_KEY = "emu-key"  # the built-in development key: printed as is, any other key masked


def masked(key: str) -> str:
    """Enough of a key to tell which one is in use (its last 4 characters), never the key."""
    return f"****{key[-4:]}" if len(key) >= 16 else "****"


def _millis(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of milliseconds between 0 and 60000")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser("emulator", help="serve a fake Freshdesk API on loopback",
                              description=__doc__)
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tickets", type=int, default=2000)
    p.add_argument("--articles", type=int, default=60)
    p.add_argument("--span-hours", type=float, default=72.0, help="generated updated_at spread back from now")
    p.add_argument("--now", help="the account's clock start, ISO 8601 (default: the real time, then running)")
    p.add_argument("--frozen", action="store_true", help="freeze the clock instead of letting it run")
    p.add_argument("--plan", choices=sorted(PLANS), default="enterprise")
    p.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window in seconds")
    p.add_argument("--api-key", default=DEV_API_KEY,
                   help="the key clients must send (default: the development key emu-key; any other is masked "
                        "in the banner)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    p.add_argument("--tls-hostname", action="append", default=[], metavar="NAME",
                   help="an extra DNS name (or IP) in the certificate, e.g. acme.freshdesk.com; repeatable; "
                        "implies --tls")
    p.add_argument("--cert-dir", help="where the CA and certificate are written (reused if present)")
    p.add_argument("--latency-ms", type=_millis, default=0.0,
                   help="delay every API answer by this many milliseconds (default 0: none)")
    p.add_argument("--jitter-ms", type=_millis, default=0.0,
                   help="spread the delay uniformly by ± this many milliseconds (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Its own handlers, from the start: a SIGINT or SIGTERM ignored by whoever started it must still
    # stop it, at any moment (while it generates the desk, prints its banner or serves).
    with stop_signals_raise():
        try:
            _run(args)
        except KeyboardInterrupt as exc:
            print(f"stopping ({exc or 'SIGINT'})", flush=True)
    return 0


def _run(args: argparse.Namespace) -> None:
    from .server import Emulator

    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else datetime.now(UTC)
    args.tls = args.tls or bool(args.tls_hostname)
    if args.tls and not args.cert_dir:
        from fd_pipeline.settings import data_dir

        args.cert_dir = str(data_dir() / "emulator-tls")
    emu = Emulator(seed=args.seed, tickets=args.tickets, articles=args.articles, now=now,
                   span_hours=args.span_hours, plan=args.plan, rate_window_s=args.rate_window,
                   api_key=args.api_key, tls=args.tls, port=args.port, host=args.host,
                   cert_dir=args.cert_dir, clock_running=not args.frozen, tls_hostnames=args.tls_hostname,
                   latency_ms=args.latency_ms, jitter_ms=args.jitter_ms)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, not loopback")
    with emu:
        _serve(emu, args)


def _serve(emu, args: argparse.Namespace) -> None:
    """Print the banner, then serve until interrupted."""
    counts = emu.desk.counts()
    dev_key = emu.api_key == DEV_API_KEY
    shown = emu.api_key if dev_key else masked(emu.api_key)
    print(f"Freshdesk emulator at {emu.base_url}  (api key: {shown}, any password)")
    print(f"  {counts['live']} tickets (+{counts['deleted']} deleted, {counts['spam']} spam), "
          f"{counts['articles']} articles; plan {args.plan}, window {args.rate_window:g}s"
          + (f"; latency {args.latency_ms:g} ms ± {args.jitter_ms:g}" if args.latency_ms or args.jitter_ms else ""))
    if emu.ca_file:
        print(f"  CA file: {emu.ca_file}   (FRESHDESK_CA_BUNDLE={emu.ca_file})")
    user = emu.api_key if dev_key else "$FRESHDESK_API_KEY"
    for name in args.tls_hostname:
        print(f"  certificate also names {name}: curl -u \"{user}:X\" --resolve {name}:{emu.port}:{emu.host} "
              f"--cacert {emu.ca_file} https://{name}:{emu.port}/api/v2/agents/me")
    print(f"  try: curl -u \"{user}:X\" '{emu.base_url}/api/v2/tickets?per_page=2'"
          + (f" --cacert {emu.ca_file}" if emu.ca_file else ""))
    print(f"  admin: {emu.base_url}/_emulator/stats | /ground_truth | POST /clock /mutate /faults /latency")
    print("Ctrl-C stops.", flush=True)
    while True:
        time.sleep(3600)
