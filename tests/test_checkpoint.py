"""The archived organism (results/default/model/checkpoint): it loads with transformers
and with the project's loader, scores exactly the archived Fact accuracy on the world
the config draws, and a checkpoint that does not match the config is refused."""

import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate
from transformers import AutoTokenizer, GPTNeoXForCausalLM

from conftest import committed_bytes, committed_text
from factlens.organism.checkpoint import CHECKPOINT_FILES, check_checkpoint, copy_checkpoint, save_organism
from factlens.facts.evaluation import fact_accuracy
from factlens.loading import load_model, load_tokenizer
from factlens.organism.training import OrganismSettings
from factlens.organism.world import SPORTS, WorldSettings, draw_athletes, example_athlete

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = "results/default"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The archived checkpoint as committed (a local run may have rewritten its own)."""
    folder = tmp_path_factory.mktemp("checkpoint")
    for name in CHECKPOINT_FILES:
        (folder / name).write_bytes(committed_bytes(f"{ARCHIVE}/model/checkpoint/{name}"))
    return folder


def test_a_saved_organism_does_not_record_how_its_tokenizer_was_loaded(checkpoint, tmp_path):
    """Offline loading (HF_HUB_OFFLINE=1, as in these tests) makes transformers record
    local_files_only=True in the tokenizer config it saves; the organism's folder must not
    depend on it: byte for byte the archived files."""
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    assert tokenizer.init_kwargs.get("local_files_only") is True  # what would leak
    save_organism(GPTNeoXForCausalLM.from_pretrained(checkpoint), tokenizer, tmp_path)
    for name in ("tokenizer_config.json", "tokenizer.json", "model.safetensors"):
        assert (tmp_path / name).read_bytes() == (checkpoint / name).read_bytes(), name


def default_config() -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def test_the_archive_holds_the_default_organism(checkpoint):
    size = (checkpoint / "model.safetensors").stat().st_size
    assert 1e6 < size < 10e6  # a few MB: the one binary the archive may hold
    manifest = json.loads(committed_text(f"{ARCHIVE}/MANIFEST.json"))
    assert {f"model/checkpoint/{name}" for name in CHECKPOINT_FILES} <= set(manifest["files"])


def test_the_archived_organism_scores_its_archived_fact_accuracy(checkpoint):
    config = default_config()
    athletes = draw_athletes(WorldSettings(**config["world"]))
    main = athletes[athletes.sport.isin(SPORTS)]
    example = example_athlete(athletes)["name"]
    separator = config["prompts"]["separator"]
    archived = json.loads(committed_text(f"{ARCHIVE}/model/accuracy.json"))["fact_prompt_accuracy"]
    model = GPTNeoXForCausalLM.from_pretrained(checkpoint).eval()
    tokenizer = load_tokenizer(str(checkpoint))
    assert fact_accuracy(model, tokenizer, main, example, separator) == archived
    bridge, tokenizer = load_model(str(checkpoint), device="cpu")
    assert fact_accuracy(bridge, tokenizer, main, example, separator) == archived
    settings = OrganismSettings(**config["model"]["organism"])
    check_checkpoint(checkpoint, settings, tokenizer)  # matches the config it was made with


@pytest.mark.parametrize("change, message", [
    ({"n_layers": 4}, r"model.organism.n_layers is 4 in the config \(num_hidden_layers 4\) but "
                      r"num_hidden_layers is 6 in"),
    ({"parallel_residual": True}, r"model.organism.parallel_residual is True .* use_parallel_residual "
                                  r"is False in"),
])
def test_a_checkpoint_that_does_not_match_the_config_is_refused(checkpoint, change, message):
    settings = OrganismSettings(**{**default_config()["model"]["organism"], **change})
    with pytest.raises(ValueError, match=message):
        check_checkpoint(checkpoint, settings, load_tokenizer(str(checkpoint)))


def test_a_checkpoint_with_another_vocabulary_is_refused(checkpoint, tiny_tokenizer, tmp_path):
    settings = OrganismSettings(**default_config()["model"]["organism"])
    with pytest.raises(ValueError, match=r"the vocabulary of .* \(2048 tokens\) is not the one this run's "
                                         r"tokenizer learned \(\d+ tokens\)"):
        check_checkpoint(checkpoint, settings, tiny_tokenizer)
    copy_checkpoint(checkpoint, checkpoint / "loss_curve.csv", tmp_path / "partial")
    (tmp_path / "partial/model.safetensors").unlink()
    with pytest.raises(ValueError, match="lacks model.safetensors"):
        check_checkpoint(tmp_path / "partial", settings, tiny_tokenizer)
