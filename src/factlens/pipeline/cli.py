"""Command-line dispatcher: one sub-command per pipeline stage.

Each stage lives in `factlens.pipeline.stages.<module>` with `add_arguments(parser)` and
`run(args)`. Only the requested stage is imported, so a rule's start-up pays for
the libraries it uses and no others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

STAGE_PACKAGE = "factlens.pipeline.stages"


def stage_names() -> list[str]:
    """Every stage command: the modules of `factlens.pipeline.stages`, `_` written as `-`.

    Discovered rather than listed, so adding a stage never edits this module (which
    every rule declares as an input)."""
    import factlens.pipeline.stages

    return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(factlens.pipeline.stages.__path__)
                  if info.name != "common")


def build_parser(stage: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `stage`, only that stage's arguments are loaded."""
    parser = argparse.ArgumentParser(prog="python -m factlens", description=__doc__)
    commands = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for command in stage_names():
        if stage is not None and command != stage:
            commands.add_parser(command)
            continue
        module = importlib.import_module(f"{STAGE_PACKAGE}.{command.replace('-', '_')}")
        sub = commands.add_parser(command, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        stream=sys.stderr)
    argv = sys.argv[1:] if argv is None else argv
    stage = argv[0] if argv and argv[0] in stage_names() else None
    args = build_parser(stage).parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        logging.getLogger("factlens").error("%s failed: %s", args.stage, error)
        sys.exit(f"error: {error}")
