"""Training throughput of the organism (tokens/s), measured side by side in one run.

Compares the default step (rows of the configured batch) with larger and smaller
batches of the same total work per token, with torch.compile, and with bf16 autocast,
so that a change to the organism's schedule or kernels rests on a measurement here.
Then profiles the default step: the share of its time in matmul kernels and their
GFLOP/s against a large square matmul on the same threads, which bounds how much
faster any kernel work could make the organism's training.
"""

from __future__ import annotations

import sys

import torch
from transformers import GPTNeoXForCausalLM

from common import REPO, best_time, best_times_interleaved

sys.path.insert(0, str(REPO / "src"))
from factlens.organism.training import OrganismSettings, organism_config  # noqa: E402
from factlens.pipeline.stages.common import schema_defaults  # noqa: E402


class VocabularyOnly:
    """The organism's tokenizer as far as the model config needs it."""

    bos_token_id = eos_token_id = 0
    pad_token_id = 1

    def __len__(self) -> int:
        return 2048


def defaults() -> dict:
    """The organism's settings as the schema's defaults, which config/config.yaml restates
    (tests/test_config.py): the organism the default run trains."""
    return dict(schema_defaults(OrganismSettings.CONFIG_SECTION))


def training_step(rows: int, compile_model: bool = False, autocast: bool = False, **shape):
    """One AdamW step of a freshly initialised organism on a random batch; and its tokens.
    `shape` overrides organism settings (n_layers, d_mlp, parallel_residual)."""
    settings = OrganismSettings(**{**defaults(), "batch_size": rows, **shape})
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(organism_config(settings, VocabularyOnly()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step_model = torch.compile(model) if compile_model else model
    batch = torch.randint(2, 2048, (rows, settings.context_length))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = step_model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, batch.numel()


MATMULS = {"aten::mm", "aten::addmm", "aten::bmm"}


def matmul_profile(step, steps: int = 3) -> tuple[float, float]:
    """Seconds per step in matmul kernels and their FLOPs per step, from torch.profiler
    (intra-op threads run inside an op's time). The profiler's own overhead falls mostly
    on the many small ops, so the step itself is timed without it."""
    step()
    with torch.profiler.profile(with_flops=True) as profile:
        for _ in range(steps):
            step()
    matmuls = [event for event in profile.key_averages() if event.key in MATMULS]
    return (sum(event.self_cpu_time_total for event in matmuls) * 1e-6 / steps,
            sum(event.flops for event in matmuls) / steps)


def square_matmul_gflops(size: int = 2048) -> float:
    """GFLOP/s of one large fp32 square matmul: a practical ceiling on these threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_time(lambda: a @ b, repeats=5, warmup=2) / 1e9


def main() -> None:
    torch.set_num_threads(2)
    rows = defaults()["batch_size"]
    variants = {f"default ({rows} rows, fp32, eager)": dict(rows=rows),
                f"{2 * rows} rows": dict(rows=2 * rows),
                f"{rows // 2} rows": dict(rows=rows // 2),
                "torch.compile": dict(rows=rows, compile_model=True),
                "bf16 autocast": dict(rows=rows, autocast=True),
                # the organism's shape before v3 and the shapes tried for v3 (docs/organism.md)
                "v2: 4 parallel blocks, d_mlp 1024": dict(rows=rows, n_layers=4, d_mlp=1024,
                                                          parallel_residual=True),
                "6 sequential blocks, d_mlp 1024": dict(rows=rows, d_mlp=1024)}
    steps = {label: training_step(**kwargs) for label, kwargs in variants.items()}
    # alternating rounds: steps of a few hundred ms vary by 10-30% between separate runs here
    times = best_times_interleaved({label: step for label, (step, _) in steps.items()}, rounds=3)
    rate = {label: steps[label][1] / seconds for label, seconds in times.items()}
    baseline = next(iter(rate.values()))
    print(f"organism training step, {torch.get_num_threads()} threads, context "
          f"{defaults()['context_length']}, best of 3 alternating rounds:")
    for label, value in rate.items():
        print(f"  {label}: {value:,.0f} tokens/s ({value / baseline:.2f}x the default)")

    label, (step, _) = next(iter(steps.items()))
    matmul_seconds, flops = matmul_profile(step)
    ceiling = square_matmul_gflops()
    floor = flops * 1e-9 / ceiling  # every other op free, every matmul at the square rate
    organism_steps = 2050  # the default run's organism (seed 0) stopped after 2,050 steps
    print(f"  the default step: {times[label] * 1e3:.0f} ms, {matmul_seconds / times[label]:.0%} of it "
          f"in matmuls ({flops / 1e9:.1f} GFLOP at {flops * 1e-9 / matmul_seconds:.0f} GFLOP/s)")
    print(f"  a 2048x2048 fp32 matmul: {ceiling:.0f} GFLOP/s; with everything but the matmuls "
          f"free and every matmul at that rate, a step would take >= {floor * 1e3:.0f} ms "
          f"({times[label] / floor:.1f}x faster at most): {organism_steps:,} steps >= "
          f"{organism_steps * floor:.0f} s, against {organism_steps * times[label]:.0f} s at the "
          f"measured default")

if __name__ == "__main__":
    main()
