"""SAE training step throughput vs the dense matmuls of the same shapes and dtype.

A training step needs at least six matmuls: the encoder and decoder forward
([B,n]x[n,M], [B,M]x[M,n]) and, backward, the gradient into the latents, the two
weight gradients and the gradient into the encoder input (b_dec is subtracted before
encoding, so its gradient needs it). The Gated SAE's auxiliary reconstruction adds a
decoder forward and its backward into the gate (the frozen decoder gets no weight
gradient): eight. We time exactly those matmuls alone, then a whole training step
(loss, backward, decoder projection, Adam, renormalisation), and report the step's
share of matmul throughput. `--profile` shows where the remaining time goes.

`--kernels` times the elementwise choices behind the steps (bool or float masks, `where`
or a multiply, the top-k decode as a sum of rows or a dense matmul, for k = 1-64, and the
decoder-side products of a ReLU-family code dense or with torch's sparse CSR kernels).
`--against COMMIT` instead times each architecture's whole step with today's code and
with that commit's, in alternating fresh processes (best of `--rounds`), and prints the
ratios: a code change's effect on the step, side by side on the same machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from common import REPO, best_time, best_times_interleaved
from factlens.sae.architectures import ARCHITECTURES
from factlens.sae.train import training_step


def matmuls_only(batch: int, n: int, m: int, auxiliary_decoder: bool, dense_decoder: bool = True):
    """The step's necessary batch-sized matmuls; `dense_decoder=False`: only the encoder's
    two (a top-k code decodes, and takes its gradients, as a sum of k decoder rows)."""
    x, w_enc, w_dec = torch.randn(batch, n), torch.randn(n, m), torch.randn(m, n)
    f, grad_out = torch.randn(batch, m), torch.randn(batch, n)

    def run():
        x @ w_enc                     # encoder forward
        if not dense_decoder:
            x.T @ f                   # encoder weight gradient (f: the gradient into it)
            return
        f @ w_dec                     # decoder forward
        grad_f = grad_out @ w_dec.T   # gradient into the latents
        f.T @ grad_out                # decoder weight gradient
        x.T @ grad_f                  # encoder weight gradient
        # (b_dec's gradient through the encoder is a vector-matrix product, not a
        # batch-sized matmul: factlens.sae.base.SparseAutoencoder.project)
        if auxiliary_decoder:         # Gated: frozen-decoder reconstruction, fwd + bwd
            f @ w_dec
            grad_out @ w_dec.T
    return run


def whole_step(architecture: str, batch: int, n: int, m: int):
    options = {"k": 16} if architecture == "topk" else {}
    sae = ARCHITECTURES[architecture](n, m, **options)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-3, betas=(0.0, 0.999))
    x = torch.randn(batch, n) / n ** 0.5
    coefficient = 0.0 if architecture == "topk" else 0.01

    def run():
        training_step(sae, optimizer, x, coefficient)
    return run


ARCHITECTURES_TIMED = ("standard", "gated", "jumprelu", "topk")


def step_times(batch: int, n: int, width: float) -> dict[str, float]:
    """Fastest whole step (seconds) of each architecture, in this process's code."""
    return {architecture: best_time(
        whole_step(architecture, batch, n, int(width * n * (1.5 if architecture == "standard" else 1))),
        repeats=6, warmup=2) for architecture in ARCHITECTURES_TIMED}


def kernels(batch: int, n: int, m: int) -> None:
    """The elementwise choices behind the SAE steps, timed side by side at [batch x m]:
    masks as bool or float tensors, and a top-k code decoded as a sum of decoder rows
    (factlens.sae.topk.decode_top_k below its crossover) or through the dense code."""
    import torch.nn.functional as F
    from factlens.sae.topk import dense_code, top_k

    z, other = torch.randn(batch, m), torch.randn(batch, m)
    threshold, mask, out = torch.rand(m) * 0.1, z > 0, torch.empty(batch, m)
    pairs = {
        "comparison": {"bool, then float": lambda: (z > threshold).to(z.dtype),
                       "into a float tensor": lambda: torch.gt(z, threshold, out=out)},
        "fired over the batch": {"bool .any(0)": lambda: (z > 0).any(0), "amax(0) > 0": lambda: z.amax(0) > 0},
        "apply a mask": {"torch.where": lambda: torch.where(mask, z, 0.0), "multiply": lambda: z * other}}
    print(f"[{batch} x {m}], float32, {torch.get_num_threads()} threads (ms, best of alternating rounds)")
    for what, variants in pairs.items():
        times = best_times_interleaved(variants, rounds=5)
        print(f"{what:22s} " + "   ".join(f"{name} {t * 1e3:6.2f}" for name, t in times.items()))
    rows = torch.randn(m, n, requires_grad=True)
    upstream = torch.randn(batch, n)
    print(f"top-k decode, forward and backward, {m} latents x {n}:")
    for k in (1, 2, 4, 8, 16, 32, 64):
        values, indices = top_k(torch.randn(batch, m), k)
        values.requires_grad_()
        times = best_times_interleaved({
            "rows": lambda: F.embedding_bag(indices, rows, per_sample_weights=values, mode="sum").backward(upstream),
            "dense": lambda: (dense_code(values, indices, m) @ rows).backward(upstream)}, rounds=3)
        print(f"  k = {k:2d}: row sum {times['rows'] * 1e3:6.2f}   dense {times['dense'] * 1e3:6.2f}")
    sparse_products(batch, n, m)


def sparse_products(batch: int, n: int, m: int) -> None:
    """The three decoder-side products of a ReLU-family step (decode f W_dec, the decoder's
    weight gradient f^T g, the latents' gradient g W_dec^T, needed only where f > 0) dense,
    against torch's sparse CSR kernels on f at the L0s the default's SAEs train through (a
    code with per-token support: no top-k row sum). The sparse route must first convert f."""
    import warnings
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    W_dec, upstream = torch.randn(m, n), torch.randn(batch, n)
    print(f"ReLU-family code, decoder-side products, {batch} x {m} latents x {n} (ms):")
    for l0 in (16, 50, 115):
        z = torch.randn(batch, m)
        f = torch.relu(z - z.kthvalue(m - l0, dim=-1, keepdim=True).values)  # l0 positive per token
        csr = f.to_sparse_csr()
        times = best_times_interleaved({
            "dense": lambda: (f @ W_dec, f.t() @ upstream, upstream @ W_dec.t()),
            "convert": lambda: f.to_sparse_csr(),
            "csr": lambda: (csr @ W_dec, csr.t() @ upstream, torch.sparse.sampled_addmm(csr, upstream, W_dec.t()))},
            rounds=3)
        print(f"  L0 {l0:3d}: dense {times['dense'] * 1e3:6.2f}   CSR {times['csr'] * 1e3:6.2f}"
              f" + conversion {times['convert'] * 1e3:6.2f}")


def against(commit: str, args: argparse.Namespace) -> None:
    """Today's step against `commit`'s, in alternating processes."""
    flags = ["--batch", str(args.batch), "--d-in", str(args.d_in), "--width", str(args.width),
             "--threads", str(args.threads), "--steps-json"]
    with tempfile.TemporaryDirectory() as tmp:
        tree = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"], capture_output=True,
                              check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=tree, check=True)
        sources = {commit: Path(tmp) / "src", "today": REPO / "src"}
        best = {label: {} for label in sources}
        for _ in range(args.rounds):
            for label, source in sources.items():
                run = subprocess.run([sys.executable, __file__, *flags], capture_output=True, text=True,
                                     check=True, env={**os.environ, "PYTHONPATH": str(source)})
                for architecture, seconds in json.loads(run.stdout.splitlines()[-1]).items():
                    best[label][architecture] = min(seconds, best[label].get(architecture, float("inf")))
    print(f"batch {args.batch}, d_in {args.d_in}, float32, {args.threads} threads; best of {args.rounds} "
          f"alternating processes")
    print(f"{'architecture':10s} {commit[:10]:>10s} {'today':>10s} {'ratio':>7s}")
    for architecture in ARCHITECTURES_TIMED:
        old, new = best[commit][architecture], best["today"][architecture]
        print(f"{architecture:10s} {old * 1e3:8.2f}ms {new * 1e3:8.2f}ms {new / old:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--d-in", type=int, default=128)
    parser.add_argument("--width", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument("--against", metavar="COMMIT", help="time the whole step against this commit's code")
    parser.add_argument("--rounds", type=int, default=3, help="alternating processes per code (--against)")
    parser.add_argument("--kernels", action="store_true",
                        help="time the mask and top-k decode choices instead of whole steps")
    parser.add_argument("--steps-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.kernels:
        return kernels(args.batch, args.d_in, int(args.width * args.d_in))
    if args.against:
        return against(args.against, args)
    if args.steps_json:
        return print(json.dumps(step_times(args.batch, args.d_in, args.width)))
    print(f"batch {args.batch}, d_in {args.d_in}, float32, {args.threads} threads")
    print(f"{'architecture':10s} {'latents':>7s} {'matmuls':>10s} {'step':>10s} {'share':>7s}")
    for architecture in ARCHITECTURES_TIMED:
        m = int(args.width * args.d_in * (1.5 if architecture == "standard" else 1))
        # alternating rounds, so a slow spell of the machine hits both alike
        times = best_times_interleaved({
            "matmul": matmuls_only(args.batch, args.d_in, m, architecture == "gated"),
            "step": whole_step(architecture, args.batch, args.d_in, m)}, rounds=5)
        matmul, step = times["matmul"], times["step"]
        print(f"{architecture:10s} {m:7d} {matmul * 1e3:8.2f}ms {step * 1e3:8.2f}ms "
              f"{matmul / step:7.0%}")
        if args.profile:
            run = whole_step(architecture, args.batch, args.d_in, m)
            run()
            with torch.profiler.profile() as profile:
                for _ in range(5):
                    run()
            print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    print("share = time of the step's necessary dense matmuls / time of the whole step "
          "(target >= 50%)")


if __name__ == "__main__":
    main()
