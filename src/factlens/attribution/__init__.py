"""Attributions through SAE latents: activation patching, attribution patching and
integrated gradients, the jump term and exact step at JumpReLU crossings (methods), and
the claims about them."""
