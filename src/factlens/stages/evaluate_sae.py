"""Evaluate the SAEs of one hook on held-out tokens: L0, FVU, shrinkage, alive/dense
latents, and loss recovered with each reconstruction spliced into the model.

One process per hook: the model, the held-out tokens and the clean and zero-ablated
losses are loaded or computed once and shared by every SAE at that hook."""

from __future__ import annotations

import logging

from factlens.activations import ActivationStore, token_stream
from factlens.corpora import add_corpus_arguments, documents_from_arguments
from factlens.io import write_json
from factlens.sae.metrics import loss_recovered, reconstruction_metrics
from factlens.sae.saving import load_sae
from factlens.splicing import spliced_cross_entropy, zero_ablation
from factlens.stages.common import model_arguments, open_model

log = logging.getLogger("factlens.sae_evaluation")


def add_arguments(parser) -> None:
    model_arguments(parser)
    parser.add_argument("--saes", nargs="+", required=True, help="SAE folders (cfg.json + weights)")
    parser.add_argument("--store", required=True, help="held-out activation store")
    add_corpus_arguments(parser, "The held-out split (with --dataset), the same as the store's.")
    parser.add_argument("--outs", nargs="+", required=True, help="output metrics.json, one per SAE")


def run(args) -> None:
    if len(args.saes) != len(args.outs):
        raise ValueError("--saes and --outs must have the same length")
    store = ActivationStore(args.store)
    hook = store.manifest["hook"]
    activations = store.all()
    model, tokenizer = open_model(args)
    device = next(model.parameters()).device
    budget = store.manifest["max_tokens"]
    stream = token_stream(tokenizer, documents_from_arguments(args, tokenizer, budget),
                          store.manifest["context_length"], budget)
    saes = {}
    for folder in args.saes:
        sae, config = load_sae(folder)
        if config["hook_name"] != hook:
            raise ValueError(f"{folder}: SAE was trained on {config['hook_name']!r} but the "
                             f"store holds {hook!r}")
        saes[folder] = (sae.to(device), config)
    losses = spliced_cross_entropy(model, stream.input_ids, stream.keep, hook, {
        "clean": None, "zero": zero_ablation, **{folder: sae for folder, (sae, _) in saes.items()}})
    for (folder, (sae, config)), out in zip(saes.items(), args.outs):
        metrics = reconstruction_metrics(sae.cpu(), activations)
        metrics.update(loss_recovered(losses["clean"], losses["zero"], losses[folder]))
        metrics.update({key: config[key] for key in ("architecture", "hook_name", "d_in", "d_sae",
                                                     "sparsity_coefficient", "learning_rate",
                                                     "training_tokens")})
        log.info("%s %s lambda=%g: L0 %.2f, FVU %.3f, loss recovered %.3f, gamma %.3f",
                 config["architecture"], hook, config["sparsity_coefficient"], metrics["l0"],
                 metrics["fvu"], metrics["loss_recovered"], metrics["shrinkage_gamma"])
        write_json(metrics, out)
