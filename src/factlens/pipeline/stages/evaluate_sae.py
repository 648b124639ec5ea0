"""Evaluate the SAEs of one hook on held-out tokens: L0, FVU, shrinkage, alive/dense
latents, and loss recovered with each reconstruction spliced into the model.

One process per hook: the model, the held-out tokens and the clean and zero-ablated
losses are loaded or computed once and shared by every SAE at that hook. Besides the
table (one row per SAE), the summed CE and active-latent counts of every held-out
sequence are written, for bootstrap intervals over sequences (factlens.sae.pareto)."""

from __future__ import annotations

import logging

import pandas as pd
import torch

from factlens.sae.activations import ActivationStore, token_stream
from factlens.sae.corpora import add_corpus_arguments, documents_from_arguments
from factlens.io import write_table
from factlens.sae.metrics import loss_recovered, per_token_statistics, reconstruction_metrics
from factlens.sae.saving import load_sae
from factlens.sae.splicing import sequence_cross_entropy, zero_ablation
from factlens.pipeline.stages.common import model_arguments, open_model

log = logging.getLogger("factlens.sae_evaluation")


def add_arguments(parser) -> None:
    model_arguments(parser)
    parser.add_argument("--saes", nargs="+", required=True,
                        help="The SAE folders to evaluate (cfg.json and weights), all at one hook.")
    parser.add_argument("--store", required=True, help="The held-out activation store of that hook.")
    add_corpus_arguments(parser, "The held-out split (with --dataset), the same as the store's.")
    parser.add_argument("--table", required=True, help="The output CSV, one row per SAE.")
    parser.add_argument("--sequences", required=True,
                        help="The output CSV of per-sequence sums, one row per sequence and run.")


def sequence_of_rows(keep: torch.Tensor, n_rows: int) -> torch.Tensor:
    """The sequence (row of the token stream) each of the store's first `n_rows`
    activations comes from: the store keeps the stream's kept positions in order."""
    if int(keep.sum()) < n_rows:
        raise ValueError(f"the held-out text gives {int(keep.sum())} tokens but the store holds "
                         f"{n_rows} activations: the store was cached from other text")
    ends = keep.sum(-1).cumsum(0)
    return torch.searchsorted(ends, torch.arange(n_rows), right=True)


def sequence_table(name: str, coefficient: float, ce_sums: torch.Tensor, targets: torch.Tensor,
                   positions: torch.Tensor, centred: torch.Tensor, active: torch.Tensor,
                   squared_error: torch.Tensor) -> pd.DataFrame:
    """One run's per-sequence sums: CE over the predicted tokens; over the cached
    positions, the centred sum of squares of the activations (FVU's denominator), the
    active latents and the squared reconstruction error (zero for the runs without an SAE)."""
    return pd.DataFrame({"architecture": name, "sparsity_coefficient": coefficient,
                         "sequence": range(len(ce_sums)), "targets": targets.numpy(),
                         "positions": positions.numpy(), "ce_sum": ce_sums.numpy(),
                         "centred_sum_of_squares": centred.numpy(), "active": active.numpy(),
                         "squared_error": squared_error.numpy()})


def run(args) -> None:
    store = ActivationStore(args.store)
    hook = store.manifest["hook"]
    activations = store.all()
    model, tokenizer = open_model(args)
    device = next(model.parameters()).device
    budget = store.manifest["max_tokens"]
    stream = token_stream(tokenizer, documents_from_arguments(args, tokenizer, budget),
                          store.manifest["context_length"], budget)
    rows_sequence = sequence_of_rows(stream.keep, len(activations))
    n_sequences = len(stream.input_ids)
    positions = torch.bincount(rows_sequence, minlength=n_sequences)

    def per_sequence(per_row: torch.Tensor) -> torch.Tensor:
        return torch.bincount(rows_sequence, weights=per_row.double(), minlength=n_sequences)

    saes = {}
    for folder in args.saes:
        sae, config = load_sae(folder)
        trained_on = config["metadata"]["hook_name"]
        if trained_on != hook:
            raise ValueError(f"{folder}: SAE was trained on {trained_on!r} but the "
                             f"store holds {hook!r}")
        saes[folder] = (sae.to(device), config)
    ce_sums, targets = sequence_cross_entropy(model, stream.input_ids, stream.keep, hook, {
        "clean": None, "zero": zero_ablation, **{folder: sae for folder, (sae, _) in saes.items()}})
    mean_ce = {name: float(sums.sum() / targets.sum()) for name, sums in ce_sums.items()}
    no_sae = torch.zeros(n_sequences, dtype=torch.float64)
    centred = per_sequence((activations.double() - activations.double().mean(0)).pow(2).sum(-1))
    tables = [sequence_table("clean", float("nan"), ce_sums["clean"], targets, positions, centred, no_sae, no_sae),
              sequence_table("zero_ablation", float("nan"), ce_sums["zero"], targets, positions, centred,
                             no_sae, no_sae)]
    rows = []
    for folder, (sae, config) in saes.items():
        metrics = reconstruction_metrics(sae.cpu(), activations)
        metrics.update(loss_recovered(mean_ce["clean"], mean_ce["zero"], mean_ce[folder]))
        metrics.update({"architecture": config["architecture"], "hook_name": hook,
                        **{key: config[key] for key in ("d_in", "d_sae", "sparsity_coefficient",
                                                        "learning_rate", "training_tokens")}})
        log.info("%s %s lambda=%g: L0 %.2f, FVU %.3f, loss recovered %.3f, gamma %.3f",
                 config["architecture"], hook, config["sparsity_coefficient"], metrics["l0"],
                 metrics["fvu"], metrics["loss_recovered"], metrics["shrinkage_gamma"])
        rows.append(metrics)
        per_token = per_token_statistics(sae, activations)
        tables.append(sequence_table(config["architecture"], config["sparsity_coefficient"],
                                     ce_sums[folder], targets, positions, centred,
                                     per_sequence(per_token["active"]), per_sequence(per_token["squared_error"])))
    write_table(pd.DataFrame(rows), args.table)
    write_table(pd.concat(tables, ignore_index=True), args.sequences)
