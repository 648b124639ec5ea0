"""Training throughput of the organism (tokens/s), measured side by side in one run.

Compares the default step (rows of the configured batch) with larger and smaller
batches of the same total work per token, with torch.compile, and with bf16 autocast,
so that a change to the organism's schedule or kernels rests on a measurement here.
"""

from __future__ import annotations

import sys

import torch
import yaml
from transformers import GPTNeoXForCausalLM

from common import REPO, best_time

sys.path.insert(0, str(REPO / "src"))
from factlens.organism import OrganismSettings, organism_config  # noqa: E402


class VocabularyOnly:
    """The organism's tokenizer as far as the model config needs it."""

    bos_token_id = eos_token_id = 0
    pad_token_id = 1

    def __len__(self) -> int:
        return 2048


def defaults() -> dict:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    return {key: spec["default"] for key, spec in
            schema["properties"]["model"]["properties"]["organism"]["properties"].items()}


def tokens_per_second(rows: int, compile_model: bool = False, autocast: bool = False) -> float:
    settings = OrganismSettings(**{**defaults(), "batch_size": rows})
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

    return batch.numel() / best_time(step, repeats=5, warmup=2)


def main() -> None:
    torch.set_num_threads(2)
    rows = defaults()["batch_size"]
    baseline = tokens_per_second(rows)
    print(f"organism training step, {torch.get_num_threads()} threads, context "
          f"{defaults()['context_length']}:")
    print(f"  default ({rows} rows, fp32, eager): {baseline:,.0f} tokens/s")
    for label, kwargs in ((f"{2 * rows} rows", dict(rows=2 * rows)),
                          (f"{rows // 2} rows", dict(rows=rows // 2)),
                          ("torch.compile", dict(rows=rows, compile_model=True)),
                          ("bf16 autocast", dict(rows=rows, autocast=True))):
        value = tokens_per_second(**kwargs)
        print(f"  {label}: {value:,.0f} tokens/s ({value / baseline:.2f}x the default)")


if __name__ == "__main__":
    main()
