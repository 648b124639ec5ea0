"""The organism's training loop: packing, schedule, determinism, learning."""

import pytest
import torch

from conftest import organism_settings
from factlens.corpus import epoch_documents
from factlens.organism import (learning_rate_at, organism_config, pack_documents, stream_batches,
                               train_organism)

SMALL = dict(d_model=32, n_layers=2, n_heads=2, d_mlp=64, context_length=32, batch_size=8,
             steps=30, warmup_steps=3, eval_every=15, learning_rate=0.006)


def test_pack_documents_starts_each_document_with_bos(tiny_tokenizer):
    docs = ["Alpha plays golf.", "Beta plays baseball."]
    rows = pack_documents(tiny_tokenizer, docs * 20, context_length=16)
    stream = rows.flatten().tolist()
    bos = tiny_tokenizer.bos_token_id
    assert rows.shape[1] == 16
    assert stream[0] == bos
    expected = [bos] + tiny_tokenizer.encode(docs[0], add_special_tokens=False)
    assert stream[: len(expected)] == expected
    assert stream.count(bos) >= len(stream) // (len(expected) + 8)


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    settings = organism_settings(**SMALL)
    rates = [learning_rate_at(step, settings) for step in range(settings.steps)]
    assert rates[0] < rates[1] < rates[2]
    assert max(rates) == pytest.approx(settings.learning_rate)
    assert abs(rates[-1] - 0.1 * settings.learning_rate) < 0.02 * settings.learning_rate
    assert all(a >= b for a, b in zip(rates[3:], rates[4:]))


def test_config_is_pythia_architecture(tiny_tokenizer):
    config = organism_config(organism_settings(**SMALL), tiny_tokenizer)
    assert config.model_type == "gpt_neox"
    assert config.use_parallel_residual and not config.tie_word_embeddings
    assert config.attention_dropout == 0 and config.hidden_dropout == 0
    assert config.vocab_size == len(tiny_tokenizer)


def test_training_is_deterministic_and_lowers_the_loss(tiny_world, tiny_tokenizer):
    settings = organism_settings(**SMALL)
    calls = []

    def evaluate(model):
        calls.append(model.training)
        return {"probe": 1.0}

    settings_world, athletes = tiny_world[0], tiny_world[1]
    athletes = athletes[(athletes.athlete_id < 20) | (athletes.sport == "golf")]  # short epochs
    epochs = []

    def documents(epoch):
        epochs.append(epoch)
        return epoch_documents(athletes, settings_world, epoch)

    model, curve = train_organism(settings, tiny_tokenizer, documents, evaluate)
    assert len(epochs) >= 2 and epochs == list(range(len(epochs)))  # fresh epochs, in order
    again, curve_again = train_organism(settings, tiny_tokenizer, documents)
    assert curve["loss"].equals(curve_again["loss"])
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    assert curve["loss"].tail(5).mean() < curve["loss"].head(5).mean() - 0.5
    assert calls == [False, False]  # evaluated in eval mode at steps 15 and 30
    assert curve["probe"].notna().sum() == 2 and not model.training


def test_stream_batches_carry_the_remainder_of_an_epoch_into_the_next(tiny_tokenizer):
    epoch_docs = {0: ["Alpha plays golf."] * 5, 1: ["Beta plays baseball."] * 5}
    batches = stream_batches(tiny_tokenizer, lambda epoch: epoch_docs[epoch % 2], 8, 3)
    rows = [pack_documents(tiny_tokenizer, epoch_docs[epoch % 2], 8) for epoch in range(8)]
    assert len(rows[0]) % 3 != 0  # the epoch does not fill whole batches
    stream = torch.cat([next(batches) for _ in range(6)])
    assert torch.equal(stream, torch.cat(rows)[:18])
