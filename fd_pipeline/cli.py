"""`fd-pipeline`: the command line. Each subcommand lives beside the code it drives."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> module exposing `register(subparsers)`; the module's parser sets `func(args) -> int`.
_SUBCOMMANDS = {
    "emulator": "fd_pipeline.emulator.cli",
    "migrate": "fd_pipeline.commands.migrate",
    "status": "fd_pipeline.commands.status",
    "search": "fd_pipeline.commands.search",
    "rebuild-vectors": "fd_pipeline.commands.rebuild_vectors",
    "demo": "fd_pipeline.commands.demo",
    "ui": "fd_pipeline.commands.ui",
    "embed-check": "fd_pipeline.commands.embed_check",
    "estimate": "fd_pipeline.commands.estimate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fd-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in _SUBCOMMANDS.values():
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Quiet by default: warnings and errors, plus the commands' own progress (rebuild-vectors logs
    # it); model loading, schema migrations and HTTP clients log at INFO, which -v brings back.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("fd_pipeline.commands").setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line; the detail goes to the log
        logging.getLogger("fd_pipeline").debug("command failed", exc_info=True)
        print(f"fd-pipeline {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
