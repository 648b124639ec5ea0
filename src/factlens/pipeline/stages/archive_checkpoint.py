"""Archive the trained organism as a Hugging Face checkpoint folder (model, tokenizer and
its loss curve) beside the results, so any machine can analyse the same organism."""

from __future__ import annotations

from factlens.organism.checkpoint import copy_checkpoint
from factlens.io import atomic_path


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="The trained organism's folder (Hugging Face format).")
    parser.add_argument("--loss-curve", required=True, help="Its training loss curve (CSV).")
    parser.add_argument("--out", required=True, help="The output checkpoint folder.")


def run(args) -> None:
    with atomic_path(args.out, directory=True) as folder:
        copy_checkpoint(args.model, args.loss_curve, folder)
