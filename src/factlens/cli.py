"""Command-line dispatcher: one sub-command per pipeline stage.

Each stage lives in `factlens.stages.<module>` with `add_arguments(parser)` and
`run(args)`; it is imported only when called, so a stage's start-up stays light.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

STAGES = {
    "prepare-world": "world",
    "train-tokenizer": "tokenizer",
    "train-model": "model",
    "prepare-prompts": "prompts",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m factlens", description=__doc__)
    commands = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for command, module in STAGES.items():
        stage = importlib.import_module(f"factlens.stages.{module}")
        sub = commands.add_parser(command, help=stage.__doc__.splitlines()[0])
        stage.add_arguments(sub)
        sub.set_defaults(run=stage.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        logging.getLogger("factlens").error("%s failed: %s", args.stage, error)
        sys.exit(f"error: {error}")
