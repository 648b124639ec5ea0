"""Load every SAE listed by reference_outputs.py with SAELens (SAE.load_from_disk) and
compare its latents and reconstructions with factlens's (run in the interop environment,
`make interop`, which has sae-lens but not factlens). Exits 1 when an SAE cannot be
loaded, SAELens does not read cfg.json's provenance (model, hook, dataset, context size,
BOS) as factlens wrote it, or the relative error ||a - b|| / ||b|| of its latents or
reconstructions exceeds 1e-5 (float32 rounding: the two compute the same maps in a
different order).

Gated, JumpReLU and TopK latents switch on discontinuously, so a latent whose
pre-activation lies within float rounding of its switching point (relative 1e-5 of its
row's largest margin) may be on in one implementation and off in the other. Such ties
are allowed; their rows are left out of the errors and counted. Any other latent that
is on in one and off in the other is a disagreement, and so is a tie in more than 1% of
the rows."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

TOLERANCE = 1e-5
TIE = 1e-5
MAX_TIED_ROWS = 0.01
PROVENANCE = ("model_name", "hook_name", "context_size", "dataset_path", "prepend_bos",
              "exclude_special_tokens", "sae_lens_version")


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).norm() / reference.norm().clamp_min(1e-30)).item()


@torch.no_grad()
def main() -> int:
    from sae_lens import SAE, __version__

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", required=True, help="The folder reference_outputs.py wrote.")
    args = parser.parse_args()
    folder = Path(args.references)
    failures = 0
    print(f"sae-lens {__version__}")
    print(f"{'architecture':<12} {'L0':>6} {'latents':>9} {'recon':>9} {'ties':>5}  "
          f"(relative errors; rows with a latent switched at a tie)")
    entries = json.loads((folder / "index.json").read_text())
    for entry in entries:
        reference = load_file(str(folder / entry["reference"]))
        try:
            sae = SAE.load_from_disk(entry["sae"], device="cpu")
        except Exception as error:  # report every SAE, then fail
            print(f"{entry['architecture']:<12} cannot be loaded: {error!r}  {entry['sae']}")
            failures += 1
            continue
        lost = [key for key in PROVENANCE if sae.cfg.metadata[key] != entry["metadata"][key]]
        if lost:
            print(f"{entry['architecture']:<12} provenance read differently by SAELens: {lost}  {entry['sae']}")
            failures += 1
            continue
        latents = sae.encode(reference["x"])
        reconstruction = sae.decode(latents)
        switched = (latents != 0) != (reference["latents"] != 0)
        margin = reference["margin"].abs()
        tie = margin <= TIE * margin.amax(-1, keepdim=True)
        switched_rows = switched.any(-1)  # a latent on in one, off in the other
        errors = (relative_error(latents[~switched_rows], reference["latents"][~switched_rows]),
                  relative_error(reconstruction[~switched_rows], reference["reconstruction"][~switched_rows]))
        close = (max(errors) <= TOLERANCE and not (switched & ~tie).any()
                 and switched_rows.float().mean() <= MAX_TIED_ROWS)
        failures += not close
        print(f"{entry['architecture']:<12} {entry['active_per_row']:6.2f} {errors[0]:9.1e} {errors[1]:9.1e} "
              f"{int(switched_rows.sum()):5d}  {'ok' if close else 'DIFFERENT'} {entry['sae']}")
    print(f"{failures} of {len(entries)} SAEs differ or fail to load")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
