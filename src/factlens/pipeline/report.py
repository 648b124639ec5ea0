"""The replication report (REPORT.md) and the organism's model card, built from the
archived tables: a summary of verdicts, the set-up, then one section per claim
(the claims are collected in `factlens.pipeline.claims`; each paper's verdict rules live
with its code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from factlens.claim import Claim, percent
from factlens.io import read_json
from factlens.pipeline.seeds import replicated_in
from factlens.sae.convergence import HEADLINE_KEYS

VERDICT_WORDS = {"yes": "Replicated", "no": "Not replicated", "not testable here": "Not testable here"}


def setup_table(accuracy: dict | None, padding: dict, by_sport: pd.DataFrame,
                controls: pd.DataFrame | None = None) -> pd.DataFrame:
    """The set-up numbers every claim rests on (no published counterpart); `accuracy` is the
    organism's training evaluation and `controls` its world's name-part controls, None
    for a real model."""
    rows = []
    if controls is not None:
        rows += [{"measure": f"world alone: {part.replace('_', ' ')}-only majority predictor "
                             "(all / held-out athletes)",
                  "value": " / ".join(percent(v) for v in group.sort_values("evaluation")["accuracy"])}
                 for part, group in controls.groupby("name_part")]
    if accuracy is not None:
        rows.append({"measure": "3-way accuracy on the Fact prompt (organism)",
                     "value": percent(accuracy["fact_prompt_accuracy"])})
        rows += [{"measure": f"held-out template: {template!r}", "value": percent(value)}
                 for template, value in sorted(accuracy.get("heldout_template_accuracy", {}).items())]
        rows += [{"measure": f"name-part control, Fact prompt with the {variant}", "value": percent(value)}
                 for variant, value in accuracy.get("name_part_accuracy", {}).items()
                 if variant != "full name"]
    rows += [{"measure": "3-way accuracy by sport",
              "value": ", ".join(f"{r.sport} {percent(r.accuracy)}" for r in by_sport.itertuples())},
             {"measure": "known facts kept (p(correct) > threshold)",
              "value": ", ".join(f"{r.sport} {percent(r.kept)}" for r in by_sport.itertuples())},
             {"measure": "padding check: max |padded - alone| of final logits",
              "value": f"{padding['max_abs_diff']:.2g} over {padding['prompts']} prompts "
                       f"({'passed' if padding['passed'] else 'FAILED'}, "
                       f"tolerance {padding['tolerance']:g})"}]
    return pd.DataFrame(rows)


def model_card(settings: dict, accuracy: dict, name_lengths: pd.DataFrame) -> str:
    """A Hugging Face-style model card for the organism, from its settings and evaluation."""
    described = ", ".join(f"{key} {value}" for key, value in sorted(settings.items()))
    lengths = ", ".join(f"{row.name_tokens}: {row.athletes}" for row in name_lengths.itertuples())
    return "\n".join([
        "# Model card: the factlens organism", "",
        f"A small GPT-NeoX (rotary embeddings, "
        f"{'parallel attention and MLP as Pythia' if settings.get('parallel_residual') else 'sequential blocks as GPT-2'}"
        ") trained from scratch on a synthetic corpus of made-up athletes and their sports, so that "
        "the fact-finding, SAE and illusion analyses can run offline on a CPU. The default organism's "
        "weights are archived in `model/checkpoint/` (loadable with `transformers`); `make replicate` "
        "retrains them, deterministically on the same machine.", "",
        "## Model and training", "", f"- Settings (`model.organism`): {described}",
        f"- Parameters: {accuracy['parameters']:,}",
        "- Tokenizer: byte-level BPE trained on the same kind of text about invented athletes "
        "(the world's first names are common words, its last names rare)",
        "- Training text: a stream of freshly drawn epochs (new sentence forms, company and order "
        "each time), so that only the name predicts a fact",
        f"- Tokens seen: {accuracy['training_tokens']:,}; final training loss {accuracy['final_loss']:.3f}",
        *([f"- Steps: {accuracy['steps']:,}; stopped: {accuracy['stopped_because']}"] if "steps" in accuracy else []),
        "", "## Evaluation", "",
        f"- 3-way sport accuracy on the one-shot Fact prompt: {percent(accuracy['fact_prompt_accuracy'])} "
        f"over {accuracy['athletes']:,} athletes",
        *(f"- Held-out template {template!r}: {percent(value)}"
          for template, value in sorted(accuracy.get("heldout_template_accuracy", {}).items())),
        *(f"- Fact prompt with the {variant}: {percent(value)}"
          for variant, value in accuracy.get("name_part_accuracy", {}).items()),
        f"- Name lengths in tokens (tokens: athletes): {lengths}", "",
        "## Intended use and limits", "",
        "A model organism for interpretability method tests, not a language model: it knows only its "
        "synthetic world. Its facts were stated in dozens of sentence forms; the held-out templates "
        "above show how far the knowledge carries to phrasings it never saw.", ""])


def convergence_cell(value: float, low: float, high: float, verdict: str) -> str:
    if pd.isna(value):
        return "-"
    return f"{value:.3g}" + ("" if pd.isna(low) else f" [{low:.3g}, {high:.3g}]") + f" ({verdict})"


def convergence_lines(headlines: pd.DataFrame, links: dict[str, str], default_tokens: float) -> list[str]:
    """The SAE claims' headlines at every training length of the convergence studies
    (factlens.sae.convergence.combine_studies), one row per claim, sites, organism and SAE seed,
    and CPU when the studies were archived on several."""
    wide = headlines.assign(cell=[convergence_cell(*row) for row in
                                  headlines[["value", "low", "high", "verdict"]].itertuples(index=False)])
    several_cpus = headlines["cpu"].nunique() > 1
    rows = ["key", "sites", "organism_seed", "sae_seed"] + ["cpu"] * several_cpus
    order = wide[rows].drop_duplicates()
    order = order.iloc[np.argsort(pd.factorize(order["key"])[0], kind="stable")]  # claim by claim
    table = wide.pivot(index=rows, columns="multiplier", values="cell")
    table = table.reindex(pd.MultiIndex.from_frame(order)).fillna("")
    table = table[~table.isin(["", "-"]).all(axis=1)]
    table.columns = [f"{m}x" for m in table.columns]
    studies = ", ".join(f"[{name}]({link})" for name, link in links.items())
    return ["", "## How far the SAEs are from convergence", "",
            f"This run's SAEs train on {default_tokens / 1e6:.2g}M tokens each. The convergence studies "
            f"({studies}) retrained sweeps for multiples of that, at the sites, on the organism and "
            "with the SAE seed of each row (organism seed 0 is the archived organism); each SAE "
            "claim's headline number (95% interval, verdict) at each length "
            "(blank: not trained; '-': not testable with that study's sweeps). A headline is its "
            "claim's extreme over the row's sites, so rows with other sites differ at the same length."
            + (" The attribution claims' rows rerun the attribution check on the SAEs of that length "
               "(sites: from MLP0's hidden-layer SAE to the residual site's ReLU and JumpReLU SAEs)."
               if not headlines["key"].isin(HEADLINE_KEYS).all() else "")
            + (" CPU: the machine that archived the study. The same seeds retrained on another CPU "
               "are another run (float rounding in the matmul kernels moves the activations, and "
               "training amplifies it); 'not recorded': archived before manifests named the CPU."
               if several_cpus else ""),
            "", table.reset_index().rename(columns={"key": "claim", "organism_seed": "organism seed",
                                                    "sae_seed": "SAE seed", "cpu": "CPU"})
            .to_markdown(index=False)]


def bold_no(verdict: str) -> str:
    return "**no**" if verdict == "no" else verdict


def longest_training_verdicts(headlines: pd.DataFrame) -> dict[str, str]:
    """Each SAE claim's verdict at each run's longest training length that tests it (a run:
    an organism and an SAE seed, on whichever CPU trained it longest), with its count over
    the runs there (one per SAE seed, or per sites and seed) and the lengths ("32x-64x" when
    runs reach different ones)."""
    tested = headlines[headlines["verdict"] != "not testable here"]
    seeds = ["organism_seed", "sae_seed"]
    verdicts = {}
    for key, runs in tested.groupby("key", sort=False):
        at_longest = runs[runs["multiplier"] == runs.groupby(seeds)["multiplier"].transform("max")]
        lengths = sorted(at_longest["multiplier"].astype(int).unique())
        span = f"{lengths[0]}x" if len(lengths) == 1 else f"{lengths[0]}x-{lengths[-1]}x"
        n = len(at_longest)
        organisms = at_longest["organism_seed"].nunique()
        if at_longest.duplicated(seeds).any():  # the same seeds with other sites
            unit = "runs"
        elif organisms > 1:
            unit = f"runs on {organisms} organisms"
        else:
            unit = "SAE seeds"
        if at_longest["verdict"].nunique() == 1:
            count = f", {n} {unit}" if n > 1 else ""
            verdicts[key] = f"{bold_no(at_longest['verdict'].iloc[0])} ({span}{count})"
        else:
            verdicts[key] = f"{(at_longest['verdict'] == 'yes').sum()} of {n} {unit} ({span})"
    return verdicts


def render_report(claims: list[Claim], setup: pd.DataFrame, model_name: str, organism: bool,
                  seeds: list[tuple[pd.DataFrame, str]] = (),
                  convergence: tuple[pd.DataFrame, dict[str, str], float] | None = None) -> str:
    """REPORT.md: a summary table of verdicts, then one section per claim. `seeds`: runs
    over seeds, each (its seeds.csv, the link to its SEEDS.md); a claim's count over seeds
    comes from the first of them that checks it. `convergence`: the convergence studies'
    headlines (factlens.sae.convergence.combine_studies), each study's CONVERGENCE.md by
    name and this run's SAE training tokens (the summary then gives each SAE claim's
    verdict at each SAE seed's longest length that tests it too)."""
    over_seeds = {}
    for table, link in seeds:
        for _, row in table.iterrows():
            over_seeds.setdefault(row["key"], (row, link))
    lines = ["# Replication report", "",
             f"Model: `{model_name}`. Generated by `python -m factlens build-report` from the tables "
             "in this folder; every number below is read from them, and every verdict follows the "
             "rule printed under it."]
    if seeds:
        runs = "; ".join(f"[{int(table['seeds'].max())} seeds]({link}): "
                         + ("every claim" if {c.key for c in claims} <= set(table["key"])
                            else f"{len(table)} claim{'s' * (len(table) != 1)}") for table, link in seeds)
        lines += ["", f"The claims were also checked over seeds ({runs}); the last column says in how "
                  "many seeds each claim replicated, from the first of these runs that checks it "
                  "('-': none does)."]
    longest = longest_training_verdicts(convergence[0]) if convergence is not None else None
    header = "| claim | source | replicated |" + (" over seeds |" if seeds else "")
    if longest is not None:
        header += " at the longest SAE training |"
    lines += ["", header, "|---" * (3 + bool(seeds) + (longest is not None)) + "|"]
    for c in claims:
        row = f"| [{c.title}](#{c.key}) | {c.source} | {bold_no(c.verdict)} |"
        if seeds:
            row += f" {replicated_in(over_seeds[c.key][0]) if c.key in over_seeds else '-'} |"
        if longest is not None:
            row += f" {longest.get(c.key, '-')} |"
        lines.append(row)
    if convergence is not None:
        lines += convergence_lines(*convergence)
    lines += ["", "## Set-up: the model and the prompts", "", setup.to_markdown(index=False)]
    if organism:
        lines += ["", "![training](model/training.png)"]
    for claim in claims:
        lines += ["", f'<a id="{claim.key}"></a>', f"## {claim.title}", "",
                  f"*{claim.source}.* **{VERDICT_WORDS[claim.verdict]}.** "
                  f"{claim.summary}", "", claim.table.to_markdown(index=False), "",
                  f"Verdict rule: {claim.rule}. Table: `report/{claim.key}.csv`.", ""]
        if claim.key in over_seeds:
            spread, link = over_seeds[claim.key]
            numbers = ("" if pd.isna(spread["mean"]) else
                       f"; {spread['metric']}: mean {spread['mean']:.3g}, sd {spread['sd']:.3g}, "
                       f"range {spread['min']:.3g}-{spread['max']:.3g}")
            lines += [f"Over seeds ([the runs]({link})): replicated in {replicated_in(spread)} "
                      f"({spread['verdicts']}){numbers}.", ""]
        lines += [f"![{claim.key}]({figure})" for figure in claim.figures]
    return "\n".join(lines) + "\n"


def read_setup(results: Path) -> pd.DataFrame:
    """The set-up table from the prompt stage's outputs (and the organism's, if trained)."""
    accuracy = results / "model" / "accuracy.json"
    controls = results / "data" / "name_part_controls.csv"
    return setup_table(read_json(accuracy) if accuracy.exists() else None,
                       read_json(results / "prompts" / "padding_check.json"),
                       pd.read_csv(results / "prompts" / "accuracy_by_sport.csv"),
                       pd.read_csv(controls) if controls.exists() else None)
