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
from factlens.sae.saving import activation_metadata, save_sae
from factlens.sae.train import SAETrainingSettings, load_checkpoint, train_sae
from factlens.stages.common import parse_settings, schema_defaults, settings_argument

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
    parser.add_argument("--coefficient", type=float, required=True,
                        help="The sparsity coefficient lambda (for TopK: k, the active latents).")
    parser.add_argument("--width", type=float, required=True,
                        help="The number of latents as a multiple of the input width.")
    parser.add_argument("--learning-rate", type=float, required=True, help="Adam's learning rate.")
    parser.add_argument("--options", type=json.loads, default={},
                        help="Architecture options as a JSON object (JumpReLU: bandwidth, threshold_init).")
    parser.add_argument("--buffer-shards", type=int, default=schema_defaults(("sae",))["buffer_shards"],
                        help="Shards shuffled together when streaming batches (bounds the memory).")
    parser.add_argument("--hook", required=True, help="The hook the store's activations come from.")
    parser.add_argument("--out", required=True, help="The output SAE folder (cfg.json and weights).")
    parser.add_argument("--log", required=True, help="The output CSV of the training log.")


def build_sae(architecture: str, d_in: int, width: float, coefficient: float, seed: int,
              options: dict):
    """An untrained SAE of `architecture` with round(width * d_in) latents."""
    d_sae = int(round(width * d_in))
    cls = ARCHITECTURES[architecture]
    if architecture == "topk":
        return cls(d_in, d_sae, seed=seed, k=int(coefficient))
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
    save_sae(sae.cpu(), args.out, store_provenance(store.manifest, args.hook), extra={
        "sparsity_coefficient": args.coefficient, "learning_rate": args.learning_rate,
        "training": json.loads(args.settings), "training_tokens": settings.steps * settings.batch_size})
    write_table(history, args.log)
    checkpoint.unlink(missing_ok=True)  # the SAE is saved: nothing left to resume
