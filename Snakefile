"""factlens: fact finding, sparse autoencoders and illusion checks as one workflow.

    snakemake --cores all --configfile config/config.yaml

The config is validated against workflow/schemas/config.schema.yaml (defaults filled
in) before any rule starts; see README.md for the stages and how to rerun parts.
"""

import json
import os
import shlex
from pathlib import Path

import pandas as pd
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/prompts.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/sae.smk"
include: "workflow/rules/localisation.smk"
include: "workflow/rules/directions.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/archive.smk"


rule all:
    default_target: True
    input:
        rules.prepare_prompts.output,
        rules.train_model.output if ORGANISM else [],
        rules.summarise_saes.output,
        rules.probe_sport.output,
        rules.patch_facts.output,
        direction_checks,
        rules.summarise_directions.output,
        rules.attribute_latents.output,
        rules.archive_results.output,
