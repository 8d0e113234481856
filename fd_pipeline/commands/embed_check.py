"""`fd-pipeline embed-check`: does FD_EMBED_PRECISION=int8 agree with fp32 on this model, and how much faster is it here?"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "embed-check", help="measure int8 against fp32 on a model folder (about a minute for bge-m3)", description=__doc__
    )
    p.add_argument("--model", help="model folder or hub id (default: FD_EMBED_MODEL, else BAAI/bge-m3)")
    p.add_argument("--texts", type=int, default=32, help="sample texts embedded at both precisions (>= 11)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: FD_EMBED_THREADS or torch's)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fd_pipeline.embedding import agreement
    from fd_pipeline.resources import configured

    if args.texts < 11:
        raise ValueError("--texts must be at least 11 (each text needs 10 neighbours)")
    base = configured("embedder").config()
    result = agreement.measure(
        args.model or base.model,
        n_texts=args.texts,
        threads=args.threads or base.threads,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        kind=base.kind,
    )
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print("\n".join(agreement.report_lines(result)))
    return 0
