# Two entry points: `make replicate` and `make test`. Both create .venv on first use.
#
# torch is installed on its own first so that the build is chosen explicitly:
#   TORCH_SPEC   what to install (default torch==2.13.0)
#   TORCH_INDEX  optional pip index for torch (PyTorch's CPU or CUDA wheel index);
#                see README "GPU set-up".
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
CORES ?= all
CONFIG ?= config/config.yaml
BIN := $(VENV)/bin
# the SAE convergence studies (below), one config each: config/<target>.yaml
SAE_STUDIES := sae-convergence sae-convergence-16x sae-convergence-32x sae-convergence-64x sae-convergence-seed1 sae-convergence-seed1-16x sae-convergence-seed1-32x sae-convergence-seed2-16x sae-convergence-seed2-32x sae-convergence-seed2-64x sae-convergence-seed3-16x sae-convergence-organism1-16x sae-convergence-organism1-32x sae-convergence-organism1-64x sae-convergence-organism1-128x sae-convergence-organism2-16x sae-convergence-organism2-32x sae-convergence-organism2-64x

.PHONY: setup replicate analyse-archived compare sweep robustness organism-seeds $(SAE_STUDIES) sae-studies report verify test test-fast interop interop-check bench bench-peers clean-work

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# One line per finished job and the overall progress (the stages' own progress is in
# work/<run>/logs/); QUIET= shows Snakemake's full job blocks instead.
QUIET ?= --quiet rules

replicate: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --workflow-profile profiles/default $(QUIET)

# The default replication on the archived organism (results/default/model/checkpoint)
# instead of a freshly trained one: the organism's training takes different paths on
# different CPUs, its analysis does not (config/archived.yaml; results in work/archived/).
analyse-archived: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) config/archived.yaml --workflow-profile profiles/default $(QUIET)

# The illusion checks at every MLP and residual stream (config/illusion-sweep.yaml, an
# overlay on the default config; its own work/ and results/ folders).
sweep: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) config/illusion-sweep.yaml --workflow-profile profiles/default $(QUIET)

# The default replication for seeds 0, 1 and 2 (config/seeds.yaml; seed 0 is the default run,
# reused), aggregated in results/seeds/ (every claim's verdict per seed); then the SAE claims
# at their converged lengths on organisms 1 and 2 (the residual site's sweeps at 16x and 32x,
# and the attribution check on their SAEs; organism 0's are the SAE-seed studies of make
# sae-studies); then the default run, whose report reads them all.
ROBUSTNESS_SAE_STUDIES := sae-convergence-organism1-16x sae-convergence-organism1-32x sae-convergence-organism2-16x sae-convergence-organism2-32x
robustness: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflow/seeds.smk --cores $(CORES) --configfile config/seeds.yaml --workflow-profile profiles/default $(QUIET)
	$(MAKE) --no-print-directory $(ROBUSTNESS_SAE_STUDIES)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --workflow-profile profiles/default $(QUIET)

# The organism alone for seeds 0-4 (config/organism-seeds.yaml; seed 0 is the default run's
# organism, reused): training, accuracy, name-part control, localisation and the illusion
# sites of each seed, aggregated in results/organism-seeds/ (SEEDS.md, tables, figure); the
# default report reads its per-claim counts (report.seeds).
organism-seeds: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflow/seeds.smk --cores $(CORES) --configfile config/organism-seeds.yaml --workflow-profile profiles/default $(QUIET)

# The SAE convergence studies, one config each (config/<target>.yaml), each archived in
# results/<target>/ (CONVERGENCE.md, tables, figure; `make verify` re-hashes them):
#   sae-convergence           the default's sweeps at both SAE sites retrained for 1x, 2x,
#                             4x and 8x the default's tokens with the archived organism. 2x-8x
#                             take about 2 h 15 min on 2 cores (1x is the default run).
# The default report reads every archived study's headlines (report.convergence).
#   sae-convergence-16x       the residual site's four sweeps at 16x (2x-8x read from
#                             sae-convergence's work folder, run it first): about 45 min.
#   sae-convergence-32x       the residual site's baseline and Gated sweeps at 32x (16x read
#                             from sae-convergence-16x's work folder): about 50 min.
#   sae-convergence-64x       the same sweeps with SAE seed 0 at 32x and 64x, both trained
#                             here, with the attribution check on each length's SAEs:
#                             1 h 54 min on 2 cores (the AMD EPYC).
#   sae-convergence-seed1     the residual site's baseline and Gated sweeps at 8x with SAE
#                             seed 1: about 20 min.
#   sae-convergence-seed1-16x the same at 16x (8x read from sae-convergence-seed1's work
#                             folder): about 20 min.
#   sae-convergence-seed1-32x the same at 32x (16x read from sae-convergence-seed1-16x's work
#                             folder): about 50 min.
#   sae-convergence-seed2-16x the residual site's four sweeps at 16x with SAE seed 2: 31 min
#                             (an AMD EPYC; 45 min on the Intel Xeon of the 16x study).
#   sae-convergence-seed2-32x its baseline and Gated sweeps at 32x (16x read from
#                             sae-convergence-seed2-16x's work folder): 41 min.
#   sae-convergence-seed2-64x its baseline and Gated sweeps at 64x (32x read from
#                             sae-convergence-seed2-32x's work folder): 74 min.
#   sae-convergence-seed3-16x SAE seed 3's four sweeps at 16x: 28 min (the AMD EPYC).
#   sae-convergence-organism1-16x  a second organism (every seed 1, config/organism-seed-1.yaml):
#                             the residual site's four sweeps at 16x, after training organism
#                             seed 1 in work/seeds/seed-1 (as make organism-seeds does):
#                             7 + 28 min (the AMD EPYC).
#   sae-convergence-organism1-32x  its baseline and Gated sweeps at 32x (16x read from
#                             sae-convergence-organism1-16x's work folder): 35 min.
#   sae-convergence-organism1-64x  the same at 64x (32x read from
#                             sae-convergence-organism1-32x's work folder): 73 min (the AMD EPYC, partly beside make test).
#   sae-convergence-organism1-128x its baseline and Gated sweeps at 128x and the attribution
#                             check on the 128x SAEs (64x read from
#                             sae-convergence-organism1-64x's work folder): 1 h 54 min (the AMD EPYC).
#   sae-convergence-organism2-16x  a third organism (every seed 2, config/organism-seed-2.yaml):
#                             the same as organism 1's 16x, after training organism seed 2 in
#                             work/seeds/seed-2: 6 + 26 min (the AMD EPYC).
#   sae-convergence-organism2-32x  its baseline and Gated sweeps at 32x (16x read from
#                             sae-convergence-organism2-16x's work folder): 34 min.
#   sae-convergence-organism2-64x  the same at 64x (32x read from
#                             sae-convergence-organism2-32x's work folder): 76 min (the AMD EPYC, partly beside make test).
# `make sae-studies` runs them all in this order (each after the study it reads): about
# 14 h on 2 cores from a fresh clone. It is what the report's SAE verdicts at the longest
# training rest on: each SAE claim at the length where its headline settles, over SAE seeds
# and three organisms.
$(SAE_STUDIES): setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflow/convergence.smk --cores $(CORES) --configfile config/$@.yaml --workflow-profile profiles/default $(QUIET)

# the other organisms of the studies above: organism seeds 1 and 2, trained as make
# organism-seeds and make robustness train them (and reused by them)
ORGANISM = work/seeds/seed-$(1)/results/model/checkpoint/model.safetensors
sae-convergence-organism1-16x sae-convergence-organism1-32x sae-convergence-organism1-64x sae-convergence-organism1-128x: $(call ORGANISM,1)
sae-convergence-organism2-16x sae-convergence-organism2-32x sae-convergence-organism2-64x: $(call ORGANISM,2)
$(call ORGANISM,%): setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflow/seeds.smk $@ --cores $(CORES) --configfile config/organism-seeds.yaml --workflow-profile profiles/default $(QUIET)

sae-studies: setup
	for study in $(SAE_STUDIES); do $(MAKE) --no-print-directory $$study || exit 1; done

# The HTML report of the last run (figures with captions, claim tables); open it in a browser.
report: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/report.html

# After `make replicate`: each claim's verdict beside the archived one (read from git), a
# one-line summary, and a non-zero exit when a verdict differs. VERDICTS= another run's
# report/verdicts.csv (e.g. work/archived/results/report/verdicts.csv after analyse-archived).
VERDICTS ?= results/default/report/verdicts.csv
compare: setup
	$(BIN)/python -m factlens compare --verdicts $(VERDICTS)

# Re-hash the archived results against their manifest (the committed one after a run).
verify: setup
	$(BIN)/python -m factlens verify

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Everything but the tests that run the workflow (marked slow): under 2 minutes.
test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

# SAELens interop: a second environment (.interop/, sae-lens needs transformer-lens < 4)
# loads every SAE of a run with SAE.load_from_disk and compares latents and reconstructions
# with factlens's (relative error <= 1e-5); references scaled by 1 + 1e-4 must fail.
# `make interop` trains the smoke config's SAEs in work/interop and checks them;
# `make interop-check INTEROP_WORK=work/default` checks the SAEs of an existing run.
INTEROP ?= .interop
INTEROP_WORK ?= work/interop
SAE_LENS_SPEC ?= sae-lens==6.54.12

interop: setup $(INTEROP)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml --config workdir=$(INTEROP_WORK) resultsdir=$(INTEROP_WORK)/results --workflow-profile profiles/default $(QUIET) --until train_sae
	$(MAKE) interop-check INTEROP_WORK=$(INTEROP_WORK)

interop-check: setup $(INTEROP)/.installed
	$(BIN)/python tests/interop/reference_outputs.py --work $(INTEROP_WORK) --out $(INTEROP_WORK)/interop
	$(INTEROP)/bin/python tests/interop/check_saelens.py --references $(INTEROP_WORK)/interop
	$(BIN)/python tests/interop/reference_outputs.py --work $(INTEROP_WORK) --out $(INTEROP_WORK)/interop-perturbed --perturb 1e-4
	! $(INTEROP)/bin/python tests/interop/check_saelens.py --references $(INTEROP_WORK)/interop-perturbed > $(INTEROP_WORK)/interop-perturbed/check.txt
	@echo "negative control: references perturbed by 1e-4 are reported as different"

$(INTEROP)/.installed:
	$(PYTHON) -m venv $(INTEROP)
	$(INTEROP)/bin/pip install --quiet --upgrade pip
	$(INTEROP)/bin/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(INTEROP)/bin/pip install --quiet "$(SAE_LENS_SPEC)"
	touch $@

bench: setup
	cd bench && for script in startup organism_step organism_run caching_throughput sae_step sae_sweep sae_memory run_schedule; do \
		echo "== $$script"; ../$(BIN)/python $$script.py || exit 1; done

# The peer implementation bench/sae_step_peers.py compares against (not a dependency).
bench-peers: setup
	$(BIN)/pip install --quiet --no-deps --target bench/.peers dictionary-learning==0.1.0

clean-work:
	rm -rf work .snakemake
