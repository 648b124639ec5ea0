"""factlens: a reproducible replication of fact finding, Gated/JumpReLU SAEs and the
interpretability-illusion checks, as one Snakemake workflow."""

__version__ = "0.1.0"
