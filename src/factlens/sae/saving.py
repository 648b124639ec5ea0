"""SAEs on disk in SAELens's layout: `cfg.json` + `sae_weights.safetensors`.

Weights are saved with the input normalisation folded in (so `input_scale` is 1 and
the SAE runs on raw activations). cfg.json follows SAELens 6's layout: the architecture
and sizes at the top, and a `metadata` block saying where the activations came from
(model, hook, dataset, context size, BOS handling), plus factlens's training settings
and sparsity coefficient for provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from factlens.io import atomic_path, write_json
from factlens.sae.architectures import ARCHITECTURES, SparseAutoencoder

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
# The cfg.json layout written here is SAELens 6.0's; its loader reads the version from
# `metadata` to pick the layout. The SAEs are not trained by SAELens, so
# `sae_lens_training_version` stays null and `factlens_version` says who trained them.
SAELENS_LAYOUT_VERSION = "6.0.0"


def activation_metadata(model_name: str, hook_name: str, context_size: int, dataset_path: str,
                        **more) -> dict:
    """SAELens's `metadata` block for activations of `hook_name` in `model_name`, cached from
    BOS-prefixed documents in rows of `context_size` tokens, BOS and padding excluded."""
    from factlens import __version__

    return {"model_name": model_name, "hook_name": hook_name, "hook_head_index": None,
            "model_from_pretrained_kwargs": {}, "context_size": context_size,
            "prepend_bos": True, "exclude_special_tokens": True, "seqpos_slice": [None],
            "dataset_path": dataset_path, "sae_lens_version": SAELENS_LAYOUT_VERSION,
            "sae_lens_training_version": None, "factlens_version": __version__, **more}


def save_sae(sae: SparseAutoencoder, folder: str | Path, metadata: dict,
             extra: dict | None = None) -> None:
    """Write cfg.json and sae_weights.safetensors (normalisation folded) into `folder`;
    `metadata` is `activation_metadata(...)`."""
    folder = Path(folder)
    config = {
        "architecture": sae.architecture, "d_in": sae.d_in, "d_sae": sae.d_sae,
        "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
        "normalize_activations": "none", "reshape_activations": "none",
        "folded_input_scale": float(sae.input_scale),
        **sae.extra_config(), **(extra or {}), "metadata": metadata,
    }
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_FILE) as path:
        save_file({k: v.contiguous().float() for k, v in sae.folded_state_dict().items()},
                  str(path))
    write_json(config, folder / CONFIG_FILE)


def load_sae(folder: str | Path) -> tuple[SparseAutoencoder, dict]:
    """Rebuild an SAE saved by `save_sae`; it reconstructs raw activations."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    architecture = config["architecture"]
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{folder}: unknown SAE architecture {architecture!r}; "
                         f"expected one of {sorted(ARCHITECTURES)}")
    options = {key: config[key] for key in ("k", "bandwidth") if key in config}
    sae = ARCHITECTURES[architecture](config["d_in"], config["d_sae"], **options)
    state = load_file(str(folder / WEIGHTS_FILE))
    missing = set(dict(sae.named_parameters())) ^ set(state)
    if missing:
        raise ValueError(f"{folder}: weights do not match a {architecture} SAE: {sorted(missing)}")
    with torch.no_grad():
        for name, parameter in sae.named_parameters():
            parameter.copy_(state[name])
    sae.eval()
    return sae, config
