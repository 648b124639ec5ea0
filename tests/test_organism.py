"""The organism's training loop: packing, schedule, determinism, learning."""

import pytest
import torch

from conftest import organism_settings
from factlens.organism.corpus import epoch_documents
from factlens.organism.training import (learning_rate_at, organism_config, pack_documents, stopping_summary,
                               stream_batches, train_organism)

SMALL = dict(d_model=32, n_layers=2, n_heads=2, d_mlp=64, context_length=32, batch_size=8,
             max_steps=30, warmup_steps=3, eval_every=15, learning_rate=0.006, decay_steps=10)


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


def test_learning_rate_warms_up_holds_its_peak_then_decays_to_a_tenth():
    settings = organism_settings(**SMALL)
    rates = [learning_rate_at(step, settings, decay_start=12) for step in range(25)]
    assert rates[0] < rates[1] < rates[2]
    assert rates[3:12] == [settings.learning_rate] * 9  # the peak until the decay starts
    assert all(a > b for a, b in zip(rates[11:22], rates[12:22]))  # 10 steps of decay
    assert rates[21:] == pytest.approx([0.1 * settings.learning_rate] * 4)
    assert learning_rate_at(500, settings, decay_start=None) == settings.learning_rate


def stream(tiny_world):
    settings_world, athletes = tiny_world[0], tiny_world[1]
    athletes = athletes[(athletes.athlete_id < 20) | (athletes.sport == "golf")]  # short epochs
    return lambda epoch: epoch_documents(athletes, settings_world, epoch)


@pytest.mark.parametrize("accuracies, steps, decay_start, because", [
    # leaves the plateau at the second evaluation (step 10): 10 steps of decay follow
    ([0.3, 0.9, 0.95, 0.97], 20, 10, "reached 80% at step 10"),
    # never leaves it: the decay starts at the cap minus its length
    ([0.3] * 10, 30, 20, "the cap of 30 steps"),
])
def test_training_stops_on_the_stated_criterion(tiny_world, tiny_tokenizer, accuracies, steps,
                                                decay_start, because):
    settings = organism_settings(**{**SMALL, "eval_every": 5, "plateau_accuracy": 0.8})
    scores = iter(accuracies)
    model, curve = train_organism(settings, tiny_tokenizer, stream(tiny_world),
                                  lambda model: {"fact_accuracy": next(scores)})
    summary = stopping_summary(curve, settings)
    assert summary["steps"] == len(curve) == steps
    assert summary["decay_start"] == decay_start and because in summary["stopped_because"]
    assert (curve["phase"] == "decay").sum() == settings.decay_steps
    assert curve["lr"].iloc[-1] == pytest.approx(0.1 * settings.learning_rate, rel=0.05)


@pytest.mark.parametrize("parallel", [True, False])
def test_config_is_gpt_neox_with_the_chosen_block_type(tiny_tokenizer, parallel):
    config = organism_config(organism_settings(**SMALL, parallel_residual=parallel), tiny_tokenizer)
    assert config.model_type == "gpt_neox"
    assert config.use_parallel_residual == parallel and not config.tie_word_embeddings
    assert config.attention_dropout == 0 and config.hidden_dropout == 0
    assert config.vocab_size == len(tiny_tokenizer)


def test_training_is_deterministic_and_lowers_the_loss(tiny_world, tiny_tokenizer):
    settings = organism_settings(**SMALL)
    calls = []

    def evaluate(model):
        calls.append(model.training)
        return {"fact_accuracy": 0.0}

    epochs, documents_for_epoch = [], stream(tiny_world)

    def documents(epoch):
        epochs.append(epoch)
        return documents_for_epoch(epoch)

    model, curve = train_organism(settings, tiny_tokenizer, documents, evaluate)
    assert len(epochs) >= 2 and epochs == list(range(len(epochs)))  # fresh epochs, in order
    again, curve_again = train_organism(settings, tiny_tokenizer, documents)
    assert curve["loss"].equals(curve_again["loss"])
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    assert curve["loss"].tail(5).mean() < curve["loss"].head(5).mean() - 0.5
    assert calls == [False, False]  # evaluated in eval mode at steps 15 and 30
    assert curve["fact_accuracy"].notna().sum() == 2 and not model.training


def test_stream_batches_carry_the_remainder_of_an_epoch_into_the_next(tiny_tokenizer):
    epoch_docs = {0: ["Alpha plays golf."] * 5, 1: ["Beta plays baseball."] * 5}
    batches = stream_batches(tiny_tokenizer, lambda epoch: epoch_docs[epoch % 2], 8, 3)
    rows = [pack_documents(tiny_tokenizer, epoch_docs[epoch % 2], 8) for epoch in range(8)]
    assert len(rows[0]) % 3 != 0  # the epoch does not fill whole batches
    stream = torch.cat([next(batches) for _ in range(6)])
    assert torch.equal(stream, torch.cat(rows)[:18])
