"""Argument helpers shared by the stage runners."""

from __future__ import annotations

import argparse
import dataclasses
import json


def settings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", default="{}",
                        help="JSON object of this stage's config section")


def parse_settings(text: str, settings_class):
    """JSON -> settings dataclass; an unknown or a missing key is an error naming it."""
    values = json.loads(text)
    fields = dataclasses.fields(settings_class)
    unknown = sorted(set(values) - {field.name for field in fields})
    if unknown:
        raise ValueError(f"unknown {settings_class.__name__} keys: {', '.join(unknown)}")
    missing = [field.name for field in fields if field.name not in values
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"missing {settings_class.__name__} keys: {', '.join(missing)}")
    return settings_class(**values)


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype and --threads: every stage that runs the model."""
    parser.add_argument("--model", required=True, help="HF model name or local folder")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")


def open_model(args):
    """Set the CPU threads and load (model, tokenizer) as `model_arguments` describe."""
    import torch

    from factlens.loading import load_model

    torch.set_num_threads(args.threads)
    return load_model(args.model, args.device, args.dtype)
