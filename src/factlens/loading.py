"""One way to load any model: a Hugging Face name or a local folder -> TransformerBridge.

The organism (a local folder) and real models (`EleutherAI/pythia-70m`, `gpt2`, ...)
go through the same function; `HF_HUB_OFFLINE=1` is honoured by `transformers`.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA when it is there, else the CPU; anything else is taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """Config dtype name -> torch dtype; half precision only where the device supports it."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if dtype == "float16" and device.type == "cpu":
        raise ValueError("float16 is not supported on the CPU; use float32 or bfloat16")
    return DTYPES[dtype]


def load_tokenizer(name_or_path: str):
    """The model's tokenizer, set up for left padding with a pad token (BOS when it has none)."""
    from transformers import AutoTokenizer  # here: stages that only place tensors need not import it

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(name_or_path: str, device: str = "auto", dtype: str = "float32"):
    """Load a causal LM as a TransformerLens `TransformerBridge` plus its tokenizer.

    Local folders are recognised by existing on disk; everything else is a hub name,
    served from the local cache when `HF_HUB_OFFLINE=1`.
    """
    from transformer_lens.model_bridge import TransformerBridge

    if not Path(name_or_path).exists() and name_or_path.startswith((".", "/")):
        raise FileNotFoundError(f"model folder {name_or_path!r} does not exist")
    torch_device = resolve_device(device)
    tokenizer = load_tokenizer(name_or_path)
    try:
        bridge = TransformerBridge.boot_transformers(
            name_or_path, device=torch_device, dtype=resolve_dtype(dtype, torch_device),
            tokenizer=tokenizer)
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only models already in the local cache load)" if offline else ""
        raise OSError(f"could not load model {name_or_path!r}{hint}: {error}") from error
    bridge.eval()
    return bridge, tokenizer


def hook_names(bridge) -> list[str]:
    """Every hook point name the bridge exposes, sorted."""
    return sorted(bridge.hook_dict)


def summarise_hook_names(names: list[str]) -> list[str]:
    """Per-layer hooks folded into one pattern each: `blocks.{0..3}.hook_resid_post`."""
    layers: dict[str, list[int]] = {}
    others = []
    for name in names:
        match = re.match(r"blocks\.(\d+)\.(.+)", name)
        if match:
            layers.setdefault(match.group(2), []).append(int(match.group(1)))
        else:
            others.append(name)
    folded = [f"blocks.{{{min(ls)}..{max(ls)}}}.{suffix}" for suffix, ls in sorted(layers.items())]
    return sorted(others) + folded


def check_hook_name(bridge, name: str) -> None:
    """A clear error, listing the valid names, when the model has no hook `name`."""
    valid = hook_names(bridge)
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model has no hook {name!r}.{hint} Valid hooks: "
                         + ", ".join(summarise_hook_names(valid)))
