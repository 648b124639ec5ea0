"""Write factlens's latents and reconstructions of every SAE of a run, for
check_saelens.py to compare against SAELens's (run in the project's environment).

    python tests/interop/reference_outputs.py --work work/smoke --out work/smoke/interop

Inputs are the first rows of the SAE's held-out activation store (real activations, so
that thresholds and top-k are exercised), or Gaussian rows at the SAE's input scale when
the run kept no store. With them goes each latent's margin: how far its pre-activation
is from where it switches on (a latent within float rounding of that point may switch
either way in another implementation, a tie rather than a disagreement)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from factlens.sae.activations import ActivationStore
from factlens.sae.saving import CONFIG_FILE, load_sae

ROWS = 256


def inputs_for(work: Path, config: dict) -> torch.Tensor:
    store = work / "activations" / "heldout" / config["metadata"]["hook_name"]
    if (store / "manifest.json").exists():
        return ActivationStore(store).all(ROWS).float()
    generator = torch.Generator().manual_seed(0)
    return torch.randn(ROWS, config["d_in"], generator=generator) / config["folded_input_scale"] / config["d_in"] ** 0.5


def switching_margin(sae, x: torch.Tensor) -> torch.Tensor:
    """Each latent's distance from where it switches on: its gate (Gated), its
    threshold (JumpReLU), zero (ReLU) or the midpoint of the k-th and (k+1)-th largest
    pre-activations of its row (TopK)."""
    if sae.architecture == "gated":
        return sae.project(x, sae.b_gate)
    pre = sae.pre_activations(x)
    if sae.architecture == "jumprelu":
        return pre - sae.threshold
    if sae.architecture == "topk":
        top = pre.topk(sae.k + 1, dim=-1).values
        return pre - (top[:, -2:-1] + top[:, -1:]) / 2
    return pre


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="The run's work folder (its saes/ are compared).")
    parser.add_argument("--out", required=True, help="The output folder of reference tensors and index.json.")
    parser.add_argument("--perturb", type=float, default=0.0,
                        help="Scale the references by 1 + this (a negative control the check must catch).")
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for number, config_path in enumerate(sorted((work / "saes").glob(f"**/{CONFIG_FILE}"))):
        sae, config = load_sae(config_path.parent)
        x = inputs_for(work, config)
        latents, reconstruction = (sae.features(x) * (1 + args.perturb), sae(x) * (1 + args.perturb))
        name = f"sae_{number:03d}.safetensors"
        save_file({"x": x.contiguous(), "latents": latents.contiguous(),
                   "reconstruction": reconstruction.contiguous(),
                   "margin": switching_margin(sae, x).contiguous()}, str(out / name))
        index.append({"sae": str(config_path.parent.resolve()), "architecture": config["architecture"],
                      "reference": name, "metadata": config["metadata"],
                      "active_per_row": float((latents > 0).sum(-1).float().mean())})
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{len(index)} SAEs: reference outputs in {out}")


if __name__ == "__main__":
    main()
