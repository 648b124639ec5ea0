"""Cache hook-point activations over a corpus split into checksummed shards."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from tqdm import tqdm

from factlens.sae.activations import cache_activations, token_stream
from factlens.sae.corpora import add_corpus_arguments, corpus_name, documents_from_arguments
from factlens.loading import check_hook_name
from factlens.pipeline.stages.common import model_arguments, open_model, schema_defaults

log = logging.getLogger("factlens.sae.activations")


def add_arguments(parser) -> None:
    model_arguments(parser)
    defaults = schema_defaults(("activations",))
    parser.add_argument("--hooks", type=json.loads, required=True,
                        help="The hook names to cache, as a JSON list.")
    add_corpus_arguments(parser, "The dataset split to read (with --dataset), e.g. train[:90%%].")
    parser.add_argument("--context-length", type=int, default=defaults["context_length"],
                        help="Tokens per row of packed, BOS-prefixed documents.")
    parser.add_argument("--max-tokens", type=int, default=defaults["train_tokens"],
                        help="How many tokens to cache (BOS and padding positions are not cached).")
    parser.add_argument("--shard-tokens", type=int, default=defaults["shard_tokens"],
                        help="Tokens per checksummed shard file.")
    parser.add_argument("--storage-dtype", default=defaults["storage_dtype"],
                        help="The dtype the activations are stored in: float32, float16 or bfloat16.")
    parser.add_argument("--batch-rows", type=int, default=defaults["batch_rows"],
                        help="Rows per forward pass.")
    parser.add_argument("--stores", type=json.loads, required=True,
                        help="The output store folders, one per hook, as a JSON list.")


BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def dimension(model, hook: str) -> int:
    """The width of a hook's activations: d_mlp at an MLP's hidden layer, else d_model."""
    return model.cfg.d_mlp if hook.endswith(("mlp.hook_post", "mlp.hook_pre")) else model.cfg.d_model


def layers_needed(hooks: list[str]) -> int | None:
    """Run the model only up to the last block a hook lives in."""
    layers = [int(h.split(".")[1]) for h in hooks if h.startswith("blocks.")]
    if len(layers) < len(hooks):
        return None
    return max(layers) + 1


def model_runner(model, hooks: list[str], stop_early: bool = True):
    """`input_ids -> {hook: activations}`, one forward that (by default) stops after the
    last block a hook needs."""
    device = next(model.parameters()).device
    stop = layers_needed(hooks) if stop_early else None

    def run_rows(input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        captured: dict[str, torch.Tensor] = {}

        def capture(name):
            # keyed by the requested name: the bridge reports canonical names for aliases
            def store(activation, hook=None):
                captured[name] = activation.detach()
            return store

        with torch.no_grad():
            model.run_with_hooks(input_ids.to(device), fwd_hooks=[(h, capture(h)) for h in hooks],
                                 stop_at_layer=stop, return_type=None)
        return captured

    return run_rows


def run(args) -> None:
    if len(args.hooks) != len(args.stores):
        raise ValueError("--hooks and --stores must have the same length")
    model, tokenizer = open_model(args)
    for hook in args.hooks:
        check_hook_name(model, hook)
    stream = token_stream(tokenizer, documents_from_arguments(args, tokenizer, args.max_tokens),
                          args.context_length, args.max_tokens)
    width = sum(dimension(model, hook) for hook in args.hooks)
    log.info("caching %s over %d tokens (%d rows): about %.2f GB in %s", args.hooks,
             stream.n_tokens, len(stream.input_ids),
             stream.n_tokens * width * BYTES[args.storage_dtype] / 1e9, args.storage_dtype)
    description = {"model": args.model, "corpus": corpus_name(args.corpus, args.dataset, args.split),
                   "context_length": args.context_length, "max_tokens": args.max_tokens}
    stores = {hook: Path(store) for hook, store in zip(args.hooks, args.stores)}
    manifests = cache_activations(model_runner(model, args.hooks), stream, stores, description,
                                  args.shard_tokens, args.storage_dtype, args.batch_rows,
                                  progress=lambda it: tqdm(it, desc="shards", mininterval=5))
    for hook, manifest in manifests.items():
        log.info("%s: %d tokens x %d in %d shards", hook, manifest["n_tokens"], manifest["d"],
                 len(manifest["shards"]))
