"""Argument helpers shared by the stage runners."""

from __future__ import annotations

import argparse
import dataclasses
import json


def settings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", default="{}",
                        help="JSON object of this stage's config section")


def parse_settings(text: str, settings_class):
    """JSON -> settings dataclass; an unknown key is an error naming it."""
    values = json.loads(text)
    known = {field.name for field in dataclasses.fields(settings_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {settings_class.__name__} keys: {', '.join(unknown)}")
    return settings_class(**values)
