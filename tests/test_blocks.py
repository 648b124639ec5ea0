"""Which residual an MLP reads in parallel and sequential blocks, and how TransformerLens's
bridge patches it: a patch of `hook_resid_mid` reaches the MLP alone, so the residual
stream there is patched through the block's input and attention output together."""

import pytest
import torch

from conftest import padded_fact_prompts
from factlens.blocks import (is_parallel, mlp_input, parallel_from_hooks, patch_hooks, residual_hooks,
                             short_name)
from factlens.loading import load_model
from factlens.facts.patching import pair_prompts, patching_effects, prompt_layout, summarise_effects
from factlens.facts.prompts import answer_ids
from factlens.organism.world import SPORTS


def test_hook_names_follow_the_block_type():
    assert residual_hooks(2, parallel=True) == [
        "blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert residual_hooks(2, parallel=False) == [
        "blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.hook_resid_post",
        "blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"]
    assert [mlp_input(layer, True) for layer in (0, 1)] == ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"]
    assert mlp_input(1, False) == "blocks.1.hook_resid_mid"
    assert patch_hooks("blocks.1.hook_resid_mid") == ["blocks.1.hook_resid_pre", "blocks.1.hook_attn_out"]
    assert patch_hooks("blocks.1.hook_resid_post") == ["blocks.1.hook_resid_post"]
    assert parallel_from_hooks(residual_hooks(3, True)) and not parallel_from_hooks(residual_hooks(3, False))
    assert [short_name(h) for h in residual_hooks(1, False)] == ["embed", "resid_mid 0", "resid_post 0"]


@pytest.mark.parametrize("architecture, parallel", [("gpt_neox", True), ("gpt_neox_sequential", False),
                                                    ("gpt2", False)])
def test_the_bridge_reports_the_block_type(tiny_model_dirs, architecture, parallel):
    model, _ = load_model(str(tiny_model_dirs[architecture]), device="cpu")
    assert is_parallel(model) == parallel
    assert all(hook in model.hook_dict for hook in residual_hooks(model.cfg.n_layers, parallel))


@pytest.fixture(scope="module")
def sequential(tiny_model_dirs):
    model, _ = load_model(str(tiny_model_dirs["gpt_neox_sequential"]), device="cpu")
    return model, torch.randint(5, 300, (2, 6), generator=torch.Generator().manual_seed(0))


def run_patched(model, ids, hooks, position):
    """Run the first prompt with `hooks` replaced by the second prompt's at `position`;
    return the MLP's output and the block's output."""
    _, base = model.run_with_cache(ids[:1])
    seen = {}

    def put(source):
        def hook_fn(activation, hook):
            activation = activation.clone()
            activation[:, position] = source[:, position]
            return activation
        return hook_fn

    _, source = model.run_with_cache(ids[1:])
    fwd = [(name, put(source[name])) for name in hooks]
    fwd += [(name, lambda a, hook, name=name: seen.__setitem__(name, a.clone()))
            for name in ("blocks.1.hook_mlp_out", "blocks.1.hook_resid_post")]
    with torch.no_grad():
        model.run_with_hooks(ids[:1], fwd_hooks=fwd)
    return seen, base, source


def test_a_resid_mid_patch_reaches_the_mlp_but_not_the_residual_stream(sequential):
    model, ids = sequential
    seen, base, source = run_patched(model, ids, ["blocks.1.hook_resid_mid"], position=3)
    assert torch.allclose(seen["blocks.1.hook_mlp_out"][:, 3], source["blocks.1.hook_mlp_out"][:, 3], atol=1e-5)
    # the block's output still carries the base prompt's residual and attention
    expected = base["blocks.1.hook_resid_mid"][:, 3] + source["blocks.1.hook_mlp_out"][:, 3]
    assert torch.allclose(seen["blocks.1.hook_resid_post"][:, 3], expected, atol=1e-5)
    assert not torch.allclose(seen["blocks.1.hook_resid_post"][:, 3], source["blocks.1.hook_resid_post"][:, 3])


def test_patching_the_input_and_attention_output_replaces_the_residual_at_the_mlp(sequential):
    model, ids = sequential
    seen, base, source = run_patched(model, ids, patch_hooks("blocks.1.hook_resid_mid"), position=3)
    assert torch.allclose(seen["blocks.1.hook_resid_post"][:, 3], source["blocks.1.hook_resid_post"][:, 3],
                          atol=1e-5)
    assert torch.allclose(seen["blocks.1.hook_resid_post"][:, 2], base["blocks.1.hook_resid_post"][:, 2])


def test_patching_resid_mid_everywhere_restores_the_whole_effect(tiny_model_dirs, tiny_world):
    model, tokenizer, batch, labels = padded_fact_prompts(tiny_model_dirs["gpt_neox_sequential"], tiny_world)
    layout = prompt_layout(batch.attention_mask, batch.first_name_index, batch.final_name_index)
    pairs = pair_prompts(labels, layout, torch.ones(len(labels), dtype=torch.bool), 6, 0)
    hooks = ["blocks.0.hook_resid_mid", "blocks.1.hook_resid_mid"]
    effects = patching_effects(model, batch.input_ids, batch.attention_mask, batch.first_name_index,
                               batch.final_name_index, pairs, answer_ids(tokenizer, SPORTS), hooks,
                               groups=["all positions"], batch_size=4)
    summary = summarise_effects(effects).set_index("hook")["restored_mean"]
    assert summary.to_dict() == pytest.approx({hook: 1.0 for hook in hooks}, abs=1e-4)
