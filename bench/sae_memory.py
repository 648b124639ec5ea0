"""Peak memory of SAE training does not grow with the number of cached tokens.

Builds two activation stores (N and 4N tokens, same shard size) and trains the same
SAE for the same number of steps on each in a fresh process, reporting peak RSS.
Streaming reads at most `buffer_shards` shards at a time, so the two should match.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def build_store(folder: Path, tokens: int, d: int, shard_tokens: int) -> None:
    from factlens.sae.activations import TokenStream, cache_activations

    ids = torch.arange(tokens).view(-1, 1)
    stream = TokenStream(ids, torch.ones_like(ids, dtype=torch.bool))
    generator = torch.Generator().manual_seed(0)
    basis = torch.randn(64, d, generator=generator)

    def fake_model(rows):
        codes = torch.sin(rows.float() * torch.arange(1, 65).float())  # deterministic per token
        return {"x": (codes @ basis).view(rows.shape[0], 1, d)}

    cache_activations(fake_model, stream, {"x": folder}, {"bench": True}, shard_tokens,
                      "float32", batch_rows=4096)


def train_once(store: str, steps: int) -> None:
    from factlens.sae.activations import ActivationStore
    from factlens.sae.architectures import ReLUSAE
    from factlens.sae.train import SAETrainingSettings, train_sae

    data = ActivationStore(store)
    settings = SAETrainingSettings(seed=0, batch_size=2048, steps=steps, warmup_steps=5,
                                   adam_beta1=0.0, adam_beta2=0.999, resample_every=0,
                                   resample_warmup_steps=5, log_every=50)
    sae = ReLUSAE(data.d, 4 * data.d)
    train_sae(sae, data.batches(2048, 0, buffer_shards=4), 0.1, 1e-3, settings,
              data.shard(0))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tokens": data.n_tokens, "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=250_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--shard-tokens", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--train", nargs=2, metavar=("STORE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        train_once(args.train[0], int(args.train[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for factor in (1, 4):
            store = Path(tmp) / f"store_{factor}"
            build_store(store, factor * args.tokens, args.d, args.shard_tokens)
            size = sum(p.stat().st_size for p in store.glob("*.safetensors")) / 2**20
            out = subprocess.run([sys.executable, __file__, "--train", str(store), str(args.steps)],
                                 capture_output=True, text=True, check=True, cwd=HERE)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"{result['tokens']:>9d} tokens ({size:7.1f} MiB on disk): "
                  f"peak RSS {result['peak_rss_mib']:7.1f} MiB")
    growth = results[1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    print(f"4x the cached tokens -> {growth:.2f}x the peak memory (target: ~1.0x)")


if __name__ == "__main__":
    main()
