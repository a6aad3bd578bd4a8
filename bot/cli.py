"""`costbot` command line: serve, demo, console, ask, check, api.

The one place that may import `demo`: with no OpenCost configured it chooses the built-in demo
parts and hands them to the composition root (see the import-linter contracts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.logging import configure_logging
from bot.runtime import DemoParts
from bot.settings import Settings, load_settings, report_problems


def _secrets(settings: Settings) -> list[str]:
    found = []
    for secret in (
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
    ):
        if secret is not None:
            found.append(secret.get_secret_value())
    return found


def _demo_parts(settings: Settings) -> DemoParts | None:
    """The built-in demo when no OpenCost is configured (`settings.demo_data`), else None."""
    if not settings.demo_data:
        return None
    from demo.parts import demo_parts  # builds the synthetic cluster: only when chosen

    return demo_parts()


def _source(settings: Settings) -> list[str]:
    """The data-source refusal, alone: with it nothing else about the start matters."""
    problem = settings.source_problem()
    return [problem] if problem else []


def _files(settings: Settings) -> list[str]:
    """The identity map and the kubeconfig, read once before anything starts, so a mistake in
    either is one line per problem and exit 2 rather than a traceback from deep in start-up."""
    problems = []
    if settings.identity_map_file is not None:
        from services.access.identity import IdentityMap, IdentityMapError

        try:
            IdentityMap.load(settings.identity_map_file)
        except IdentityMapError as error:
            problems += [f"IDENTITY_MAP_FILE: {line}" for line in error.problems]
    if settings.kubeconfig:
        problems += _kubeconfig_problems(settings.kubeconfig)
    return problems


def _kubeconfig_problems(kubeconfig: str) -> list[str]:
    from pathlib import Path

    missing = [part for part in kubeconfig.split(":") if part and not Path(part).is_file()]
    if missing:
        return [
            f"KUBECONFIG: {part}: no such file (point KUBECONFIG at a kubeconfig, or leave it "
            "unset in a pod to use the service account)"
            for part in missing
        ]
    from services.access.kube import KubeApi  # the kubernetes client takes ~2 s to import
    from services.errors import AuthorizationUnavailable

    try:
        KubeApi.from_config(kubeconfig).close()
    except AuthorizationUnavailable as error:
        reason = " ".join(str(error).split())
        return [
            f"KUBECONFIG: {reason[:300]} (check its current-context: "
            f"kubectl --kubeconfig {kubeconfig} config get-contexts)"
        ]
    return []


def _version() -> str:
    """The installed distribution's version (pyproject.toml), or a marker for a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("costbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """The `costbot` entry point: a reader that goes away (`costbot demo | head`) ends the
    command quietly instead of with a BrokenPipeError traceback."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # buffered output meets the closed pipe here, inside the try
    except BrokenPipeError:
        # As Python's documentation advises (signal module, "Note on SIGPIPE"): point stdout
        # at devnull so the flush at interpreter exit cannot fail a second time, and exit 1,
        # the status Python itself gives on EPIPE (not 141: no SIGPIPE killed the process).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="costbot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the bot (Socket Mode if SLACK_APP_TOKEN, else HTTP)")
    demo = sub.add_parser("demo", help="a scripted tour through the real app, no Slack needed")
    demo.add_argument("--no-color", action="store_true")
    console = sub.add_parser("console", help="type /cost commands, press buttons by number")
    console.add_argument("--as", dest="user", default="U0DEMOADMIN")
    sub.add_parser("web", help="the web view on demo data, signed in through the local Slack")
    ask = sub.add_parser("ask", help="one command, one rendered reply")
    ask.add_argument("text")
    ask.add_argument("--as", dest="user", default="U0DEMOADMIN")
    doctor = sub.add_parser("check", help="doctor: config, Slack, Redis, OpenCost, Kubernetes")
    doctor.add_argument("--json", action="store_true", help="one JSON document, for automation")
    digest = sub.add_parser("digest", help="digest operations")
    digest_sub = digest.add_subparsers(dest="digest_command", required=True)
    run = digest_sub.add_parser("run", help="deliver one subscription now")
    run.add_argument("--now", dest="sub_id", required=True, metavar="ID")
    api = sub.add_parser("api", help="call costbot's HTTP API as yourself (docs/api.md)")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    get = api_sub.add_parser("get", help="GET an API path, e.g. v1/costs/summary?window=7d")
    get.add_argument("path")
    get.add_argument("--token", help="a bearer token (default: KUBECONFIG's current user's)")
    get.add_argument("--url", help="costbot's base URL (default: $COSTBOT_URL or localhost)")
    get.add_argument("--csv", action="store_true", help="ask for CSV instead of JSON")
    args = parser.parse_args(argv)
    if args.command == "api":  # a client: needs none of the bot's own settings
        from bot.api_client import api_get

        return api_get(args.path, token=args.token, url=args.url, csv=args.csv)

    settings = load_settings()
    interactive = args.command in ("demo", "console", "ask")
    configure_logging(
        "warning" if interactive else settings.log_level,
        "console" if interactive else settings.log_format,
        secrets=_secrets(settings),
    )
    if args.command == "serve":
        problems = [*_source(settings), *settings.require_serve(), *_files(settings)]
        if problems:
            return report_problems(problems)
        from bot.serve import serve

        return asyncio.run(serve(settings, demo=_demo_parts(settings)))
    if args.command == "check":
        from bot.doctor import check

        return asyncio.run(check(settings, as_json=args.json))
    if args.command == "digest":
        if problems := [*_source(settings), *_files(settings)]:
            return report_problems(problems)
        from bot.serve import run_digest_now

        return asyncio.run(run_digest_now(settings, args.sub_id, demo=_demo_parts(settings)))
    if args.command == "web":
        from demo.web import serve_web

        return asyncio.run(serve_web(settings))
    from demo import tour

    if args.command == "demo":
        return asyncio.run(tour.demo(settings, color=not args.no_color and sys.stdout.isatty()))
    if args.command == "ask":
        return asyncio.run(tour.ask(settings, args.text, args.user))
    return asyncio.run(tour.console(settings, args.user))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
