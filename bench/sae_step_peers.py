"""SAE training step: factlens against dictionary_learning (Marks, Karvonen, Mueller et
al.), the same architecture, shape, dtype and thread count, measured side by side.

dictionary_learning is not a dependency: make its trainers importable with

    make bench-peers        # pip install --no-deps --target bench/.peers dictionary-learning==0.1.0

(no dependencies: its trainers need only torch and einops, which factlens has; the
package's language-model buffer, which imports nnsight, is never used and is replaced
by a stub so the package imports). A step is, for both: loss, backward, optimiser step
with the decoder's unit-norm constraint, as each library trains. Printed: ms per step
of each, the ratio (> 1: factlens is slower) and factlens's matmul share from
bench/sae_step.py's count of the necessary matmuls.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch

from common import best_times_interleaved
from sae_step import matmuls_only, whole_step

PEERS = Path(__file__).resolve().parent / ".peers"
SHAPES = {"default": (2048, 128, 512), "compute-bound": (4096, 512, 4096)}  # batch, d_in, latents


def import_peer():
    sys.path.insert(0, str(PEERS))
    sys.modules.setdefault("nnsight", types.SimpleNamespace(LanguageModel=None))
    try:
        from dictionary_learning import trainers
    except ImportError as error:
        raise SystemExit(f"dictionary_learning is not in {PEERS}: run `make bench-peers` ({error})")
    return trainers


def peer_step(trainers, architecture: str, batch: int, n: int, m: int):
    common = dict(steps=10_000, activation_dim=n, dict_size=m, layer=0, lm_name="bench", device="cpu",
                  warmup_steps=1, seed=0)
    if architecture == "standard":
        trainer = trainers.StandardTrainer(**common, l1_penalty=0.01, sparsity_warmup_steps=None)
    elif architecture == "gated":
        trainer = trainers.GatedSAETrainer(**common, l1_penalty=0.01, sparsity_warmup_steps=None)
    elif architecture == "jumprelu":
        trainer = trainers.JumpReluTrainer(**common, sparsity_warmup_steps=None)
    else:
        trainer = trainers.TopKTrainer(**{k: v for k, v in common.items() if k != "warmup_steps"}, k=16)
    x = torch.randn(batch, n) / n ** 0.5
    state = {"step": 0}

    def run():
        trainer.update(state["step"], x)
        state["step"] += 1
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5,
                        help="Alternating rounds of factlens, peer and matmuls (2 timings each).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trainers = import_peer()
    print(f"float32, {args.threads} threads; ms per training step (best of {2 * args.rounds}, "
          f"timed in {args.rounds} alternating rounds)")
    print(f"{'shape':14s} {'architecture':10s} {'factlens':>9s} {'dict_learning':>13s} {'ratio':>6s} "
          f"{'matmul share':>12s}")
    for label, (batch, n, m) in SHAPES.items():
        for architecture in ("standard", "gated", "jumprelu", "topk"):
            times = best_times_interleaved({
                "ours": whole_step(architecture, batch, n, m),
                "peer": peer_step(trainers, architecture, batch, n, m),
                "matmul": matmuls_only(batch, n, m, architecture == "gated")}, rounds=args.rounds)
            ours, peer, matmul = times["ours"], times["peer"], times["matmul"]
            print(f"{label:14s} {architecture:10s} {ours * 1e3:8.2f} {peer * 1e3:12.2f} "
                  f"{ours / peer:6.2f} {matmul / ours:12.0%}")
    print("ratio = factlens / dictionary_learning (target <= 1.00)")


if __name__ == "__main__":
    main()
