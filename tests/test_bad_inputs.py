"""Bad inputs the stages refuse, each with the message the README lists, and no output
written. (Config, CSV, hook, padding and store errors are tested beside their modules:
test_config, test_athletes, test_loading, test_prompts, test_activations.)"""

import dataclasses

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from conftest import REPO
from factlens.pipeline.cli import main
from factlens.illusion.das import DASSettings
from factlens.sae.train import SAETrainingSettings
from factlens.pipeline.stages.common import parse_settings

SMOKE_WORK = "work/smoke"


def refused(argv: list[str], message: str, *never_written) -> None:
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert message in str(error.value), str(error.value)
    for path in never_written:
        assert not path.exists(), path


def test_padding_check_beyond_tolerance_fails_the_stage(tiny_model_dirs, tiny_world, tmp_path,
                                                       monkeypatch):
    """A model whose padded logits differ from the prompt alone (as a model that attends to
    padding or gets the wrong positions would; see test_prompts) stops the stage."""
    import pandas as pd

    import factlens.pipeline.stages.prepare_prompts as stage

    monkeypatch.setattr(stage, "padding_check", lambda model, batch, batch_size: pd.DataFrame(
        {"prompt": range(len(batch)), "max_abs_diff": [0.0312] * len(batch)}))
    _, athletes, _, _ = tiny_world
    athletes.to_csv(tmp_path / "athletes.csv", index=False)
    outputs = {name: tmp_path / name for name in (
        "prompts.safetensors", "scores.csv", "known.csv", "check.json", "sport.csv", "length.csv")}
    refused(["prepare-prompts", "--model", str(tiny_model_dirs["gpt_neox"]), "--device", "cpu",
             "--athletes", str(tmp_path / "athletes.csv"),
             "--athletes-format", "world", "--example", "null", "--separator", '"\\n"',
             "--threshold", "0", "--tolerance", "1e-4", "--batch-size", "8",
             "--prompts", str(outputs["prompts.safetensors"]), "--scores", str(outputs["scores.csv"]),
             "--known", str(outputs["known.csv"]), "--padding-check", str(outputs["check.json"]),
             "--by-sport", str(outputs["sport.csv"]), "--by-length", str(outputs["length.csv"])],
            "padded and unpadded final-token logits differ by 0.0312 > tolerance 0.0001", outputs["prompts.safetensors"],
            outputs["scores.csv"])


def test_an_sae_evaluated_on_another_hooks_store_is_refused(smoke_run, tmp_path, monkeypatch):
    monkeypatch.chdir(smoke_run)
    out = tmp_path / "metrics.csv"
    refused(["evaluate-sae", "--model", f"{SMOKE_WORK}/model", "--device", "cpu",
             "--saes", f"{SMOKE_WORK}/saes/blocks.0.mlp.hook_post/jumprelu/0.01",
             "--store", f"{SMOKE_WORK}/activations/heldout/blocks.1.hook_resid_post",
             "--corpus", f"{SMOKE_WORK}/world/corpus_heldout.txt", "--table", str(out),
             "--sequences", str(tmp_path / "sequences.parquet")],
            "SAE was trained on 'blocks.0.mlp.hook_post' but the store holds "
            "'blocks.1.hook_resid_post'", out)


@pytest.mark.parametrize("stage, message", [
    ("probe-sport", "too few to train a probe"),
    ("check-directions", "only"),
])
def test_too_few_known_athletes_is_refused(smoke_run, tmp_path, monkeypatch, stage, message):
    monkeypatch.chdir(smoke_run)
    prompts = load_file(f"{SMOKE_WORK}/prompts/fact_prompts.safetensors")
    prompts["kept"] = torch.zeros_like(prompts["kept"])
    prompts["kept"][:5] = 1
    save_file(prompts, tmp_path / "prompts.safetensors")
    table = tmp_path / "table.csv"
    arguments = [stage, "--model", f"{SMOKE_WORK}/model", "--device", "cpu",
                 "--prompts", str(tmp_path / "prompts.safetensors"), "--table", str(table),
                 "--figure", str(tmp_path / "figure.png")]
    if stage == "probe-sport":
        arguments += ["--scores", "results/smoke/prompts/scores.csv"]
    if stage == "check-directions":
        arguments += ["--hook", "blocks.1.hook_resid_post", "--position", "final name token",
                      "--sports", '["baseball", "basketball"]',
                      "--settings", '{"seed": 0, "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "restarts": 2, '
                      '"validation_fraction": 0.2, "patience": 1}']
        message = "known athletes of ['baseball', 'basketball']; need at least 20"
    refused(arguments, message, table)


def test_unknown_or_missing_stage_settings_are_named():
    with pytest.raises(ValueError, match="unknown SAETrainingSettings keys: bogus, steps_"):
        parse_settings('{"bogus": 1, "steps_": 2}', SAETrainingSettings)

    @dataclasses.dataclass
    class NoSchemaSection:  # a settings class with no config section has no defaults
        steps: int
        batch_size: int

    with pytest.raises(ValueError, match="missing NoSchemaSection keys: steps, batch_size$"):
        parse_settings("{}", NoSchemaSection)


def test_stage_settings_left_out_take_the_schema_defaults():
    """A stage run by hand needs only the settings it changes: the rest come from the
    config schema, the same defaults the workflow fills in."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    training = schema["properties"]["sae"]["properties"]["training"]["properties"]
    settings = parse_settings('{"steps": 7}', SAETrainingSettings)
    assert settings.steps == 7
    assert settings.batch_size == training["batch_size"]["default"]
    assert settings.checkpoint_every == training["checkpoint_every"]["default"]
    das = parse_settings("{}", DASSettings)
    assert das.restarts == schema["properties"]["directions"]["properties"]["das"]["properties"][
        "restarts"]["default"]


def test_verify_without_a_manifest(tmp_path):
    refused(["verify", "--manifest", str(tmp_path / "MANIFEST.json")],
            "no manifest at")


def test_every_stage_option_has_a_help_sentence():
    """`python -m factlens <stage> --help` reads as sentences: each option's help starts
    with a capital letter and ends with a full stop."""
    from factlens.pipeline.cli import build_parser, stage_names

    fragments = []
    for stage in stage_names():
        parser = build_parser(stage)
        sub = parser._subparsers._group_actions[0].choices[stage]
        for action in sub._actions:
            if action.dest == "help":
                continue
            text = (action.help or "").strip()
            if not (text[:1].isupper() and text.endswith((".", ".)"))):
                fragments.append(f"{stage} {action.option_strings}: {text!r}")
    assert not fragments, "\n".join(fragments)
