"""Where the organism's training time goes, measured side by side in one run.

A training run is steps, the stopping criterion's checks (the Fact accuracy on every
athlete, every `eval_every` steps), drawing and tokenising fresh epochs of text, and
the final evaluation. This times each part on the default config (the real training
loop for the steps, `factlens.organism.training.train_organism`), projects a run of the archived
organism's length from them, and sets the projection beside the archived run's wall time,
so that a change to the schedule rests on where the time actually is.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
import torch
from transformers import GPTNeoXForCausalLM

from common import REPO
from organism_step import defaults

sys.path.insert(0, str(REPO / "src"))
from factlens.organism.corpus import epoch_documents  # noqa: E402
from factlens.facts.evaluation import fact_accuracy  # noqa: E402
from factlens.loading import load_tokenizer  # noqa: E402
from factlens.organism.training import OrganismSettings, organism_config, pack_documents, train_organism  # noqa: E402
from factlens.facts.organism_summary import summarise_organism  # noqa: E402
from factlens.pipeline.stages.common import parse_settings  # noqa: E402
from factlens.organism.world import SPORTS, WorldSettings, draw_athletes, example_athlete  # noqa: E402

CHECKPOINT = REPO / "results" / "default" / "model" / "checkpoint"
STEPS_TIMED = 100


def mean_seconds(function, repeats: int = 3) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    torch.set_num_threads(2)
    settings = OrganismSettings(**defaults())
    world = parse_settings("{}", WorldSettings)  # the schema's defaults, as config.yaml states them
    athletes = draw_athletes(world)
    main_athletes = athletes[athletes.sport.isin(SPORTS)]
    example = example_athlete(athletes)["name"]
    tokenizer = load_tokenizer(str(CHECKPOINT))

    def documents_for_epoch(epoch: int) -> list[str]:
        return epoch_documents(athletes, world, epoch)

    rows_per_epoch = len(pack_documents(tokenizer, documents_for_epoch(0), settings.context_length))
    steps_per_epoch = rows_per_epoch / settings.batch_size
    epoch_s = mean_seconds(lambda: pack_documents(tokenizer, documents_for_epoch(1), settings.context_length))

    torch.manual_seed(0)
    fresh = GPTNeoXForCausalLM(organism_config(settings, tokenizer)).eval()
    check_s = mean_seconds(lambda: fact_accuracy(fresh, tokenizer, main_athletes, example))

    short = OrganismSettings(**{**defaults(), "max_steps": STEPS_TIMED})
    start = time.perf_counter()
    model, curve = train_organism(short, tokenizer, documents_for_epoch)
    loop_s = time.perf_counter() - start
    epochs_drawn = -(-STEPS_TIMED // steps_per_epoch)
    step_s = (loop_s - epochs_drawn * epoch_s) / STEPS_TIMED

    start = time.perf_counter()
    summarise_organism(model, tokenizer, athletes, curve, settings, "\n")
    final_s = time.perf_counter() - start

    accuracy = json.loads((REPO / "results" / "default" / "model" / "accuracy.json").read_text())
    manifest = json.loads((REPO / "results" / "default" / "MANIFEST.json").read_text())
    archived_s = manifest["rules"]["train_model"]["wall_s"]
    steps = accuracy["steps"]
    parts = pd.Series({
        "steps": steps * step_s,
        f"stopping checks ({len(main_athletes)} Fact prompts every {settings.eval_every} steps)":
            -(-steps // settings.eval_every) * check_s,
        "drawing and tokenising epochs": steps / steps_per_epoch * epoch_s,
        "final evaluation (held-out templates, name parts, Fact)": final_s,
    })
    print(f"organism training, 2 threads, default config; the archived organism took {steps:,} steps:")
    print(f"  one step (mean of {STEPS_TIMED} steps of the training loop, epochs excluded): "
          f"{step_s * 1e3:.0f} ms")
    print(f"  one stopping check: {check_s:.2f} s; one epoch ({rows_per_epoch} rows, "
          f"{steps_per_epoch:.1f} steps): {epoch_s:.2f} s; the final evaluation: {final_s:.1f} s")
    for label, seconds in parts.items():
        print(f"  {label}: {seconds:.0f} s ({seconds / parts.sum():.0%})")
    print(f"  projected training: {parts.sum():.0f} s ({parts.sum() / 60:.1f} min) against "
          f"{archived_s:.0f} s archived ({archived_s / 60:.1f} min; the rest is starting Python, "
          "loading, saving, plotting and the machine's state then)")
    checks = parts.iloc[1]
    print(f"  the 8-minute target needs {max(0.0, archived_s - 480):.0f} s less; checks every "
          f"{2 * settings.eval_every} steps would save {checks / 2:.0f} s, checks on a third of the "
          f"athletes {checks * 2 / 3:.0f} s (either moves where the decay starts)")


if __name__ == "__main__":
    main()
