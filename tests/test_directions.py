"""Subspace patching, the rowspace/nullspace split, dormancy measures, DAS, the rank-1
edit and the illusion verdict, on hand-built cases where the answer is known."""

import pandas as pd
import numpy as np
import pytest
import torch

from factlens.illusion.das import DASSettings, patched_answer_loss, train_das, train_das_restarts
from factlens.illusion.editing import edit_hooks, rank_one_edit
from factlens.facts.evaluation import fact_prompts
from factlens.illusion.checks import baseline_directions, check_direction
from factlens.illusion.verdicts import red_flags, verdict
from factlens.illusion.intervention import PromptSet, make_pairs, patching_outcome, site_activations
from factlens.loading import load_model
from factlens.facts.prompts import answer_ids, encode_left_padded, forward_logits
from factlens.illusion.subspace import (class_separation, downstream_reader, outside_natural_range,
                               patch_along, split_direction)
from factlens.organism.world import SPORTS, example_athlete


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


def rows(fldd, separation, outside=0.0):
    return pd.DataFrame({"variant": ["v", "v_row", "v_null"], "fldd": fldd, "separation": separation,
                         "outside_natural_range": [outside, np.nan, np.nan]})


def test_verdict_rule():
    # the paper's MLP8 pattern: v works, v_row much weaker, v_null nothing, v_row dormant,
    # and the whole component does less than the 1-D patch (-8%)
    mlp8 = rows([0.467, 0.135, 0.0], [2.0, 0.1, 2.5])
    assert red_flags(mlp8, whole_fldd=-0.08) == {"v_row dormant": True, "outside natural range": False,
                                                 "1-D matches whole": True}
    assert verdict(mlp8, whole_fldd=-0.08) == "illusory"
    # a genuine direction: v_row carries the effect on its own
    assert verdict(rows([0.9, 0.85, 0.0], [2.0, 2.0, 0.3]), whole_fldd=1.0) == "not illusory"
    assert verdict(rows([0.05, 0.0, 0.0], [0.1, 0.1, 0.1]), whole_fldd=0.0) == "no effect"
    # the effect needs both parts but no red flag says the pathway is unused
    quiet = rows([0.4, 0.1, 0.0], [1.0, 1.0, 1.0])
    assert not any(red_flags(quiet, whole_fldd=0.9).values())
    assert verdict(quiet, whole_fldd=0.9) == "not illusory"
    # each red flag alone is enough once the effect needs both parts
    assert verdict(rows([0.4, 0.1, 0.0], [1.0, 1.0, 1.0], outside=0.5), whole_fldd=0.9) == "illusory"
    assert verdict(quiet, whole_fldd=0.42) == "illusory"
    # v_null acting alone (possible only where v_null is read) means the split explains nothing
    assert verdict(rows([0.4, 0.1, 0.2], [1.0, 0.1, 2.0]), whole_fldd=0.0) == "not illusory"


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


def test_das_restarts_are_sorted_by_validation_loss(prompt_set):
    model, tokenizer, prompts = prompt_set
    hook = "blocks.0.hook_resid_post"
    activations = site_activations(model, prompts, hook)
    base, source = make_pairs(prompts.label, seed=0, max_pairs=30)
    settings = DASSettings(seed=3, epochs=2, batch_size=8, learning_rate=0.05, restarts=3,
                           validation_fraction=0.2, patience=1)
    restarts = train_das_restarts(model, prompts, hook, activations, base, source,
                                  answer_ids(tokenizer, SPORTS), settings)
    assert sorted(r["restart"] for r in restarts) == [0, 1, 2]
    losses = [r["validation_loss"] for r in restarts]
    assert losses == sorted(losses)
    for record in restarts:  # each restart's loss is its best epoch's, on the same 6 pairs
        assert record["validation_loss"] == min(h["validation_loss"] for h in record["history"])


def test_rank_one_edit_is_the_patch_at_its_key_and_a_real_weight_edit(prompt_set):
    """The hook-applied edit equals editing the HF model's W_out, and at the edited token
    the MLP output equals that of the 1-D patch."""
    model, tokenizer, prompts = prompt_set
    hook, layer = "blocks.0.mlp.hook_post", 0
    activations = site_activations(model, prompts, hook)
    base, source = make_pairs(prompts.label, seed=0, max_pairs=6)
    direction = torch.nn.functional.normalize(torch.randn(activations.shape[1]), dim=0)
    w_out = model.W_out[layer].detach().float()
    keys, values = rank_one_edit(activations[base], activations[source], direction, w_out)
    batch = prompts.rows(base)
    captured = {}

    def keep(name):
        def fn(activation, hook=None):
            captured[name] = activation.detach().clone()
            return activation
        return fn

    edited_logits = forward_logits(model, batch.input_ids, batch.attention_mask,
                                   [*edit_hooks(layer, keys, values), ("blocks.0.hook_mlp_out", keep("edit"))])
    rows = torch.arange(len(base))
    patched_hidden = patch_along(activations[base], activations[source], direction)
    forward_logits(model, batch.input_ids, batch.attention_mask, [("blocks.0.hook_mlp_out", keep("clean"))])
    at_key = captured["edit"][rows, batch.position]
    expected = captured["clean"][rows, batch.position] + (patched_hidden - activations[base]) @ w_out
    assert torch.allclose(at_key, expected, atol=1e-4)
    # the same edit made to the weights of the underlying HF model, one row at a time
    hf = model.original_model if hasattr(model, "original_model") else None
    if hf is None:
        pytest.skip("bridge exposes no HF model")
    dense = hf.gpt_neox.layers[layer].mlp.dense_4h_to_h
    for row in range(len(base)):
        saved = dense.weight.data.clone()
        dense.weight.data += torch.outer(values[row], keys[row])  # nn.Linear stores [out, in]
        try:
            with torch.no_grad():
                weight_edited = hf(batch.input_ids[row:row + 1], attention_mask=batch.attention_mask[row:row + 1],
                                   position_ids=(batch.attention_mask[row:row + 1].cumsum(-1) - 1).clamp_min(0)).logits
        finally:
            dense.weight.data = saved
        assert torch.allclose(weight_edited[0, -1], edited_logits[row, -1], atol=1e-3)


def test_check_direction_reports_the_edit_at_an_mlp(prompt_set):
    model, tokenizer, prompts = prompt_set
    hook = "blocks.0.mlp.hook_post"
    activations = site_activations(model, prompts, hook)
    base, source = make_pairs(prompts.label, seed=0, max_pairs=12)
    direction = baseline_directions(activations, prompts.label, torch.arange(len(prompts.label)),
                                    neurons=False)["mean difference"]
    found = pd.DataFrame(check_direction(model, prompts, hook, activations, base, source,
                                         answer_ids(tokenizer, SPORTS), direction,
                                         downstream_reader(model, hook), torch.arange(len(prompts.label))))
    assert list(found["variant"]) == ["v", "v_row", "v_null", "rank-1 edit"]
    by_variant = found.set_index("variant")
    assert by_variant.loc["v_null", "fldd"] == pytest.approx(0.0, abs=1e-5)  # W_out cannot see it
    assert 0.0 <= by_variant.loc["rank-1 edit", "edit_patch_agreement"] <= 1.0


def test_positive_control_the_check_flags_a_planted_illusion():
    """Makelov et al.'s mechanism, built by hand: a hidden layer whose W_out reads only
    dim 0 (causal but dormant: constant on the data) while dim 1 carries the variable
    (disconnected). Patching along v = (e0 + e1)/sqrt(2) moves the output; v_row and
    v_null alone do nothing; the verdict must say illusory."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1] * 50)
    hidden = torch.zeros(100, 3)
    hidden[:, 0] = 1.0  # dormant: the same for every input
    hidden[:, 1] = 2.0 * labels + 0.1 * torch.randn(100, generator=generator)  # the variable
    hidden[:, 2] = torch.randn(100, generator=generator)  # noise nobody reads
    w_out = torch.tensor([[1.0], [0.0], [0.0]])  # the logit difference is hidden @ w_out
    base, source = torch.arange(0, 100, 2), torch.arange(1, 100, 2)  # label 0 <- label 1

    v = torch.tensor([1.0, 1.0, 0.0]) / 2 ** 0.5
    v_row, v_null = split_direction(v, w_out)
    assert torch.allclose(v_row, torch.tensor([0.5 ** 0.5, 0, 0]), atol=1e-6)
    moved = (patch_along(hidden[base], hidden[source], v) - hidden[base]) @ w_out
    assert moved.mean() == pytest.approx(1.0, abs=0.05)  # v switches the dormant pathway on
    assert torch.allclose((patch_along(hidden[base], hidden[source], v_row) - hidden[base]) @ w_out,
                          torch.zeros(50, 1), atol=1e-6)  # v_row alone: nothing varies along it
    assert torch.allclose((patch_along(hidden[base], hidden[source], v_null) - hidden[base]) @ w_out,
                          torch.zeros(50, 1), atol=1e-6)  # v_null alone: nothing reads it
    # say the rest of the model gives a logit difference of 2 between the classes: moving
    # the output by ~1 along the dormant pathway is an FLDD of ~50%
    rows = pd.DataFrame({"variant": ["v", "v_row", "v_null"],
                         "fldd": [float(moved.mean()) / 2, 0.0, 0.0],
                         "separation": [class_separation(hidden @ v, labels),
                                        class_separation(hidden @ v_row / v_row.norm(), labels),
                                        class_separation(hidden @ v_null / v_null.norm(), labels)],
                         "outside_natural_range": [outside_natural_range(hidden @ (v_row / v_row.norm()),
                                                   patch_along(hidden[base], hidden[source], v) @ (v_row / v_row.norm())),
                                                   np.nan, np.nan]})
    flags = red_flags(rows, whole_fldd=0.0)
    assert flags["v_row dormant"] and flags["outside natural range"] and flags["1-D matches whole"]
    assert verdict(rows, whole_fldd=0.0) == "illusory"


@pytest.mark.parametrize("planted, expected", [(0.0, "no effect"), (2.0, "not illusory")])
def test_negative_control_can_fail_when_a_sport_direction_is_planted(planted, expected):
    """A control site whose activations differ between the two prompts of every pair (noise
    that W_out reads) but carry no sport: a direction found there moves nothing. Plant a
    sport direction in the same activations and the same procedure finds an effect, so
    the illusion claim reports the control as failed."""
    from factlens.illusion.claims import illusion_claim

    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1] * 200)
    hidden = torch.randn(400, 3, generator=generator)  # differs within every pair
    hidden[:, 0] += planted * labels
    w_out = torch.tensor([[1.0], [0.0], [0.0]])
    base, source = torch.arange(0, 400, 2), torch.arange(1, 400, 2)
    assert not torch.allclose(hidden[base], hidden[source])
    v = baseline_directions(hidden, labels, torch.arange(200), neurons=False)["mean difference"]
    v_row, v_null = split_direction(v, w_out)
    logit_gap = 2.0  # the rest of the model's logit difference between the classes

    def fldd(vector):
        return float(((patch_along(hidden[base], hidden[source], vector) - hidden[base]) @ w_out).mean()) / logit_gap

    rows = pd.DataFrame({"variant": ["v", "v_row", "v_null"], "fldd": [fldd(v), fldd(v_row), fldd(v_null)],
                         "separation": [class_separation(hidden @ v, labels)] * 3})
    assert verdict(rows, whole_fldd=fldd(torch.tensor([1.0, 0, 0]))) == expected
    summary = pd.DataFrame([{"hook": "blocks.0.mlp.hook_post", "position": "final token",
                             "role": "negative control", "direction": "DAS", "verdict": expected,
                             "fldd_whole": 0.0, "fldd_v": fldd(v), "fldd_v_row": fldd(v_row),
                             "fldd_v_null": fldd(v_null), "interchange_v": 0.0}])
    claim = illusion_claim(summary, summary[["role", "hook", "position"]])
    assert ("negative control did not pass" in claim.summary) == (expected != "no effect")
