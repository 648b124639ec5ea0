"""SAEs on disk in SAELens's layout: `cfg.json` + `sae_weights.safetensors`.

Weights are saved with the input normalisation folded in (so `input_scale` is 1 and
the SAE runs on raw activations); cfg.json records the architecture, sizes, hook and
model, plus the training settings and sparsity coefficient for provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from factlens.io import atomic_path, write_json
from factlens.sae import ARCHITECTURES, SparseAutoencoder

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"


def save_sae(sae: SparseAutoencoder, folder: str | Path, model_name: str, hook_name: str,
             extra: dict | None = None) -> None:
    """Write cfg.json and sae_weights.safetensors (normalisation folded) into `folder`."""
    folder = Path(folder)
    config = {
        "architecture": sae.architecture, "d_in": sae.d_in, "d_sae": sae.d_sae,
        "dtype": "float32", "device": "cpu", "model_name": model_name,
        "hook_name": hook_name, "apply_b_dec_to_input": True,
        "normalize_activations": "none", "folded_input_scale": float(sae.input_scale),
        **sae.extra_config(), **(extra or {}),
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
