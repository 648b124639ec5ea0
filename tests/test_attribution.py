"""Attribution vs patching: a 1-D toy with a jump where AP, AtP, IG and the jump term
are known by hand, exact splicing on a real (tiny) model, and the comparison table."""

import pandas as pd
import pytest
import torch

from factlens.attribution import (SplicedModel, Splice, activation_patching, attribution_patching,
                                  compare_methods, integrated_gradients)
from factlens.intervention import PromptSet
from factlens.evaluation import fact_prompts
from factlens.loading import load_model
from factlens.prompts import answer_ids, encode_left_padded, forward_logits
from factlens.sae import JumpReLUSAE, ReLUSAE
from factlens.sae.jumprelu import jumprelu
from factlens.world import SPORTS, example_athlete


class Toy:
    """M(x) = 2 * JumpReLU_theta(x) for one upstream latent x (clean 0, corrupt 1)."""

    def __init__(self, theta: float):
        self.down_sae = JumpReLUSAE(1, 1, threshold_init=max(theta, 1e-9))
        self.down_mask = torch.ones(1, 1, dtype=torch.bool)
        self.splice = Splice(torch.zeros(1, 1), None, None, self.down_mask)
        self.theta = theta

    def run(self, features, need_grad=False):
        z = features.view(1, 1, 1)
        if self.theta > 0:
            f = jumprelu(z, self.down_sae.threshold.detach(), 1e-3)
        else:
            f = torch.relu(z)
        store = {}
        if need_grad:
            f.retain_grad()
            store = {"features": f, "pre": z.detach()}
        return (2 * f).view(1), store


@pytest.mark.parametrize("theta, expected_ig", [(0.5, 1.0), (0.0, 2.0)])
def test_toy_with_a_jump(theta, expected_ig):
    toy = Toy(theta)
    corrupt = torch.ones(1, 1)
    assert activation_patching(toy, corrupt, 0).item() == pytest.approx(2.0)
    # the gradient at the clean point is zero (JumpReLU off; ReLU's kink at 0): AtP = 0
    assert attribution_patching(toy, corrupt).item() == pytest.approx(0.0)
    ig, ig_jump, crossings = integrated_gradients(toy, corrupt, 0, steps=32)
    # IG sees only the slope 2 above the threshold: 2 * (1 - theta), up to one segment
    assert ig.item() == pytest.approx(expected_ig, abs=2 / 32)
    if theta > 0:
        assert crossings.item() == 1
        # the jump term adds theta * dM/df = 0.5 * 2 and recovers patching
        assert ig_jump.item() == pytest.approx(2.0, abs=2 / 32)
    else:
        assert ig_jump.item() == pytest.approx(ig.item())


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
    assert torch.allclose(spliced.run(spliced.splice.up_features)[0], expected, atol=1e-4)
    # patching a latent to its own clean value changes nothing
    same = activation_patching(spliced, spliced.splice.up_features, 3)
    assert torch.allclose(same, torch.zeros_like(same), atol=1e-5)


def test_compare_methods_scores_a_perfect_and_a_useless_estimate():
    frame = pd.DataFrame({"ap": [1.0, -2.0, 3.0, 0.5, -1.5], "crossings": [0, 1, 0, 1, 0]})
    frame["perfect"] = frame["ap"]
    frame["zero"] = 0.0
    table = compare_methods(frame, ["perfect", "zero"], top_k=2).set_index(["stratum", "method"])
    assert table.loc[("all", "perfect"), "relative_mae"] == 0.0
    assert table.loc[("all", "perfect"), "top_k_recall"] == 1.0
    assert table.loc[("all", "zero"), "relative_mae"] == 1.0
    assert table.loc[("all", "perfect"), "sign_agreement"] == 1.0
