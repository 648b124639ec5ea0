"""One loader for every model: local folders (organism, tiny random models) and hub names."""

import pytest
import torch

from factlens.loading import check_hook_name, hook_names, load_model, resolve_device, resolve_dtype


@pytest.mark.parametrize("architecture", ["gpt_neox", "gpt2"])
def test_local_folder_loads_as_bridge_with_standard_hooks(architecture, tiny_model_dirs):
    from transformer_lens.model_bridge import TransformerBridge

    bridge, tokenizer = load_model(str(tiny_model_dirs[architecture]), device="cpu")
    assert isinstance(bridge, TransformerBridge)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    names = hook_names(bridge)
    for hook in ("blocks.1.hook_resid_post", "blocks.0.mlp.hook_post", "blocks.0.hook_attn_out"):
        assert hook in names
    ids = tokenizer("Fact: x", return_tensors="pt")["input_ids"]
    _, cache = bridge.run_with_cache(ids)
    assert cache["blocks.1.hook_resid_post"].shape == (1, ids.shape[1], bridge.cfg.d_model)


def test_unknown_hook_lists_valid_names(tiny_model_dirs):
    bridge, _ = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    with pytest.raises(ValueError) as error:
        check_hook_name(bridge, "blocks.9.hook_resid_post")
    message = str(error.value)
    assert "blocks.9.hook_resid_post" in message
    assert "Did you mean blocks.0.hook_resid_post" in message or "blocks.1.hook_resid_post" in message
    assert "blocks.{0..1}.hook_resid_post" in message and "blocks.{0..1}.mlp.hook_post" in message


def test_missing_folder_and_offline_hub_name_fail_clearly(monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("./no/such/model", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError):
        load_model("EleutherAI/no-such-model-factlens", device="cpu")


def test_device_and_dtype_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(ValueError, match="float16 is not supported on the CPU"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
