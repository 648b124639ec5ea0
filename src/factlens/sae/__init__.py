"""Sparse autoencoders: baseline ReLU, Gated, JumpReLU and TopK (docs/references.md §2-3);
their training (train), the activation stores they train on (activations, corpora), the
spliced-in evaluation (splicing, metrics), the Pareto comparisons (pareto), saving in
SAELens's format (saving), the convergence study and the SAE papers' claims."""
