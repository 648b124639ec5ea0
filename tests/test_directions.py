"""Subspace patching, the rowspace/nullspace split, dormancy measures, DAS and the
illusion verdict, on hand-built cases where the answer is known."""

import pandas as pd
import numpy as np
import pytest
import torch

from factlens.das import (DASSettings, PromptSet, make_pairs, patched_answer_loss, patching_outcome,
                          site_activations, train_das)
from factlens.evaluation import fact_prompts
from factlens.illusion import baseline_directions, verdict
from factlens.loading import load_model
from factlens.prompts import answer_ids, encode_left_padded, forward_logits
from factlens.subspace import (class_separation, downstream_reader, outside_natural_range,
                               patch_along, split_direction)
from factlens.world import SPORTS, example_athlete


def test_patch_along_swaps_only_the_component_along_v():
    base, source = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[5.0, -1.0, 0.0]])
    v = torch.tensor([0.0, 2.0, 0.0])  # not unit: the formula divides by ||v||^2
    assert patch_along(base, source, v).tolist() == [[1.0, -1.0, 3.0]]


def test_split_against_a_hand_built_mlp_output_matrix():
    # W_out (hidden @ W_out) reads hidden dims 0 and 1 only: dims 2, 3 are its kernel
    w_out = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    v = torch.tensor([0.5, 0.5, 0.5, 0.5])
    v_row, v_null = split_direction(v, w_out)
    assert torch.allclose(v_row, torch.tensor([0.5, 0.5, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(v_null, torch.tensor([0.0, 0.0, 0.5, 0.5]), atol=1e-6)
    hidden = torch.randn(5, 4)
    # moving along v_null changes nothing downstream: disconnected
    assert torch.allclose((hidden + 3 * v_null) @ w_out, hidden @ w_out, atol=1e-6)


def test_separation_and_natural_range():
    labels = torch.tensor([0] * 50 + [1] * 50)
    separated = torch.cat([torch.randn(50), torch.randn(50) + 4])
    dormant = torch.randn(100)
    assert class_separation(separated, labels) > 3 > 0.5 > class_separation(dormant, labels)
    assert outside_natural_range(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 2.0, -1.0, 1.0])) == 0.5


def rows(fldd, separation):
    return pd.DataFrame({"variant": ["v", "v_row", "v_null"], "fldd": fldd, "separation": separation})


def test_verdict_rule():
    # the paper's MLP8 pattern: v works, v_row much weaker, v_null nothing, v_row dormant
    assert verdict(rows([0.467, 0.135, 0.0], [2.0, 0.1, 2.5])) == "illusory"
    assert verdict(rows([0.9, 0.85, 0.0], [2.0, 2.0, 0.3])) == "not illusory"
    assert verdict(rows([0.05, 0.0, 0.0], [0.1, 0.1, 0.1])) == "no effect"


def test_baseline_directions_find_the_planted_signal():
    torch.manual_seed(0)
    labels = torch.tensor([0, 1] * 100)
    activations = torch.randn(200, 6)
    activations[:, 4] += 3 * labels  # neuron 4 encodes the label
    found = baseline_directions(activations, labels, torch.arange(200), neurons=True)
    assert found["best neuron"].argmax() == 4
    for direction in found.values():
        assert direction.norm() == pytest.approx(1.0)
        assert direction[4].abs() == direction.abs().max()


@pytest.fixture(scope="module")
def prompt_set(tiny_model_dirs, tiny_world):
    model, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    athletes = tiny_world[1]
    main = athletes[athletes.sport.isin(SPORTS[:2])].head(30)
    batch = encode_left_padded(tokenizer, fact_prompts(main, example_athlete(athletes)["name"]),
                               list(main["name"]))
    labels = torch.tensor([SPORTS.index(s) for s in main["sport"]])
    prompts = PromptSet(batch.input_ids, batch.attention_mask, batch.final_name_index, labels)
    return model, tokenizer, prompts


def test_downstream_readers_have_the_right_shapes(prompt_set):
    model = prompt_set[0]
    assert downstream_reader(model, "blocks.0.mlp.hook_post").shape == (model.cfg.d_mlp, model.cfg.d_model)
    reader = downstream_reader(model, "blocks.0.hook_resid_post")
    assert reader.shape[0] == model.cfg.d_model and reader.shape[1] > model.cfg.d_model
    with pytest.raises(ValueError, match="no downstream reader"):
        downstream_reader(model, "blocks.0.hook_attn_out")


def test_full_patch_at_the_last_residual_gives_the_source_logits(prompt_set):
    model, tokenizer, prompts = prompt_set
    hook = "blocks.1.hook_resid_post"
    base, source = make_pairs(prompts.label, seed=0, max_pairs=10)
    # patching the final block's output at the final token replaces the logits outright
    last = PromptSet(prompts.input_ids, prompts.attention_mask,
                     torch.full_like(prompts.position, prompts.input_ids.shape[1] - 1), prompts.label)
    activations = site_activations(model, last, hook)
    answers = answer_ids(tokenizer, SPORTS)
    outcome = patching_outcome(model, last, hook, activations, base, source, answers, None)
    with torch.no_grad():
        logits = forward_logits(model, prompts.input_ids, prompts.attention_mask)[:, -1]
    good, bad = answers[prompts.label[base]], answers[prompts.label[source]]
    rows = torch.arange(len(base))
    ld_base = logits[base][rows, good] - logits[base][rows, bad]
    ld_patched = logits[source][rows, good] - logits[source][rows, bad]
    assert outcome["fldd"] == pytest.approx(float(1 - ld_patched.mean() / ld_base.mean()), abs=1e-4)
    # interchange: of the pair's two sports, the source's wins (the third sport is ignored)
    switched = logits[source][rows, bad] > logits[source][rows, good]
    assert outcome["interchange_accuracy"] == pytest.approx(float(switched.float().mean()))
    three_way = logits[source][:, answers].argmax(-1) == prompts.label[source]
    assert (switched | ~three_way).all()  # a three-way win is a two-way win


def test_das_learns_a_unit_direction_that_lowers_its_loss(prompt_set):
    model, tokenizer, prompts = prompt_set
    hook = "blocks.0.hook_resid_post"
    activations = site_activations(model, prompts, hook)
    base, source = make_pairs(prompts.label, seed=0, max_pairs=30)
    settings = DASSettings(seed=0, epochs=8, batch_size=10, learning_rate=0.05, restarts=1,
                           validation_fraction=0.2, patience=2)
    v, history = train_das(model, prompts, hook, activations, base, source,
                           answer_ids(tokenizer, SPORTS), settings)
    assert v.norm() == pytest.approx(1.0, abs=1e-5)
    assert len(history) == 8 and history[-1]["train_loss"] < history[0]["train_loss"]
    again, _ = train_das(model, prompts, hook, activations, base, source,
                         answer_ids(tokenizer, SPORTS), settings)
    assert torch.equal(v, again)
    other, _ = train_das(model, prompts, hook, activations, base, source,
                         answer_ids(tokenizer, SPORTS), settings, seed=1)
    assert not torch.equal(v, other)  # restarts start elsewhere


def test_das_keeps_the_direction_with_the_lowest_validation_loss(prompt_set):
    model, tokenizer, prompts = prompt_set
    hook = "blocks.0.hook_resid_post"
    activations = site_activations(model, prompts, hook)
    base, source = make_pairs(prompts.label, seed=0, max_pairs=30)
    answers = answer_ids(tokenizer, SPORTS)
    settings = DASSettings(seed=0, epochs=12, batch_size=5, learning_rate=0.5, restarts=1,
                           validation_fraction=0.3, patience=1)
    validation = (base[:9], source[:9])
    v, history = train_das(model, prompts, hook, activations, base[9:], source[9:], answers,
                           settings, validation=validation)
    losses = [record["validation_loss"] for record in history]
    best = int(np.argmin(losses))
    assert patched_answer_loss(model, prompts, hook, activations, *validation, answers, v) == \
        pytest.approx(losses[best], rel=1e-5)
    # early stopping: training ends `patience` epochs after the best one, or at the limit
    assert len(history) == 12 or len(history) - 1 - best == settings.patience
