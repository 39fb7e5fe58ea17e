"""``python -m airflow_provider_insights.sandbox``: run the emulator and print how to connect to it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from airflow_provider_insights.sandbox import credentials as cred
from airflow_provider_insights.sandbox.behaviours import DEFAULT_PROFILE, PROFILE_ENV, PROFILES, Behaviours
from airflow_provider_insights.sandbox.server import build_app, build_context
from airflow_provider_insights.sandbox.tls import ensure_tls_material

CONFIG_ENV = "INSIGHTS_SANDBOX_CONFIG"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    :param argv: arguments (default: ``sys.argv``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_insights.sandbox",
        description="Local HTTPS emulator of Entra ID and the Partner Center Insights API",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-dir", default=".sandbox", help="certificates, state and connection files")
    parser.add_argument("--ready-file", default=None, help="written (JSON) once the server listens")
    parser.add_argument("--config", default=None, help=f"JSON settings overrides (also from ${CONFIG_ENV})")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help=f"reading of the API to play (also from ${PROFILE_ENV}; default {DEFAULT_PROFILE})",
    )
    parser.add_argument("--switches", default=None, help='JSON switch overrides, e.g. \'{"blob_name": "report_name"}\'')
    return parser.parse_args(argv)


def _behaviours(args: argparse.Namespace) -> Behaviours:
    profile = args.profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    return Behaviours(profile, json.loads(args.switches) if args.switches else None)


def _config_overrides(option: str | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for text in (os.environ.get(CONFIG_ENV), option):
        if text:
            overrides.update(json.loads(text))
    return overrides


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)


def write_connection_files(state_dir: Path, url: str, ca_path: Path) -> Path:
    """Write one connection JSON per program and auth type into ``state_dir/connections``.

    :param state_dir: the state directory.
    :param url: the sandbox URL.
    :param ca_path: the CA bundle.
    """
    folder = state_dir / "connections"
    folder.mkdir(exist_ok=True)
    for program in cred.PROGRAM_PATHS:
        for auth_type in cred.CONNECTION_AUTH_TYPES:
            conn = cred.build_connection(
                url=url, ca_path=ca_path, state_dir=state_dir, program=program, auth_type=auth_type
            )
            _write_json(folder / f"{program}-{auth_type}.json", conn)
    return folder


async def serve(args: argparse.Namespace) -> None:
    """Start the server and run until SIGTERM/SIGINT.

    :param args: parsed options.
    """
    state_dir = Path(args.state_dir).resolve()
    tls = ensure_tls_material(state_dir)
    ctx = build_context(state_dir, tls, _config_overrides(args.config), _behaviours(args))
    runner = web.AppRunner(build_app(ctx), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=tls.server_ssl_context(), reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    url = f"https://{args.host}:{port}"
    folder = write_connection_files(state_dir, url, tls.ca_path)
    default_conn = cred.build_connection(url=url, ca_path=tls.ca_path, state_dir=state_dir)
    print(f"Partner Insights sandbox listening on {url}", flush=True)
    print(f"CA bundle: {tls.ca_path}", flush=True)
    print(f"Profile: {ctx.behaviours.profile}", flush=True)
    print(f"Connection files: {folder}", flush=True)
    print(f"AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT='{cred.connection_json(default_conn)}'", flush=True)
    if args.ready_file:
        _write_json(
            Path(args.ready_file),
            {"url": url, "port": port, "pid": os.getpid(), "ca_path": str(tls.ca_path), "state_dir": str(state_dir)},
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    ctx.state.save()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    :param argv: arguments (default: ``sys.argv``).
    """
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
