"""What every sparse autoencoder shares: the decoder, input normalisation, export.

Notation as in docs/references.md §2: input x in R^n, M latents, W_enc (n x M), W_dec (M x n)
with unit-norm rows, b_dec in R^n. SAEs train on inputs scaled by `input_scale` so
that E||x||^2 = 1; `folded_state_dict` folds that scale into the weights, so the
exported SAE works on raw activations.
"""

from __future__ import annotations

import abc

import torch
from torch import nn


def latent_gradient(grad_decoded: torch.Tensor | None, W_dec: torch.Tensor,
                    grad_sum: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """The gradient reaching a [tokens x latents] code that was decoded by W_dec and summed
    over latents, from those outputs' gradients: grad_decoded W_dec^T + grad_sum (one value
    per token, broadcast over latents). A new tensor, which the caller may update in place."""
    gradient = grad_decoded.mm(W_dec.t()) if grad_decoded is not None else torch.zeros_like(like)
    if grad_sum is not None:
        gradient += grad_sum[:, None]
    return gradient


def weight_gradient(inputs: torch.Tensor, grad_output: torch.Tensor, column_major: bool) -> torch.Tensor:
    """inputs^T grad_output, the gradient of the weight W in inputs W, computed as autograd's
    matmul backward computes it for W's memory layout: (grad_output^T inputs)^T when W is
    column-major (W_enc, initialised as W_dec^T, is), else inputs^T grad_output. The two
    products sum in different orders on some CPUs and shapes (an AMD EPYC at 64 x 6 x 10)."""
    return grad_output.t().mm(inputs).t() if column_major else inputs.t().mm(grad_output)


def is_column_major(matrix: torch.Tensor) -> bool:
    """Whether a 2-D tensor is stored column by column (as autograd's matmul backward tests)."""
    return matrix.stride(0) == 1 and matrix.stride(1) == matrix.shape[0]


def relu_backward_(gradient: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """ReLU's backward in place: zero `gradient` where the ReLU's `output` is 0 (autograd's
    own kernel for it, written into its input instead of a new tensor)."""
    return torch.ops.aten.threshold_backward.grad_input(gradient, output, 0.0, grad_input=gradient)


def indicator(condition: str, a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """1.0 where `a <condition> b` ("gt" or "lt") and 0.0 elsewhere, as a float tensor without
    gradient. Written straight into a float tensor, a comparison costs a third of the
    bool comparison plus conversion, and multiplying by it a tenth of a `torch.where`,
    on the [batch x latents] tensors of a CPU step (`bench/sae_step.py --kernels`)."""
    a = a.detach()
    return getattr(torch, condition)(a, b, out=torch.empty_like(a))


class SparseAutoencoder(nn.Module, abc.ABC):
    """Base class: subclasses define `encode` and `loss`; decoding is shared."""

    architecture = "base"
    # Parameters that multiply the (scaled) input; folding multiplies them by the scale.
    input_weights = ("W_enc",)
    # The ReLU and Gated training losses run their [tokens x latents] part (encode, decode,
    # sparsity sum) as one autograd function with a hand-written backward that updates its
    # own buffers in place: the same ATen operations on the same operands as autograd runs
    # on the plain formula, so the same numbers bit for bit (tests/test_sae.py), with fewer
    # passes over memory (docs/benchmarks.md). False, or autocast, or inputs with more than
    # one leading axis: the plain formula.
    fused_kernels = True

    def runs_fused_kernels(self, x: torch.Tensor) -> bool:
        return self.fused_kernels and x.dim() == 2 and not torch.is_autocast_enabled(x.device.type)

    def __init__(self, d_in: int, d_sae: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        # Decoder rows: random unit directions; encoder starts as the decoder's transpose.
        W_dec = torch.randn(d_sae, d_in, generator=generator)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("input_scale", torch.tensor(1.0))

    @property
    def d_in(self) -> int:
        return self.W_dec.shape[1]

    @property
    def d_sae(self) -> int:
        return self.W_dec.shape[0]

    def project(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """(x - b_dec) W_enc (+ bias), on scaled inputs.

        Computed as x W_enc + (bias - b_dec W_enc): the batch x carries no gradient, so
        b_dec's gradient is a vector-matrix product instead of the batch-sized matmul
        that differentiating through (x - b_dec) costs (one of six in a step)."""
        rows = x.reshape(-1, x.shape[-1])  # any leading axes (batch, position)
        projected = torch.addmm(self.encoder_offset(bias), rows, self.W_enc)
        return projected.reshape(*x.shape[:-1], -1)

    def encoder_offset(self, bias: torch.Tensor | None = None) -> torch.Tensor:
        """bias - b_dec W_enc: what `project` adds to x W_enc."""
        offset = -(self.b_dec @ self.W_enc)
        return offset if bias is None else offset + bias

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """(x - b_dec) W_enc + b_enc, on scaled inputs."""
        return self.project(x, self.b_enc)

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations f of scaled inputs."""

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct raw activations (scaling in and out is internal)."""
        scaled = x * self.input_scale
        return self.decode(self.encode(scaled)) / self.input_scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations of raw inputs."""
        return self.encode(x * self.input_scale)

    @abc.abstractmethod
    def loss(self, x: torch.Tensor, sparsity_coefficient: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Training loss on scaled inputs, its parts for logging, and the latent
        activations f of the batch (the trainer counts firing latents from them)."""

    @staticmethod
    def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of ||x - x_hat||^2 (inputs have E||x||^2 = 1)."""
        return (x - x_hat).pow(2).sum(-1).mean()

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Project W_dec's rows back onto the unit sphere."""
        self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def remove_parallel_decoder_gradient(self) -> None:
        """Drop the gradient component along each decoder row (it would only change the norm)."""
        if self.W_dec.grad is None:
            return
        rows = self.W_dec
        parallel = (self.W_dec.grad * rows).sum(-1, keepdim=True) / rows.pow(2).sum(-1, keepdim=True)
        self.W_dec.grad -= parallel * rows

    def after_step(self) -> None:
        """Constraints applied after every optimiser step."""
        self.normalise_decoder()

    def latent_axis(self, name: str) -> int | None:
        """Which axis of parameter `name` indexes latents (None: not per latent)."""
        return {"W_enc": 1, "W_dec": 0, "b_dec": None}.get(name, 0)

    def extra_config(self) -> dict:
        """Architecture-specific entries for cfg.json."""
        return {}

    @torch.no_grad()
    def folded_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights acting on raw activations: the input scale s folded in.

        encode(s x) with (s x - b_dec) W + b = (x - b_dec / s)(s W) + b, and
        x_hat = decode(f) / s = f (W_dec / s) + b_dec / s.
        """
        s = self.input_scale
        state = {name: p.detach().clone() for name, p in self.named_parameters()}
        for name in self.input_weights:
            state[name] = state[name] * s
        state["W_dec"] = state["W_dec"] / s
        state["b_dec"] = state["b_dec"] / s
        return state
