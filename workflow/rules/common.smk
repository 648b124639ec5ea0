# Paths, config views and helpers shared by the rule files (included first).

# this file's folder is workflow/rules (also when the workflow runs as a module of
# workflow/seeds.smk, whose basedir is workflow/)
REPO = Path(workflow.current_basedir).parents[1]
SRC = REPO / "src" / "factlens"
# Every job runs `python -m factlens` from this checkout, in whatever environment it gets
# (the project's .venv, or the conda environment below with --use-conda). lint: this sets
# PYTHONPATH rather than reading it, so there is nothing for an envvars directive to assert.
os.environ["PYTHONPATH"] = str(SRC.parent)
# One conda environment for every job, as a path relative to the files that use it; the project's
# dependencies, the same as pyproject.toml (tests/test_packaging.py keeps them in step).
CONDA_ENV = "../../environment.yml"
WORK = config["workdir"]
RESULTS = config["resultsdir"]
ORGANISM = config["model"]["name"] == "organism"
MODEL = f"{WORK}/model" if ORGANISM else config["model"]["name"]

from factlens.organism.checkpoint import CHECKPOINT_FILES
from factlens.pipeline.claims import CLAIM_KEYS
from factlens.pipeline.code import stage_code
from factlens.pipeline.seeds import path_list

if ORGANISM:
    # A world that cannot be balanced stops here, before any rule runs, naming the keys.
    from factlens.organism.checks import check_organism_hooks
    from factlens.organism.world import check_world_settings

    check_world_settings(config["world"])
    # a depth or block type the configured hooks do not fit stops here too, naming the key
    check_organism_hooks(config)


def model_argument(wildcards, input):
    """The model to load: the organism's folder (one of its inputs) or a hub name
    (not a workflow file: it comes from the Hugging Face cache)."""
    return input.model if ORGANISM else MODEL


def folder(path):
    """The folder a stage is given for a tracked file inside it (a store's manifest.json,
    an SAE's weights): stages take folders, Snakemake tracks files."""
    return os.path.dirname(path)


def code(stage):
    """The package modules `python -m factlens <stage>` runs, found from its imports
    (factlens.pipeline.code): editing one reruns exactly the jobs whose stage imports it."""
    return stage_code(stage, package=SRC)


def as_json(section):
    """A config section as a JSON string for a rule's params (a change reruns the rule)."""
    return json.dumps(section, sort_keys=True)


# Activation stores and their corpora
SITES = {site["hook"]: site for site in config["sae"]["sites"]}
CORPUS = {
    "train": config["activations"]["train_corpus"] or f"{WORK}/world/corpus_train.txt",
    "heldout": config["activations"]["heldout_corpus"] or f"{WORK}/world/corpus_heldout.txt",
}
# A Hugging Face dataset instead of the corpus files (real models on real text)
DATASET = config["activations"]["dataset"]
if DATASET is not None and (config["activations"]["train_corpus"] or config["activations"]["heldout_corpus"]):
    raise ValueError("activations.dataset replaces activations.train_corpus / heldout_corpus: set "
                     "either the dataset or the corpus files, not both")
SPLIT_DEFAULTS = {"train": "train", "heldout": "validation"}


def corpus_input(split):
    """What Snakemake tracks as a split's text: the corpus file, or a dataset saved to
    disk (a hub dataset lives in the Hugging Face cache, outside the workflow)."""
    if DATASET is None:
        return CORPUS[split]
    return DATASET["path"] if os.path.isdir(DATASET["path"]) else []


def corpus_flags(split):
    """A param: the stage's flags for a split's text (--corpus FILE, or --dataset and --split)."""
    def flags(wildcards, input):
        if DATASET is None:
            return f"--corpus {shlex.quote(input.corpus)}"
        return (f"--dataset {shlex.quote(as_json(DATASET))}"
                f" --split {shlex.quote(DATASET.get(f'{split}_split', SPLIT_DEFAULTS[split]))}")
    return flags
SPLIT_TOKENS = {"train": config["activations"]["train_tokens"],
                "heldout": config["activations"]["heldout_tokens"]}


def store(split, hook):
    """The activation store of one hook over one split's corpus."""
    return f"{WORK}/activations/{split}/{hook}"


# SAE sweeps: one SAE per (hook, architecture, coefficient), trained one sweep (hook,
# architecture) at a time
ARCHS = config["sae"]["architectures"]


def sweep_dir(hook, arch):
    """The folder of one sweep's SAEs (a rule's directory output)."""
    return f"{WORK}/saes/{hook}/{arch}"


def sae_dir(hook, arch, coefficient):
    return f"{sweep_dir(hook, arch)}/{coefficient}"


def sweep_results(hook, arch):
    return f"{RESULTS}/saes/{hook}/{arch}"


def sweep_points():
    """(hook, architecture, coefficient) of every SAE the config asks for, in an order
    that does not depend on how the config file orders its keys."""
    return [(hook, arch, coefficient)
            for hook, site in SITES.items()
            for arch, coefficients in sorted(site["sweep"].items())
            for coefficient in coefficients]


def site_points(hook):
    return [point for point in sweep_points() if point[0] == hook]


def sweeps():
    """(hook, architecture) of every sweep, each trained in one job."""
    return list(dict.fromkeys((hook, arch) for hook, arch, _ in sweep_points()))


def coefficients(w):
    """The sweep's coefficients as the config writes them (they name the SAE folders)."""
    return " ".join(str(coefficient) for coefficient in SITES[w.hook]["sweep"][w.arch])


def width(w):
    """Latents per input dimension; the baseline gets `width_ratio` more (paper: 1.5x)."""
    return SITES[w.hook]["width"] * ARCHS[w.arch].get("width_ratio", 1.0)


def sweep_settings(w):
    """sae.training with the site's overrides and the architecture's sparsity warm-up."""
    warmup = {key: ARCHS[w.arch][key] for key in ("sparsity_warmup_fraction",) if key in ARCHS[w.arch]}
    return as_json({**config["sae"]["training"], **SITES[w.hook].get("training", {}), **warmup})


def options(w):
    keys = ("bandwidth", "threshold_init", "aux_k", "aux_coefficient", "dead_tokens")
    return json.dumps({k: v for k, v in ARCHS[w.arch].items() if k in keys}, sort_keys=True)


def site_sae(hook):
    """The first SAE of the sweep at `hook`, if the config trains one there."""
    points = site_points(hook)
    return sae_dir(*points[0]) if points else ""


def site_sweep(hook):
    """The sweep folder holding `site_sae(hook)` (the input that makes it), or none."""
    points = site_points(hook)
    return [sweep_dir(*points[0][:2])] if points else []


def results_of(*outputs):
    """The files of rule outputs that are archived under the results folder."""
    return [str(path) for output in outputs for path in output if str(path).startswith(RESULTS)]


# Inputs known only once the checkpoint has chosen the illusion sites (these functions
# are called while the DAG is built, after every rule is defined).
def direction_checks(wildcards=None):
    """Every check's outputs, from the sites the checkpoint chose."""
    sites = pd.read_csv(checkpoints.choose_illusion_sites.get().output.table)
    checks = sites.drop_duplicates(["hook", "position"])  # one check may fill several roles
    hooks, positions = list(checks["hook"]), [p.replace(" ", "_") for p in checks["position"]]
    return expand(rules.check_directions.output, zip, hook=hooks, position=positions)


# Everything the analysis rules archive; the report reads these, the manifest hashes them.
# The illusion checks depend on the sites the localisation chose (a checkpoint).
def analysis_results(wildcards=None):
    return [
        *results_of(rules.prepare_prompts.output, rules.summarise_saes.output,
                    rules.probe_sport.output, rules.patch_facts.output,
                    rules.choose_illusion_sites.output, rules.summarise_directions.output,
                    rules.attribute_latents.output),
        *(results_of(rules.prepare_world.output, rules.train_tokenizer.output,
                     rules.train_model.output) if ORGANISM else []),
        # the default organism's checkpoint, the one binary the archive holds
        *(rules.archive_checkpoint.output if ORGANISM and not CHECKPOINT else []),
        *results_of(direction_checks()),
        *results_of(expand(rules.evaluate_saes.output, hook=SITES)),
        *[f"{sweep_results(*sweep)}/training_log.csv" for sweep in sweeps()],
    ]
