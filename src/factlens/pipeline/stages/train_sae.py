"""Train a sweep of SAEs (one architecture, several coefficients) on a cached activation
store in one pass, and save each in SAELens's layout in its own folder."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pandas as pd
import torch

from factlens.sae.activations import ActivationStore
from factlens.io import write_table
from factlens.loading import resolve_device
from factlens.sae.architectures import ARCHITECTURES
from factlens.sae.saving import activation_metadata, save_sae
from factlens.sae.train import SAETrainer, SAETrainingSettings, load_checkpoint, train_saes
from factlens.pipeline.stages.common import parse_settings, schema_defaults, settings_argument

log = logging.getLogger("factlens.sae")

NORMALISATION_TOKENS = 16384


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--threads", type=int, default=2, help="How many CPU threads to use.")
    parser.add_argument("--device", default="auto",
                        help="Where to train: auto (a GPU if there is one), cpu, cuda or cuda:N.")
    parser.add_argument("--store", required=True, help="The training activation store (a folder).")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), required=True,
                        help="The SAE architecture.")
    parser.add_argument("--coefficients", nargs="+", required=True,
                        help="The sweep's sparsity coefficients lambda (for TopK: k, the active "
                             "latents); each SAE is saved in OUT/<coefficient as written here>.")
    parser.add_argument("--width", type=float, required=True,
                        help="The number of latents as a multiple of the input width.")
    parser.add_argument("--learning-rate", type=float, required=True, help="Adam's learning rate.")
    parser.add_argument("--options", type=json.loads, default={},
                        help="Architecture options as a JSON object (JumpReLU: bandwidth, threshold_init).")
    parser.add_argument("--buffer-shards", type=int, default=schema_defaults(("sae",))["buffer_shards"],
                        help="Shards shuffled together when streaming batches (bounds the memory).")
    parser.add_argument("--hook", required=True, help="The hook the store's activations come from.")
    parser.add_argument("--out", required=True,
                        help="The sweep's output folder: one SAE folder (cfg.json and weights) per coefficient.")
    parser.add_argument("--log", required=True,
                        help="The output CSV of the training logs (a coefficient column per SAE).")
    parser.add_argument("--checkpoint", default=None,
                        help="Where the sweep's training state is saved every sae.training.checkpoint_every "
                             "steps and resumed from (default: none).")


def build_sae(architecture: str, d_in: int, width: float, coefficient: float, seed: int,
              options: dict):
    """An untrained SAE of `architecture` with round(width * d_in) latents."""
    d_sae = int(round(width * d_in))
    cls = ARCHITECTURES[architecture]
    if architecture == "topk":
        return cls(d_in, d_sae, seed=seed, k=int(coefficient), **options)
    return cls(d_in, d_sae, seed=seed, **options)


def store_provenance(manifest: dict, hook: str) -> dict:
    """cfg.json's `metadata` for an SAE trained on the activation store of `manifest`:
    the model and corpus that produced the activations (a hub name or a local folder;
    `path:split` for a Hugging Face dataset)."""
    dataset_path, _, split = manifest["corpus"].partition(":")
    return activation_metadata(manifest["model"], hook, manifest["context_length"], dataset_path,
                               dataset_split=split or None, training_store_tokens=manifest["n_tokens"])


def run(args) -> None:
    torch.set_num_threads(args.threads)
    settings = parse_settings(args.settings, SAETrainingSettings)
    store = ActivationStore(args.store)
    recorded = json.loads(args.settings)
    if settings.autocast != "none" and args.architecture == "jumprelu":
        # one setting for the whole run, so that the other sweeps can use it
        log.warning("JumpReLU SAEs train in float32 whatever sae.training.autocast says: their "
                    "straight-through bandwidth is finer than bf16 resolves")
        settings = dataclasses.replace(settings, autocast="none")
        recorded["autocast"] = "none"
    device = resolve_device(args.device)
    trainers = [SAETrainer(build_sae(args.architecture, store.d, args.width, float(coefficient),
                                     settings.seed, args.options).to(device),
                           0.0 if args.architecture == "topk" else float(coefficient),
                           args.learning_rate, settings)
                for coefficient in args.coefficients]
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    # a checkpoint is only resumed by the run that wrote it: same settings, same data
    run_id = json.dumps({"settings": json.loads(args.settings), "architecture": args.architecture,
                         "coefficients": args.coefficients, "width": args.width,
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
    log.info("training %d %s SAEs in one pass: %d -> %d latents, coefficients %s, %d steps of %d",
             len(trainers), args.architecture, store.d, trainers[0].sae.d_sae,
             " ".join(args.coefficients), settings.steps, settings.batch_size)
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    histories = train_saes(trainers, batches, settings, store.all(NORMALISATION_TOKENS),
                           checkpoint=checkpoint, resume=resume, run_id=run_id)
    provenance = store_provenance(store.manifest, args.hook)
    for coefficient, trainer, history in zip(args.coefficients, trainers, histories):
        final = history.iloc[-1]
        log.info("coefficient %s: final loss %.4f, L0 %.2f", coefficient, final["loss"], final["l0"])
        save_sae(trainer.sae.cpu(), Path(args.out) / coefficient, provenance, extra={
            "sparsity_coefficient": float(coefficient), "learning_rate": args.learning_rate,
            "training": recorded, "training_tokens": settings.steps * settings.batch_size})
    write_table(pd.concat([history.assign(coefficient=float(coefficient))
                           for coefficient, history in zip(args.coefficients, histories)],
                          ignore_index=True)[["coefficient", *histories[0].columns]], args.log)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the SAEs are saved: nothing left to resume
