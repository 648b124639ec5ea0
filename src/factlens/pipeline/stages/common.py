"""Argument helpers shared by the stage runners."""

from __future__ import annotations

import argparse
import dataclasses
import json
from functools import cache
from pathlib import Path

import yaml

# The config schema: every setting's default, the one source of truth (a stage run by
# hand takes its defaults from here, as the workflow does).
SCHEMA = Path(__file__).resolve().parents[4] / "workflow" / "schemas" / "config.schema.yaml"


def settings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", default="{}",
                        help="This stage's config section as a JSON object; keys left out take "
                             "the config schema's defaults.")


@cache
def schema_defaults(section: tuple[str, ...]) -> dict:
    """The defaults of one config section, read from the config schema."""
    node = yaml.safe_load(SCHEMA.read_text())
    for key in section:
        node = node["properties"][key]
    return {key: spec["default"] for key, spec in node["properties"].items() if "default" in spec}


def parse_settings(text: str, settings_class):
    """JSON -> settings dataclass. Keys left out take the defaults of the class's config
    section (`CONFIG_SECTION`) from the config schema; an unknown key, or a missing one
    with no default, is an error naming it."""
    fields = dataclasses.fields(settings_class)
    section = getattr(settings_class, "CONFIG_SECTION", None)
    defaults = schema_defaults(section) if section and SCHEMA.exists() else {}
    names = {field.name for field in fields}
    values = {**{key: value for key, value in defaults.items() if key in names}, **json.loads(text)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {settings_class.__name__} keys: {', '.join(unknown)}")
    missing = [field.name for field in fields if field.name not in values
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"missing {settings_class.__name__} keys: {', '.join(missing)}")
    return settings_class(**values)


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype and --threads: every stage that runs the model."""
    parser.add_argument("--model", required=True,
                        help="A Hugging Face model name or a local model folder.")
    parser.add_argument("--device", default="auto",
                        help="Where to run: auto (a GPU if there is one), cpu, cuda or cuda:N.")
    parser.add_argument("--dtype", default="float32",
                        help="The weights' dtype: float32, bfloat16 or float16.")
    parser.add_argument("--threads", type=int, default=2, help="How many CPU threads to use.")


def open_model(args):
    """Set the CPU threads and load (model, tokenizer) as `model_arguments` describe."""
    import torch

    from factlens.loading import load_model

    torch.set_num_threads(args.threads)
    return load_model(args.model, args.device, args.dtype)
