"""Train one SAE on a cached activation store and save it in SAELens's layout."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from factlens.activations import ActivationStore
from factlens.io import write_table
from factlens.loading import resolve_device
from factlens.sae import ARCHITECTURES
from factlens.sae.saving import save_sae
from factlens.sae.train import SAETrainingSettings, load_checkpoint, train_sae
from factlens.stages.common import parse_settings, settings_argument

log = logging.getLogger("factlens.sae")

NORMALISATION_TOKENS = 16384


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--store", required=True, help="training activation store")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), required=True)
    parser.add_argument("--coefficient", type=float, required=True,
                        help="sparsity coefficient lambda (TopK: k)")
    parser.add_argument("--width", type=float, required=True,
                        help="latents as a multiple of the input width")
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--options", type=json.loads, default={},
                        help="JSON of architecture options (JumpReLU bandwidth, threshold_init)")
    parser.add_argument("--buffer-shards", type=int, default=4)
    parser.add_argument("--model-name", required=True, help="recorded in cfg.json")
    parser.add_argument("--hook", required=True)
    parser.add_argument("--out", required=True, help="output SAE folder")
    parser.add_argument("--log", required=True, help="output CSV of the training log")


def build_sae(architecture: str, d_in: int, width: float, coefficient: float, seed: int,
              options: dict):
    """An untrained SAE of `architecture` with round(width * d_in) latents."""
    d_sae = int(round(width * d_in))
    cls = ARCHITECTURES[architecture]
    if architecture == "topk":
        return cls(d_in, d_sae, seed=seed, k=int(coefficient))
    return cls(d_in, d_sae, seed=seed, **options)


def run(args) -> None:
    torch.set_num_threads(args.threads)
    settings = parse_settings(args.settings, SAETrainingSettings)
    store = ActivationStore(args.store)
    if settings.autocast != "none" and args.architecture == "jumprelu":
        raise ValueError("sae.training.autocast: bfloat16 is refused for JumpReLU SAEs: the "
                         "straight-through bandwidth (0.001) is finer than bf16 resolves")
    sae = build_sae(args.architecture, store.d, args.width, args.coefficient, settings.seed,
                    args.options).to(resolve_device(args.device))
    penalty = 0.0 if args.architecture == "topk" else args.coefficient
    checkpoint = Path(args.out) / "checkpoint.pt"
    # a checkpoint is only resumed by the run that wrote it: same settings, same data
    run_id = json.dumps({"settings": json.loads(args.settings), "architecture": args.architecture,
                         "coefficient": args.coefficient, "width": args.width,
                         "learning_rate": args.learning_rate, "options": args.options,
                         "buffer_shards": args.buffer_shards,
                         "store": [entry["sha256"] for entry in store.manifest["shards"]]},
                        sort_keys=True)
    resume = load_checkpoint(checkpoint)
    if resume is not None and resume.get("run") != run_id:
        log.warning("ignoring %s: written by a run with other settings or data", checkpoint)
        resume = None
    start = resume["step"] if resume else 0
    if resume:
        log.info("resuming from the checkpoint at step %d (%s)", start, checkpoint)
    batches = store.batches(settings.batch_size, settings.seed, args.buffer_shards, skip=start)
    log.info("training %s SAE: %d -> %d latents, coefficient %g, %d steps of %d",
             args.architecture, sae.d_in, sae.d_sae, args.coefficient, settings.steps,
             settings.batch_size)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    history = train_sae(sae, batches, penalty, args.learning_rate, settings,
                        store.all(NORMALISATION_TOKENS), checkpoint=checkpoint, resume=resume,
                        run_id=run_id)
    final = history.iloc[-1]
    log.info("final loss %.4f, L0 %.2f", final["loss"], final["l0"])
    save_sae(sae.cpu(), args.out, args.model_name, args.hook, extra={
        "sparsity_coefficient": args.coefficient, "learning_rate": args.learning_rate,
        "training": json.loads(args.settings), "training_tokens": settings.steps * settings.batch_size})
    write_table(history, args.log)
    checkpoint.unlink(missing_ok=True)  # the SAE is saved: nothing left to resume
