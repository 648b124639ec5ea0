"""The BPE tokenizer: special tokens, single-token answers, multi-token names."""

import pytest
from transformers import AutoTokenizer

from factlens.organism.tokenizer import (BOS_TOKEN, PAD_TOKEN, name_token_lengths, save_tokenizer,
                                single_token_id)
from factlens.organism.world import SPORTS


def test_special_tokens_and_answers(tiny_tokenizer):
    assert tiny_tokenizer.bos_token == BOS_TOKEN == tiny_tokenizer.eos_token
    assert tiny_tokenizer.pad_token == PAD_TOKEN
    assert tiny_tokenizer.pad_token_id != tiny_tokenizer.bos_token_id
    ids = {single_token_id(tiny_tokenizer, sport) for sport in SPORTS}
    assert len(ids) == len(SPORTS)


def test_multi_token_answer_is_refused(tiny_tokenizer):
    with pytest.raises(ValueError, match="expected exactly one"):
        single_token_id(tiny_tokenizer, "quidditchball")


def test_names_span_several_tokens(tiny_world, tiny_tokenizer):
    lengths = name_token_lengths(tiny_tokenizer, tiny_world[1]["name"])
    assert lengths.min() >= 2
    assert lengths.max() > lengths.min()


def test_saved_folder_loads_as_hf_tokenizer(tmp_path, tiny_tokenizer):
    save_tokenizer(tiny_tokenizer, tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Fact: Someone plays the sport of baseball"
    assert loaded.encode(text) == tiny_tokenizer.encode(text)
    assert loaded.decode(loaded.encode(text)) == text
    assert loaded.padding_side == "left"


def test_default_world_names_stay_multi_token_with_the_stand_in_corpus():
    """Trained on text about stand-in athletes, the tokenizer keeps most of the default
    world's names at 3+ tokens; trained on the world's own corpus (every name part
    frequent), it merges them into fewer tokens: the negative control."""
    from conftest import world_settings
    from factlens.organism.corpus import build_corpus, tokenizer_corpus
    from factlens.organism.tokenizer import train_bpe_tokenizer
    from factlens.organism.world import EXAMPLE_SPORT, draw_athletes

    settings = world_settings()
    athletes = draw_athletes(settings)
    answers = (*SPORTS, EXAMPLE_SPORT)
    stand_in = train_bpe_tokenizer(tokenizer_corpus(athletes, settings), 2048, answers)
    lengths = name_token_lengths(stand_in, athletes["name"])
    assert (lengths >= 3).mean() >= 0.5
    own = train_bpe_tokenizer(build_corpus(athletes, settings)[0], 2048, answers)
    assert name_token_lengths(own, athletes["name"]).mean() < lengths.mean() - 0.5
