"""Config validation: the schema fills defaults and names the key of every bad value."""

import copy
import subprocess
import sys

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import REPO, SCHEMA


def _load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "pythia-70m.yaml",
                                  "pythia-2.8b.yaml"])
def test_shipped_configs_are_valid(name):
    config = _load(name)
    validate(config, str(SCHEMA), set_default=True)
    assert config["model"]["organism"]["max_steps"] >= 1  # nested defaults were filled


def test_defaults_are_filled_from_an_empty_config():
    config = {}
    validate(config, str(SCHEMA), set_default=True)
    assert config["world"]["n_athletes"] == 600
    assert config["prompts"]["separator"] == "\n"
    assert config["model"]["name"] == "organism"


# Where the default replication deliberately does more than a config that leaves the key
# out: its full coefficient sweeps, every final-token MLP in the direction checks, and the
# archived studies its report reads. Every other value config.yaml states is the schema's
# default, so that a config leaving a key out trains and analyses what the default does
# (and the benchmarks, which time the schema's organism, time the default's).
DELIBERATE = {"sae.sites", "directions.sweep", "report.seeds", "report.convergence"}


def _stated_defaults(schema: dict, config: dict, path: str = ""):
    for key, spec in schema.get("properties", {}).items():
        dotted = f"{path}{key}"
        if key not in config or dotted in DELIBERATE:
            continue
        if isinstance(config[key], dict):
            yield from _stated_defaults(spec, config[key], f"{dotted}.")
        elif "default" in spec:
            yield dotted, spec["default"], config[key]


def test_config_yaml_restates_the_schema_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    stated = list(_stated_defaults(schema, _load("config.yaml")))
    assert len(stated) > 50 and "model.organism.n_layers" in {key for key, _, _ in stated}
    assert [(key, default, value) for key, default, value in stated if default != value] == []


def _set(config, dotted, value):
    *parents, leaf = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(leaf)
    else:
        node[leaf] = value
    return config


_DELETE = object()

MALFORMED = [
    ("world.n_athletes", "many", "n_athletes"),           # wrong type
    ("world.n_athletes", 0, "n_athletes"),                # below minimum
    ("world.colour", "red", "colour"),                    # unknown key
    ("tokenizer.vocab_size", 12.5, "vocab_size"),         # float for integer
    ("model.dtype", "float8", "dtype"),                   # not in enum
    ("model.device", "tpu", "device"),                    # bad pattern
    ("model.organism.learning_rate", -1, "learning_rate"),
    ("model.organism.rotary_pct", 1.5, "rotary_pct"),     # above maximum
    ("prompts.known_threshold", "half", "known_threshold"),
    ("workdri", "work/x", "workdri"),                     # typo at top level
    ("model.name", "", "name"),                           # empty model name
]


@pytest.mark.parametrize("dotted, value, key", MALFORMED)
def test_malformed_config_names_the_key(dotted, value, key):
    config = _set(copy.deepcopy(_load("config.yaml")), dotted, value)
    with pytest.raises(WorkflowError) as error:
        validate(config, str(SCHEMA), set_default=True)
    assert key in str(error.value)


@pytest.mark.parametrize("dotted, key", [("prompts.athletes_csv", "athletes_csv"),
                                          ("prompts", "prompts")])
def test_real_model_requires_an_athletes_csv(dotted, key):
    config = _set(copy.deepcopy(_load("pythia-70m.yaml")), dotted, _DELETE)
    with pytest.raises(WorkflowError) as error:
        validate(config, str(SCHEMA), set_default=True)
    assert key in str(error.value)


def _dry_run(config_path, directory):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
         str(config_path), "-d", str(directory), "-n", "--quiet"],
        capture_output=True, text=True, timeout=120)


def _refused_before_any_rule(tmp_path, changes: dict) -> str:
    """Dry-run the smoke config with `changes`; it must fail before any rule. Its output."""
    config = copy.deepcopy(_load("smoke.yaml"))
    for dotted, value in changes.items():
        config = _set(config, dotted, value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = _dry_run(path, tmp_path)
    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert "rule prepare_world" not in output and not (tmp_path / "work").exists()
    return output


def test_bad_config_stops_before_any_rule(tmp_path):
    assert "n_athletes" in _refused_before_any_rule(tmp_path, {"world.n_athletes": "many"})


@pytest.mark.parametrize("changes, keys", [
    ({"world.n_first_names": 25}, ["world.n_first_names = 25 is more than world.n_athletes / 3 sports = 20"]),
    ({"world.n_athletes": 300, "world.n_first_names": 10, "world.n_last_names": 15},
     ["world.n_first_names x world.n_last_names = 150 distinct names"]),
])
def test_world_that_cannot_be_balanced_stops_before_any_rule(tmp_path, changes, keys):
    output = _refused_before_any_rule(tmp_path, changes)
    assert "world config cannot be balanced" in output
    for key in keys:
        assert key in output


def test_attribution_must_name_saes_of_the_sweep(tmp_path):
    config = _set(copy.deepcopy(_load("smoke.yaml")), "attribution.upstream.coefficient", 0.9)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = _dry_run(path, tmp_path)
    assert result.returncode != 0
    assert "attribution.upstream: no jumprelu SAE with coefficient 0.9" in result.stderr + result.stdout


def test_a_dataset_and_corpus_files_together_are_refused(tmp_path):
    output = _refused_before_any_rule(tmp_path, {"activations.dataset": {"path": "NeelNanda/pile-10k"},
                                                 "activations.train_corpus": "text.txt"})
    assert "activations.dataset replaces activations.train_corpus / heldout_corpus" in output


def test_a_dataset_without_a_path_is_refused(tmp_path):
    output = _refused_before_any_rule(tmp_path, {"activations.dataset": {"text_column": "body"}})
    assert "'path' is a required property" in output


@pytest.mark.parametrize("changes, message", [
    # the smoke organism has 2 layers; its SAE and attribution hooks sit in layer 1
    ({"model.organism.n_layers": 1},
     "sae.sites[0].hook = blocks.1.hook_resid_post names layer 1, but model.organism.n_layers = 1"),
    ({"model.organism.parallel_residual": True,
      "sae.sites": [{"hook": "blocks.1.hook_resid_mid", "width": 2, "sweep": {"standard": [0.1]}}]},
     "sae.sites[0].hook = blocks.1.hook_resid_mid: a parallel block (model.organism.parallel_residual "
     "= true) has no residual between its attention and its MLP"),
])
def test_a_depth_or_block_type_the_hooks_do_not_fit_stops_before_any_rule(tmp_path, changes, message):
    output = _refused_before_any_rule(tmp_path, changes)
    assert "the organism cannot be analysed as configured" in output and message in output
