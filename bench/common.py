"""Helpers shared by the benchmarks: timing and the organism (or a stand-in)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
ORGANISM = REPO / "work" / "default" / "model"


def best_time(function, repeats: int = 5, warmup: int = 1) -> float:
    """Fastest of `repeats` wall-clock timings (seconds) after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def best_times_interleaved(functions: dict, rounds: int = 5, repeats: int = 2,
                           warmup: int = 2) -> dict:
    """Fastest wall-clock timing (seconds) of each function, timed in alternating rounds
    so that a slow spell of the machine (another tenant, clock changes) hits all alike."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    best = {name: float("inf") for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(repeats):
                start = time.perf_counter()
                function()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def organism_folder(tmp: Path) -> tuple[str, str]:
    """The trained organism, or a random GPT-NeoX of the default shape saved to `tmp`."""
    if (ORGANISM / "config.json").exists():
        return str(ORGANISM), "trained organism (work/default/model)"
    from transformers import GPTNeoXForCausalLM

    from factlens.organism.training import OrganismSettings, organism_config
    from factlens.organism.tokenizer import train_bpe_tokenizer
    from factlens.pipeline.stages.common import schema_defaults

    defaults = schema_defaults(OrganismSettings.CONFIG_SECTION)
    tokenizer = train_bpe_tokenizer(["Fact: a plays the sport of baseball"] * 50, 2048,
                                    ("baseball", "basketball", "football", "golf"))
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(organism_config(OrganismSettings(**defaults), tokenizer))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return str(tmp), "random GPT-NeoX with the organism's default shape"
