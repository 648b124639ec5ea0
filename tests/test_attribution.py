"""Attribution vs patching: a two-node toy with a jump where AP, AtP, joint-path and
one-node IG, the jump term and the exact step are known by hand; exact splicing on a
real (tiny) model; the comparison table."""

import pandas as pd
import pytest
import torch

from factlens.attribution.methods import (SplicedModel, Splice, activation_patching, attribution_patching,
                                  compare_methods, path_attributions, single_node_paths)
from factlens.illusion.intervention import PromptSet
from factlens.facts.evaluation import fact_prompts
from factlens.loading import load_model
from factlens.facts.prompts import answer_ids, encode_left_padded, forward_logits
from factlens.sae.architectures import JumpReLUSAE, ReLUSAE
from factlens.sae.jumprelu import jumprelu
from factlens.organism.world import SPORTS, example_athlete


class Toy:
    """Two upstream latents x feed one downstream latent z = x_1 + x_2 through a JumpReLU
    of threshold theta (theta = 0: a ReLU), and M = 2 f + f^2 (curved, so the jump term's
    first-order estimate theta dM/df differs from the exact step). Clean x = (0, 0)."""

    def __init__(self, theta: float, rows: int = 1):
        self.down_sae = JumpReLUSAE(1, 1, threshold_init=max(theta, 1e-9))
        if theta == 0:
            self.down_sae = ReLUSAE(1, 1)
        self.theta = theta
        self.down_mask = torch.ones(rows, 1, dtype=torch.bool)
        self.splice = Splice(torch.zeros(rows, 2), None, None)

    @property
    def rows(self):
        return torch.arange(len(self.splice.up_features))

    def select(self, rows):
        return Toy(self.theta, len(rows))

    def run(self, features, capture=False):
        z = features.sum(1).view(-1, 1, 1)
        f = jumprelu(z, torch.tensor([max(self.theta, 1e-9)]), 1e-3) if self.theta > 0 else torch.relu(z)
        metric = (2 * f + f ** 2).view(-1)
        return (metric, {"features": f, "pre": z}) if capture else metric


def curve(z: float, theta: float) -> float:
    f = z if z > theta else 0.0
    return 2 * f + f * f


@pytest.mark.parametrize("theta", [0.5, 0.0])
def test_paths_through_a_jump_against_hand_computed_values(theta):
    toy = Toy(theta)
    corrupt = torch.tensor([[1.0, 0.7]])
    delta = corrupt - toy.splice.up_features
    ap = activation_patching(toy, corrupt, [0, 1])
    assert ap[0].tolist() == pytest.approx([curve(1.0, theta), curve(0.7, theta)])
    # the gradient at the clean point is zero (JumpReLU off; ReLU's kink at 0): AtP = 0
    assert attribution_patching(toy, corrupt).abs().sum().item() == 0.0
    joint = path_attributions(toy, delta, (8, 32, 128))
    continuous = curve(1.7, theta) - 2 * theta - theta ** 2  # the integral above the threshold
    segment = 1 / 128 * (2 + 2 * 1.7) * 1.7  # the trapezoid's error on the crossing segment
    assert joint.ig[128].sum().item() == pytest.approx(continuous, abs=segment)
    # each node's share of the path integral is its share of dz/dalpha: 1 : 0.7
    assert (joint.ig[128][0, 0] / joint.ig[128][0, 1]).item() == pytest.approx(1 / 0.7, rel=1e-5)
    if theta > 0:
        assert joint.crossings.item() == 1
        # first order, theta dM/df at f = theta: 0.5 * 3; the exact step: 2 theta + theta^2
        assert joint.jump.sum().item() == pytest.approx(theta * (2 + 2 * theta), abs=1e-3)
        assert joint.step.sum().item() == pytest.approx(2 * theta + theta ** 2, abs=1e-3)
        assert (joint.jump[0, 0] / joint.jump[0, 1]).item() == pytest.approx(1 / 0.7, rel=1e-4)
        # with the exact step the sum over nodes is complete: it equals the total effect
        assert (joint.ig[128] + joint.step).sum().item() == pytest.approx(curve(1.7, theta), abs=segment)
    else:
        assert joint.jump.abs().sum().item() == joint.step.abs().sum().item() == 0.0
        assert joint.ig[128].sum().item() == pytest.approx(curve(1.7, 0.0), abs=segment)
    # one node at a time: node 2 alone crosses at x_2 = theta (when theta < 0.7)
    ig, ig_jump, crossings = single_node_paths(toy, delta, [0, 1], 32)
    assert ig_jump[0].tolist() == pytest.approx(
        [curve(1.0, 0) - theta ** 2 + theta * (2 + 2 * theta) - 2 * theta,
         curve(0.7, 0) - theta ** 2 + theta * (2 + 2 * theta) - 2 * theta], abs=3 * 3.4 / 32)
    assert crossings[0].tolist() == ([1, 1] if theta > 0 else [1, 1])
    assert ig[0, 1].item() == pytest.approx(curve(0.7, theta) - (2 * theta + theta ** 2) * (theta > 0),
                                            abs=3.4 / 32)


def test_bisection_locates_the_crossing_inside_its_segment():
    toy = Toy(0.5)
    delta = torch.tensor([[1.0, 0.7]])
    # the crossing is at alpha = 0.5 / 1.7; with one grid segment [0, 1] and 30 bisections
    # the located step is exact to float precision, while the segment end would be far off
    coarse = path_attributions(toy, delta, (1,), bisections=30)
    assert coarse.step.sum().item() == pytest.approx(1.25, abs=1e-5)
    assert coarse.jump.sum().item() == pytest.approx(1.5, abs=1e-5)
    with pytest.raises(ValueError, match="divide the largest"):
        path_attributions(toy, delta, (8, 12))


def test_spliced_model_reproduces_the_model_and_patching_is_consistent(tiny_model_dirs, tiny_world):
    model, tokenizer = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    athletes = tiny_world[1]
    main = athletes[athletes.sport.isin(SPORTS)].head(8)
    batch = encode_left_padded(tokenizer, fact_prompts(main, example_athlete(athletes)["name"]),
                               list(main["name"]))
    labels = torch.tensor([SPORTS.index(s) for s in main["sport"]])
    prompts = PromptSet(batch.input_ids, batch.attention_mask, batch.final_name_index, labels)
    answers = answer_ids(tokenizer, SPORTS)
    good, bad = answers[labels], answers[(labels + 1) % 3]
    torch.manual_seed(0)
    up, down = ReLUSAE(model.cfg.d_mlp, 16), JumpReLUSAE(model.cfg.d_model, 16, threshold_init=0.05)
    for sae in (up, down):
        for parameter in sae.parameters():
            parameter.requires_grad_(False)
    spliced = SplicedModel(model, prompts, "blocks.0.mlp.hook_post", up, "blocks.1.hook_resid_post",
                           down, good, bad)
    with torch.no_grad():
        logits = forward_logits(model, batch.input_ids, batch.attention_mask)[:, -1]
    rows = torch.arange(len(labels))
    expected = logits[rows, good] - logits[rows, bad]
    assert torch.allclose(spliced.run(spliced.splice.up_features), expected, atol=1e-4)
    # patching a latent to its own clean value changes nothing
    same = activation_patching(spliced, spliced.splice.up_features, [3])
    assert torch.allclose(same, torch.zeros_like(same), atol=1e-5)
    # a subset of rows (with repeats) is the same model on those rows
    rows_picked = torch.tensor([2, 2, 5])
    assert torch.allclose(spliced.select(rows_picked).run(spliced.splice.up_features[rows_picked]),
                          expected[rows_picked], atol=1e-4)
    # along the joint path to other prompts' latents, IG plus the exact steps at the
    # located crossings adds up to the total effect (completeness), per row
    corrupt = spliced.splice.up_features.roll(1, 0)
    delta = corrupt - spliced.splice.up_features
    path = path_attributions(spliced, delta, (32,))
    with torch.no_grad():
        total = spliced.run(corrupt) - spliced.run(spliced.splice.up_features)
    assert torch.allclose((path.ig[32] + path.step).sum(1), total, atol=0.05 * total.abs().max())


def test_compare_methods_scores_a_perfect_and_a_useless_estimate():
    frame = pd.DataFrame({"ap": [1.0, -2.0, 3.0, 0.5, -1.5], "crossings": [0, 1, 0, 1, 0],
                          "pair": [0, 0, 1, 1, 2]})
    frame["perfect"] = frame["ap"]
    frame["zero"] = 0.0
    table = compare_methods(frame, ["perfect", "zero"], top_k=2).set_index(["stratum", "method"])
    assert table.loc[("all", "perfect"), "relative_mae"] == 0.0
    assert table.loc[("all", "perfect"), "top_k_recall"] == 1.0
    assert table.loc[("all", "zero"), "relative_mae"] == 1.0
    assert table.loc[("all", "perfect"), "sign_agreement"] == 1.0
    # the bootstrap resamples pairs: a useless estimate's relative error is 1 in every resample
    assert table.loc[("all", "zero"), ["relative_mae_low", "relative_mae_high"]].tolist() == [1.0, 1.0]
    half = frame.assign(half=frame["ap"] * 0.5)
    interval = compare_methods(half, ["half"]).iloc[0]
    assert interval["relative_mae_low"] == interval["relative_mae_high"] == pytest.approx(0.5)
