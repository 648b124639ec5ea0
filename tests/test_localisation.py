"""Fact-finding localisation: clean/corrupt pairing, position roles, patching that
restores exactly what it should, and probes."""

import numpy as np
import pytest
import torch

from conftest import padded_fact_prompts
from factlens.blocks import residual_hooks
from factlens.facts.patching import (logit_difference, pair_prompts, patching_effects,
                               position_groups, prompt_layout, summarise_effects)
from factlens.facts.probing import (probe_accuracy_by_layer, probe_sweep, residual_at_positions,
                              split_athletes, split_by_name_parts)
from factlens.facts.prompts import answer_ids, position_ids_from_mask
from factlens.organism.world import SPORTS


def test_pairs_have_other_sports_equal_name_lengths_and_known_facts():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    lengths = torch.tensor([2, 2, 3, 3, 2, 3, 4, 4, 3])
    totals = torch.tensor([9, 9, 9, 9, 9, 9, 9, 9, 10])
    kept = torch.tensor([1, 1, 1, 1, 1, 1, 1, 0, 1]).bool()
    layout = torch.stack([totals, lengths], 1)
    pairs = pair_prompts(labels, layout, kept, max_pairs=10, seed=0)
    # athlete 6 has no partner (7 is not kept); 8 matches 3's name length, not its total
    assert sorted(pairs.clean.tolist()) == [0, 1, 2, 3, 4, 5]
    for clean, corrupt in zip(pairs.clean, pairs.corrupt):
        assert labels[clean] != labels[corrupt] and torch.equal(layout[clean], layout[corrupt])
        assert kept[clean] and kept[corrupt]
    assert torch.equal(pairs.clean_label, labels[pairs.clean])


def test_shared_ids_pair_only_prompts_that_share_them():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    layout = torch.zeros(6, 2, dtype=torch.long)
    last_name = torch.tensor([0, 0, 1, 1, 2, 2])
    pairs = pair_prompts(labels, layout, torch.ones(6, dtype=torch.bool), 10, 0, shared=last_name)
    assert len(pairs.clean) == 6
    assert (last_name[pairs.clean] == last_name[pairs.corrupt]).all()
    lonely = pair_prompts(labels, layout, torch.ones(6, dtype=torch.bool), 10, 0,
                          shared=torch.arange(6))
    assert len(lonely.clean) == 0


def test_position_groups_mark_name_and_suffix_roles():
    groups = position_groups(torch.tensor([3]), torch.tensor([5]), length=10)
    assert groups["first name token"][0].nonzero().flatten().tolist() == [3]
    assert groups["middle name tokens"][0].nonzero().flatten().tolist() == [4]
    assert groups["final name token"][0].nonzero().flatten().tolist() == [5]
    assert [groups[w][0].nonzero().item() for w in ("plays", "the", "sport", "of")] == [6, 7, 8, 9]


def test_logit_difference():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[1, -1, 4] = 2.0, -1.0
    answers = torch.tensor([1, 4, 0])
    assert logit_difference(logits, answers, torch.tensor([0, 1]), torch.tensor([2, 0])).tolist() == [2.0, -1.0]


@pytest.fixture(scope="module")
def padded_prompts(tiny_model_dirs, tiny_world):
    return padded_fact_prompts(tiny_model_dirs["gpt_neox"], tiny_world)


def test_patching_everything_restores_all_and_nothing_restores_none(padded_prompts):
    model, tokenizer, batch, labels = padded_prompts
    layout = prompt_layout(batch.attention_mask, batch.first_name_index, batch.final_name_index)
    pairs = pair_prompts(labels, layout, torch.ones(len(labels), dtype=torch.bool), 8, 0)
    assert len(pairs.clean) > 0
    hooks = ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_post"]
    effects = patching_effects(model, batch.input_ids, batch.attention_mask, batch.first_name_index,
                               batch.final_name_index, pairs, answer_ids(tokenizer, SPORTS), hooks,
                               batch_size=3)
    summary = summarise_effects(effects).set_index(["hook", "position"])
    for hook in hooks:
        assert summary.loc[(hook, "all positions"), "restored_mean"] == pytest.approx(1.0, abs=1e-4)
    # the last block's residual stream at the name cannot reach the final token any more
    assert summary.loc[("blocks.1.hook_resid_post", "final name token"), "restored_mean"] == \
        pytest.approx(0.0, abs=1e-4)
    assert summary.loc[("blocks.1.hook_resid_post", "of"), "restored_mean"] == pytest.approx(1.0, abs=1e-4)


def test_residual_features_match_run_with_cache(padded_prompts):
    model, _, batch, _ = padded_prompts
    features = residual_at_positions(model, batch.input_ids, batch.attention_mask,
                                     batch.final_name_index, residual_hooks(2, parallel=True), batch_size=7)
    assert features.shape == (3, len(batch), model.cfg.d_model)
    row = 4
    _, cache = model.run_with_cache(batch.input_ids[row:row + 1],
                                    attention_mask=batch.attention_mask[row:row + 1],
                                    position_ids=position_ids_from_mask(batch.attention_mask[row:row + 1]))
    position = batch.final_name_index[row]
    assert torch.allclose(features[2, row], cache["blocks.1.hook_resid_post"][0, position], atol=1e-5)


def test_probe_separates_a_linearly_encoded_label_and_not_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    signal = np.eye(3)[labels] * 3 + rng.normal(size=(300, 3))
    noise = rng.normal(size=(300, 3))
    features = torch.tensor(np.stack([noise, signal]), dtype=torch.float32)
    train, test = split_athletes(300, 0.3, seed=0)
    assert len(test) == 90 and not set(train) & set(test)
    table = probe_accuracy_by_layer(features, labels, train, test)
    assert table.loc[1, "test_accuracy"] > 0.9
    assert table.loc[0, "test_accuracy"] < 0.5


def test_name_part_split_shares_no_first_or_last_name():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 30, 900).astype(str)
    last = np.char.add("L", rng.integers(0, 60, 900).astype(str))
    train, test = split_by_name_parts(first, last, 0.3, seed=0)
    assert not set(first[train]) & set(first[test])
    assert not set(last[train]) & set(last[test])
    assert 0.2 < len(test) / (len(train) + len(test)) < 0.4
    assert len(train) + len(test) > 300


def test_probe_sweep_chooses_strength_on_training_athletes_only():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    signal = np.eye(3)[labels] * 3 + rng.normal(size=(300, 3))
    features = torch.tensor(np.stack([rng.normal(size=(300, 3)), signal]), dtype=torch.float32)
    train, test = split_athletes(300, 0.3, seed=0)
    table = probe_sweep(features, labels, train, test, [0.001, 1.0])
    assert len(table) == 4 and table.groupby("layer")["selected"].sum().tolist() == [1, 1]
    # the informative layer prefers the weaker penalty; the held-out labels never choose it
    chosen = table[table.selected].set_index("layer")
    assert chosen.loc[1, "regularisation"] == 1.0 and chosen.loc[1, "test_accuracy"] > 0.9
    shuffled = labels.copy()
    shuffled[test] = rng.permutation(shuffled[test])
    again = probe_sweep(features, shuffled, train, test, [0.001, 1.0])
    assert again[again.selected]["regularisation"].tolist() == chosen["regularisation"].tolist()
