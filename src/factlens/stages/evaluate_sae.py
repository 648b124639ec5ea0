"""Evaluate one SAE on held-out tokens: L0, FVU, shrinkage, alive/dense latents, and
loss recovered with its reconstruction spliced into the model."""

from __future__ import annotations

import logging

import torch

from factlens.activations import ActivationStore, token_stream
from factlens.io import read_documents, write_json
from factlens.loading import load_model
from factlens.sae.metrics import loss_recovered, reconstruction_metrics
from factlens.sae.saving import load_sae
from factlens.splicing import spliced_cross_entropy, zero_ablation

log = logging.getLogger("factlens.sae_evaluation")


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sae", required=True, help="SAE folder (cfg.json + weights)")
    parser.add_argument("--store", required=True, help="held-out activation store")
    parser.add_argument("--corpus", required=True, help="held-out corpus (same as the store)")
    parser.add_argument("--out", required=True, help="output metrics.json")


def run(args) -> None:
    torch.set_num_threads(args.threads)
    sae, config = load_sae(args.sae)
    store = ActivationStore(args.store)
    if store.manifest["hook"] != config["hook_name"]:
        raise ValueError(f"SAE was trained on {config['hook_name']!r} but the store holds "
                         f"{store.manifest['hook']!r}")
    metrics = reconstruction_metrics(sae, store.all())

    model, tokenizer = load_model(args.model, args.device, args.dtype)
    stream = token_stream(tokenizer, read_documents(args.corpus), store.manifest["context_length"],
                          store.manifest["max_tokens"])
    device = next(model.parameters()).device
    sae = sae.to(device)
    losses = spliced_cross_entropy(model, stream.input_ids, stream.keep, config["hook_name"], {
        "clean": None, "zero": zero_ablation, "sae": sae})
    metrics.update(loss_recovered(losses["clean"], losses["zero"], losses["sae"]))
    metrics.update({key: config[key] for key in ("architecture", "hook_name", "d_in", "d_sae",
                                                 "sparsity_coefficient", "learning_rate")})
    metrics["training_tokens"] = config["training_tokens"]
    log.info("%s %s lambda=%g: L0 %.2f, FVU %.3f, loss recovered %.3f, gamma %.3f",
             config["architecture"], config["hook_name"], config["sparsity_coefficient"],
             metrics["l0"], metrics["fvu"], metrics["loss_recovered"], metrics["shrinkage_gamma"])
    write_json(metrics, args.out)
