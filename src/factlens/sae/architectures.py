"""The four architectures by the name configs and SAELens's cfg.json use."""

from __future__ import annotations

from factlens.sae.base import SparseAutoencoder
from factlens.sae.gated import GatedSAE
from factlens.sae.jumprelu import JumpReLUSAE
from factlens.sae.relu import ReLUSAE
from factlens.sae.topk import TopKSAE

ARCHITECTURES: dict[str, type[SparseAutoencoder]] = {
    cls.architecture: cls for cls in (ReLUSAE, GatedSAE, JumpReLUSAE, TopKSAE)
}

__all__ = ["ARCHITECTURES", "GatedSAE", "JumpReLUSAE", "ReLUSAE", "SparseAutoencoder", "TopKSAE"]
