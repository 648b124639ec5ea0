"""SAE metrics against independent computations: identity and zero "SAEs", scaled
reconstructions, loss recovered on a real (tiny) model, and the Pareto interpolation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from factlens.sae.activations import token_stream
from factlens.loading import load_model
from factlens.sae.base import SparseAutoencoder
from factlens.sae.metrics import (l0_at_loss_recovered, log_l0_at, loss_recovered, per_token_statistics,
                                  reconstruction_metrics, value_at_l0)
from factlens.sae.splicing import next_token_loss, sequence_cross_entropy, spliced_cross_entropy, zero_ablation


class LinearSAE(SparseAutoencoder):
    """x_hat = c x exactly: encode is linear with identity weights (test double)."""

    architecture = "linear"

    def __init__(self, d, c=1.0):
        super().__init__(d, d)
        with torch.no_grad():
            self.W_enc.copy_(torch.eye(d))
            self.W_dec.copy_(c * torch.eye(d))

    def encode(self, x):
        return self.pre_activations(x)

    def loss(self, x, coefficient):
        return self.reconstruction_error(x, self(x)), {}


X = torch.randn(500, 8) + 2.0


def test_identity_reconstruction_has_zero_fvu_and_unit_gamma():
    metrics = reconstruction_metrics(LinearSAE(8), X, batch_size=128)
    assert metrics["fvu"] == pytest.approx(0.0, abs=1e-10)
    assert metrics["shrinkage_gamma"] == pytest.approx(1.0)
    assert metrics["eval_tokens"] == 500


def test_shrunk_reconstruction_gives_gamma_c_and_matching_fvu():
    c = 0.7
    metrics = reconstruction_metrics(LinearSAE(8, c), X)
    assert metrics["shrinkage_gamma"] == pytest.approx(c, rel=1e-5)
    expected_fvu = ((1 - c) ** 2 * X.pow(2).sum()) / (X - X.mean(0)).pow(2).sum()
    assert metrics["fvu"] == pytest.approx(float(expected_fvu), rel=1e-5)


def test_l0_alive_and_dense_latents():
    f = torch.zeros(100, 8)
    f[:, 0] = 1.0  # fires always: dense
    f[:5, 1] = 1.0  # fires on 5%: alive, not dense
    sae = LinearSAE(8)
    metrics = reconstruction_metrics(sae, f)
    # with identity weights the features are the inputs themselves
    assert metrics["l0"] == pytest.approx(1.05)
    assert metrics["alive_fraction"] == pytest.approx(2 / 8)
    assert metrics["dense_latents"] == 1


def test_loss_recovered_formula():
    assert loss_recovered(2.0, 4.0, 2.0)["loss_recovered"] == 1.0
    assert loss_recovered(2.0, 4.0, 4.0)["loss_recovered"] == 0.0
    result = loss_recovered(2.0, 4.0, 2.5)
    assert result["loss_recovered"] == 0.75 and result["delta_lm_loss"] == 0.5


def test_next_token_loss_matches_cross_entropy():
    logits = torch.randn(2, 5, 11)
    ids = torch.randint(0, 11, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[0, 3] = False  # target at position 3 is skipped
    total, count = next_token_loss(logits, ids, mask)  # per row
    reference = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 11), ids[:, 1:].reshape(-1),
                                                  reduction="none").view(2, 4)
    keep = mask[:, 1:]
    assert count.tolist() == [3, 4]
    for row in range(2):
        assert total[row] == pytest.approx(float(reference[row][keep[row]].sum()), rel=1e-5)


def test_spliced_identity_recovers_all_loss_and_zero_recovers_none(tiny_model_dirs, tiny_world):
    model, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    stream = token_stream(tokenizer, tiny_world[3], context_length=16, max_tokens=200)
    hook = "blocks.0.hook_resid_post"
    losses = spliced_cross_entropy(model, stream.input_ids, stream.keep, hook, {
        "clean": None, "zero": zero_ablation, "identity": lambda a: a, "half": lambda a: a / 2})
    assert losses["identity"] == pytest.approx(losses["clean"], abs=1e-5)
    assert losses["zero"] != pytest.approx(losses["clean"], abs=1e-3)
    metrics = loss_recovered(losses["clean"], losses["zero"], losses["identity"])
    assert metrics["loss_recovered"] == pytest.approx(1.0, abs=1e-3)
    assert loss_recovered(losses["clean"], losses["zero"], losses["zero"])["loss_recovered"] == 0.0
    with torch.no_grad():
        logits = model(stream.input_ids)
    total, count = next_token_loss(logits, stream.input_ids, stream.keep)
    assert losses["clean"] == pytest.approx(float(total.sum() / count.sum()), rel=1e-5)
    # per sequence: the identity splice changes no sequence's loss, zero ablation every one
    sums, targets = sequence_cross_entropy(model, stream.input_ids, stream.keep, hook, {
        "clean": None, "zero": zero_ablation, "identity": lambda a: a}, batch_rows=3)
    assert len(targets) == len(stream.input_ids) and torch.equal(targets, count.double())
    assert torch.allclose(sums["identity"], sums["clean"], atol=1e-4)
    assert torch.allclose(sums["clean"], total.double(), rtol=1e-5)
    assert (sums["zero"] != sums["clean"]).all()


def test_l0_needed_interpolates_along_the_sweep():
    sweep = pd.DataFrame({"l0": [5.0, 10.0, 20.0], "loss_recovered": [0.6, 0.8, 0.9]})
    assert l0_at_loss_recovered(sweep, 0.8) == pytest.approx(10.0)
    # halfway in loss recovered is halfway in log L0: the geometric mean
    assert l0_at_loss_recovered(sweep, 0.7) == pytest.approx(math.sqrt(50.0))
    assert l0_at_loss_recovered(sweep, 0.85) == pytest.approx(math.sqrt(200.0))
    assert math.isnan(l0_at_loss_recovered(sweep, 0.95))
    assert math.isnan(l0_at_loss_recovered(sweep, 0.5))


def test_l0_interpolation_runs_over_a_batch_of_sweeps_as_over_each_alone():
    rng = np.random.default_rng(0)
    l0 = np.exp(rng.uniform(0, 4, (5, 7)))  # 5 SAEs, 7 resampled versions of the sweep
    recovered = rng.uniform(0.3, 1.0, (5, 7))
    batched = log_l0_at(l0, recovered, 0.7)
    for column in range(7):
        alone = l0_at_loss_recovered(pd.DataFrame({"l0": l0[:, column], "loss_recovered": recovered[:, column]}), 0.7)
        assert batched[column] == pytest.approx(alone, nan_ok=True)
    assert np.isfinite(batched).any()


def test_per_token_statistics_average_to_l0_and_sum_to_the_fvu():
    sae = LinearSAE(8)  # features = inputs: about half are positive
    x = torch.randn(300, 8)
    statistics = per_token_statistics(sae, x, batch_size=64)
    active, error = statistics["active"], statistics["squared_error"]
    assert active.shape == (300,) and torch.equal(active, (sae.features(x) > 0).sum(-1))
    metrics = reconstruction_metrics(sae, x)
    assert active.double().mean().item() == pytest.approx(metrics["l0"])
    centred = (x.double() - x.double().mean(0)).pow(2).sum()
    assert (error.double().sum() / centred).item() == pytest.approx(metrics["fvu"], rel=1e-5)


def test_a_metric_at_equal_l0_is_interpolated_in_log_l0():
    l0 = np.array([16.0, 1.0, 4.0])  # unsorted on purpose
    values = np.array([0.1, 0.9, 0.3])
    # halfway between L0 4 and 16 in log space is L0 8: halfway between 0.3 and 0.1
    assert value_at_l0(l0, values, 8.0) == pytest.approx(0.2)
    assert value_at_l0(l0, values, 2.0) == pytest.approx(0.6)
    assert value_at_l0(l0, values, 4.0) == pytest.approx(0.3)
    assert value_at_l0(l0, values, 16.0) == pytest.approx(0.1)
    assert np.isnan(value_at_l0(l0, values, 0.5)) and np.isnan(value_at_l0(l0, values, 20.0))
    # further axes are independent sweeps (bootstrap resamples)
    batched = value_at_l0(np.stack([l0, 2 * l0], 1), np.stack([values, values], 1), 8.0)
    assert batched == pytest.approx([0.2, 0.3])
