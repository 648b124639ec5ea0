"""Left padding with attention masks: positions, name indices, refusals, and the
padded-equals-alone check on tiny GPT-NeoX (rotary) and GPT-2 (absolute positions)."""

import pytest
import torch

from factlens.loading import load_model
from factlens.facts.prompts import (check_left_padded, encode_left_padded, forward_logits,
                              padding_check, position_ids_from_mask, score_prompts)
from factlens.facts.evaluation import fact_prompts
from factlens.organism.world import SPORTS, example_athlete


def _batch(tokenizer, athletes, n=12):
    example = example_athlete(athletes)["name"]
    athletes = athletes[athletes.sport.isin(SPORTS)].head(n)
    prompts = fact_prompts(athletes, example)
    return athletes, prompts, encode_left_padded(tokenizer, prompts, list(athletes["name"]))


def test_left_padding_layout_and_name_span(tiny_world, tiny_tokenizer):
    athletes, prompts, batch = _batch(tiny_tokenizer, tiny_world[1])
    lengths = batch.attention_mask.sum(-1)
    assert lengths.min() < batch.input_ids.shape[1]  # names differ in length: padding happens
    for row, name in enumerate(athletes["name"]):
        pad = batch.input_ids.shape[1] - int(lengths[row])
        assert (batch.input_ids[row, :pad] == tiny_tokenizer.pad_token_id).all()
        assert batch.input_ids[row, pad] == tiny_tokenizer.bos_token_id
        span = batch.input_ids[row, batch.first_name_index[row]: batch.final_name_index[row] + 1]
        assert tiny_tokenizer.decode(span).strip() == name
        assert tiny_tokenizer.decode(batch.input_ids[row, pad + 1:]) == prompts[row]
    assert (batch.final_index == batch.input_ids.shape[1] - 1).all()


def test_positions_count_from_first_real_token():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("mask, message", [
    (None, "need an attention_mask"),
    (torch.tensor([[1, 1, 0]]), "must be left-padded"),
    (torch.tensor([[0, 1, 0, 1]]), "must be left-padded"),
    (torch.tensor([[0, 2, 1]]), "only 0 and 1"),
])
def test_right_padding_or_missing_mask_is_refused(mask, message):
    with pytest.raises(ValueError, match=message):
        check_left_padded(mask)


@pytest.mark.parametrize("architecture", ["gpt_neox", "gpt_neox_sequential", "gpt2"])
def test_padded_final_logits_equal_prompt_alone(architecture, tiny_model_dirs, tiny_world,
                                                tiny_tokenizer):
    model, tokenizer = load_model(str(tiny_model_dirs[architecture]), device="cpu")
    _, _, batch = _batch(tokenizer, tiny_world[1])
    differences = padding_check(model, batch, batch_size=5)
    assert len(differences) == len(batch)
    assert differences["max_abs_diff"].max() < 1e-4

    # The check can fail: attending to padding changes the logits of padded rows, and
    # so do default 0..T-1 positions where positions are absolute (GPT-2; rotary
    # attention only sees relative offsets, which a constant shift leaves alone).
    padded_rows = batch.attention_mask[:, 0] == 0
    arange = torch.arange(batch.input_ids.shape[1]).expand_as(batch.input_ids)
    with torch.no_grad():
        right = forward_logits(model, batch.input_ids, batch.attention_mask)[padded_rows, -1]
        unmasked = model(batch.input_ids, attention_mask=torch.ones_like(batch.attention_mask),
                         position_ids=position_ids_from_mask(batch.attention_mask))
        shifted = model(batch.input_ids, attention_mask=batch.attention_mask, position_ids=arange)
    assert (unmasked[padded_rows, -1] - right).abs().max() > 1e-3
    shift_error = (shifted[padded_rows, -1] - right).abs().max()
    assert shift_error > 1e-3 if architecture == "gpt2" else shift_error < 1e-4


def test_bridge_matches_hugging_face_model(tiny_model_dirs, tiny_world):
    from transformers import AutoModelForCausalLM

    bridge, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    hf = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt_neox"],
                                              attn_implementation="eager").eval()
    _, _, batch = _batch(tokenizer, tiny_world[1])
    with torch.no_grad():
        assert torch.allclose(forward_logits(bridge, batch.input_ids, batch.attention_mask),
                              forward_logits(hf, batch.input_ids, batch.attention_mask),
                              atol=1e-5)


def test_scores_mark_known_facts(tiny_model_dirs, tiny_world):
    model, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    athletes, prompts, _ = _batch(tokenizer, tiny_world[1])
    _, scores = score_prompts(model, tokenizer, athletes, prompts, SPORTS, threshold=0.0)
    assert scores["kept"].all()  # p > 0 always
    probabilities = scores["p_correct"]
    assert ((probabilities > 0) & (probabilities < 1)).all()
    _, strict = score_prompts(model, tokenizer, athletes, prompts, SPORTS, threshold=1.0)
    assert not strict["kept"].any()
    assert (scores["name_tokens"] >= 2).all()


def test_name_variants_keep_one_part_and_never_name_an_athlete(tiny_world):
    from factlens.facts.evaluation import name_variants

    athletes = tiny_world[1][tiny_world[1].sport.isin(SPORTS)]
    variants = name_variants(athletes, seed=0, world_names=set(tiny_world[1]["name"]))
    assert list(variants["full name"]) == list(athletes["name"])
    assert list(variants["first name only"]) == list(athletes["first_name"])
    swapped = variants["first name swapped"].str.split()
    assert (swapped.str[-1] == athletes["last_name"]).all()
    assert (swapped.str[0] != athletes["first_name"]).all()
    assert not set(variants["first name swapped"]) & set(tiny_world[1]["name"])


def test_name_part_accuracy_scores_every_variant_against_the_athletes_sport(tiny_model_dirs, tiny_world):
    from factlens.facts.evaluation import name_part_accuracy

    model, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    athletes = tiny_world[1][tiny_world[1].sport.isin(SPORTS)].head(12)
    table = name_part_accuracy(model, tokenizer, athletes, example_athlete(tiny_world[1])["name"])
    assert list(table["prompt_name"]) == ["full name", "first name only", "last name only",
                                          "first name swapped"]
    assert (table["athletes"] == 12).all() and table["accuracy"].between(0, 1).all()
    # the full-name row is the plain Fact-prompt accuracy
    _, scores = score_prompts(model, tokenizer, athletes,
                              fact_prompts(athletes, example_athlete(tiny_world[1])["name"]), SPORTS)
    assert table.loc[0, "accuracy"] == pytest.approx(scores["correct"].mean())
