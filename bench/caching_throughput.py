"""Activation caching throughput vs a bare forward pass of the same model.

Both run on the same batches of token ids: (1) the Hugging Face model's plain
forward, (2) the TransformerBridge's plain forward, (3) the caching stage's runner
(hooks on the cached sites, stopping after the last block it needs), and (4) the
full caching path including shard writing and checksums.
"""

import argparse
import tempfile
from pathlib import Path

import torch

from common import best_time, organism_folder
from factlens.sae.activations import TokenStream, cache_activations
from factlens.loading import load_model
from factlens.pipeline.stages.cache_activations import model_runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hooks", nargs="+",
                        default=["blocks.1.hook_resid_post", "blocks.0.mlp.hook_post"])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch-rows", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder, what = organism_folder(Path(tmp) / "model")
        bridge, tokenizer = load_model(folder, device="cpu")
        hf = bridge.original_model
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(2, len(tokenizer), (args.rows, args.context), generator=generator)
        batches = ids.split(args.batch_rows)
        tokens = ids.numel()
        runner = model_runner(bridge, args.hooks)
        full_depth_runner = model_runner(bridge, args.hooks, stop_early=False)
        stream = TokenStream(ids, torch.ones_like(ids, dtype=torch.bool))

        @torch.no_grad()
        def hf_forward():
            for batch in batches:
                hf(batch)

        @torch.no_grad()
        def bridge_forward():
            for batch in batches:
                bridge(batch)

        def runner_only():
            for batch in batches:
                runner(batch)

        def full_depth_runner_only():
            for batch in batches:
                full_depth_runner(batch)

        def full_caching():
            stores = {hook: Path(tmp) / "store" / hook for hook in args.hooks}
            for store in stores.values():
                for old in store.glob("*"):
                    old.unlink()
            cache_activations(runner, stream, stores, {"bench": True}, 4096, "float32",
                              args.batch_rows)

        timings = {name: best_time(fn, repeats=3) for name, fn in [
            ("HF forward (bare)", hf_forward), ("bridge forward", bridge_forward),
            ("caching runner, all layers (hooks only)", full_depth_runner_only),
            ("caching runner (hooks, early stop)", runner_only),
            ("full caching (runner + shards + sha256)", full_caching)]}
    bare = timings["HF forward (bare)"]
    print(f"model: {what}; {tokens} tokens in batches of {args.batch_rows}x{args.context}; "
          f"hooks {args.hooks}; {args.threads} threads")
    for name, seconds in timings.items():
        print(f"{name:42s} {tokens / seconds:10.0f} tokens/s   {bare / seconds:6.2f}x bare forward")
    ratio = bare / timings["full caching (runner + shards + sha256)"]
    hooks_only = bare / timings["caching runner, all layers (hooks only)"]
    print(f"caching throughput = {ratio:.0%} of the bare forward (target >= 90%); "
          f"without the early stop the hooked forward alone runs at {hooks_only:.0%}")


if __name__ == "__main__":
    main()
