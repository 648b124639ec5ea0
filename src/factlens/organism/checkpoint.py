"""The archived organism: a Hugging Face checkpoint folder committed with the results, so
that any machine can analyse the very organism the archive was made from (training
takes different paths on different CPUs: docs/organism.md).

The folder is the model and tokenizer as `save_pretrained` writes them, plus the loss
curve of the training run that made it. Before it replaces training it must match the
config: the same architecture and the same vocabulary as the tokenizer this run trained.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                    "tokenizer_config.json", "loss_curve.csv")

# model.organism setting -> the GPT-NeoX config field it sets
ARCHITECTURE = {"d_model": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                "d_mlp": "intermediate_size", "rotary_pct": "rope_parameters",
                "parallel_residual": "use_parallel_residual"}


def save_organism(model, tokenizer, folder: str | Path) -> None:
    """Save a trained organism as a Hugging Face folder (model and tokenizer)."""
    model.save_pretrained(folder)
    # transformers writes how this process loaded the tokenizer into tokenizer_config.json
    # (`local_files_only` follows HF_HUB_OFFLINE); pinned to its default so that the folder
    # depends on the config and seed only, not on the environment
    tokenizer.init_kwargs["local_files_only"] = False
    tokenizer.save_pretrained(folder)


def copy_checkpoint(model_folder: str | Path, loss_curve: str | Path, out: str | Path) -> None:
    """Copy a trained organism (model + tokenizer folder) and its loss curve into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        source = Path(loss_curve) if name == "loss_curve.csv" else Path(model_folder) / name
        shutil.copyfile(source, out / name)


def mismatches(folder: str | Path, settings, tokenizer) -> list[str]:
    """How a checkpoint folder differs from the config's organism settings and this run's
    tokenizer, one sentence each (empty when it matches)."""
    folder = Path(folder)
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).exists()]
    if missing:
        return [f"the checkpoint folder {folder} lacks {', '.join(missing)}"]
    from transformers import GPTNeoXConfig

    from factlens.organism.training import organism_config

    expected = organism_config(settings, tokenizer).to_dict()
    found = GPTNeoXConfig.from_pretrained(folder).to_dict()
    problems = [f"model.organism.{key} is {getattr(settings, key)!r} in the config ({field} "
                f"{expected.get(field)!r}) but {field} is {found.get(field)!r} in {folder}"
                for key, field in ARCHITECTURE.items() if expected.get(field) != found.get(field)]
    vocabulary = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    if vocabulary != tokenizer.get_vocab():
        problems.append(f"the vocabulary of {folder} ({len(vocabulary)} tokens) is not the one this run's "
                        f"tokenizer learned ({len(tokenizer)} tokens): the world or tokenizer settings differ")
    return problems


def check_checkpoint(folder: str | Path, settings, tokenizer) -> None:
    """Refuse a checkpoint folder that does not match the config, naming both sides."""
    problems = mismatches(folder, settings, tokenizer)
    if problems:
        raise ValueError("the archived organism does not match the config: " + "; ".join(problems))
