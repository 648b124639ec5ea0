"""SAE architectures: losses as written in the papers, straight-through gradients,
decoder constraints, export with folded normalisation, and training."""

import json

import pytest
import torch

from conftest import schema_defaults
from factlens.sae.architectures import ARCHITECTURES, GatedSAE, JumpReLUSAE, ReLUSAE, TopKSAE
from factlens.sae.saving import activation_metadata, load_sae, save_sae
from factlens.sae.train import (SAETrainer, SAETrainingSettings, input_scale, load_checkpoint,
                                resample_dead_latents, train_sae, train_saes)

torch.manual_seed(0)
X = torch.randn(64, 6)


def randomised(sae):
    with torch.no_grad():
        for parameter in sae.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return sae


def test_relu_loss_is_reconstruction_plus_l1():
    sae = randomised(ReLUSAE(6, 10))
    f = torch.relu((X - sae.b_dec) @ sae.W_enc + sae.b_enc)
    x_hat = f @ sae.W_dec + sae.b_dec
    expected = ((X - x_hat) ** 2).sum(-1).mean() + 0.3 * f.abs().sum(-1).mean()
    loss, parts, latents = sae.loss(X, 0.3)
    assert torch.allclose(loss, expected)
    assert set(parts) == {"reconstruction", "sparsity"}
    # the encoder computes x W_enc + (b_enc - b_dec W_enc), which rounds differently from the
    # hand formula: a latent within rounding of 0 may be 0 in one and ~1e-7 in the other
    assert torch.equal(latents, sae.encode(X))
    assert torch.allclose(latents, f, atol=1e-6)


def test_gated_loss_and_frozen_decoder_in_auxiliary_term():
    sae = randomised(GatedSAE(6, 10))
    pre = (X - sae.b_dec) @ sae.W_enc
    pi_gate = pre + sae.b_gate
    pi_mag = (X - sae.b_dec) @ (sae.W_enc * sae.r_mag.exp()) + sae.b_mag
    f = (pi_gate > 0).float() * torch.relu(pi_mag)
    recon = ((X - (f @ sae.W_dec + sae.b_dec)) ** 2).sum(-1).mean()
    aux = ((X - (torch.relu(pi_gate) @ sae.W_dec + sae.b_dec)) ** 2).sum(-1).mean()
    loss, parts, latents = sae.loss(X, 0.5)
    assert torch.allclose(loss, recon + 0.5 * torch.relu(pi_gate).sum(-1).mean() + aux)
    # the training latents are the encoder's (the hand formula rounds differently, so a
    # gate within rounding of 0 may switch: compare with encode, not with f)
    assert torch.equal(latents, sae.encode(X))
    # the auxiliary term alone sends no gradient to the decoder
    parts["auxiliary"].backward()
    assert sae.W_dec.grad is None or torch.count_nonzero(sae.W_dec.grad) == 0
    assert sae.W_enc.grad is not None and sae.W_enc.grad.abs().sum() > 0


def test_gated_equals_jumprelu_with_derived_threshold():
    sae = randomised(GatedSAE(6, 10))
    with torch.no_grad():
        sae.b_gate.copy_(-torch.rand(10) * 0.2)  # so that theta > 0
        sae.b_mag.abs_()
    theta = sae.jumprelu_threshold()
    pi_mag = ((X - sae.b_dec) @ sae.W_enc) * sae.r_mag.exp() + sae.b_mag
    expected = pi_mag * (pi_mag > theta).float()
    assert (theta > 0).all()
    assert torch.allclose(sae.encode(X), expected, atol=1e-6)


def test_an_indicator_is_the_comparison_as_floats_without_gradient():
    from factlens.sae.base import indicator
    a = torch.randn(8, 5, requires_grad=True)
    b = torch.randn(5)
    for condition, expected in (("gt", a > b), ("lt", a < b)):
        mask = indicator(condition, a, b)
        assert mask.dtype == torch.float32 and not mask.requires_grad
        assert torch.equal(mask, expected.float())
    assert torch.equal(indicator("gt", a, 0.0), (a > 0).float())


def test_jumprelu_straight_through_gradients_follow_the_rectangle_kernel():
    eps = 0.1
    sae = JumpReLUSAE(1, 1, bandwidth=eps, threshold_init=0.5)
    with torch.no_grad():
        sae.W_enc.fill_(1.0)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    z = torch.tensor([[0.46], [0.54], [0.8], [0.2]])  # within, within, above, below kernel
    f = sae.encode(z)
    assert f.flatten().tolist() == pytest.approx([0.0, 0.54, 0.8, 0.0])
    f.sum().backward()
    # d/dtheta JumpReLU = -(theta/eps) K((z - theta)/eps): two points inside the kernel
    assert sae.threshold.grad.item() == pytest.approx(-2 * 0.5 / eps)
    sae.zero_grad()
    from factlens.sae.jumprelu import step
    step(sae.pre_activations(z), sae.threshold, eps).sum().backward()
    assert sae.threshold.grad.item() == pytest.approx(-2 / eps)
    assert sae.W_enc.grad.abs().sum() == 0  # H passes no gradient to z
    assert sae.threshold.dtype == torch.float32


def test_jumprelu_threshold_gradient_equals_the_kernel_formula_on_random_inputs():
    from factlens.sae.jumprelu import jumprelu_and_step
    generator = torch.Generator().manual_seed(0)
    eps = 0.05
    z = torch.randn(64, 16, generator=generator)
    theta = (torch.rand(16, generator=generator) * 0.5).requires_grad_()
    grad_f, grad_step = torch.randn(64, 16, generator=generator), torch.randn(64, 16, generator=generator)
    f, active = jumprelu_and_step(z, theta, eps)
    torch.autograd.backward([f, active], [grad_f, grad_step])
    # independent: K(u) = 1[|u| < 1/2] on u = (z - theta) / eps, summed over the batch
    kernel = (((z - theta.detach()) / eps).abs() < 0.5).float() / eps
    expected = -(kernel * (theta.detach() * grad_f + grad_step)).sum(0)
    assert kernel.sum() > 0  # some inputs fall inside the kernel
    torch.testing.assert_close(theta.grad, expected, rtol=1e-5, atol=1e-4)


def autograd_nodes(tensor):
    """The names of the autograd nodes that `tensor` was computed through."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("architecture, fused_node", [("standard", "_ReLUCodeDecodedBackward"),
                                                      ("gated", "_GatedCodeDecodedBackward")])
@pytest.mark.parametrize("tokens, d_in, d_sae, coefficient", [(512, 32, 128, 0.1), (64, 6, 10, 0.0)])
def test_the_fused_training_loss_is_the_plain_formula_bit_for_bit(architecture, fused_node, tokens, d_in,
                                                                  d_sae, coefficient):
    """The fused [tokens x latents] forward and hand-written backward give the loss, its
    parts, the code and every gradient that autograd gives on the plain formula, exactly."""
    import copy
    generator = torch.Generator().manual_seed(1)
    fused = ARCHITECTURES[architecture](d_in, d_sae)
    with torch.no_grad():
        for parameter in fused.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    plain = copy.deepcopy(fused)
    plain.fused_kernels = False
    x = torch.randn(tokens, d_in, generator=generator) / d_in ** 0.5
    results = {}
    for name, sae in (("fused", fused), ("plain", plain)):
        loss, parts, latents = sae.loss(x, coefficient)
        loss.backward()
        results[name] = loss, parts, latents, autograd_nodes(loss)
    assert fused_node in results["fused"][3] and fused_node not in results["plain"][3]
    assert 0 < torch.count_nonzero(results["fused"][2]) < results["fused"][2].numel()  # a sparse code
    assert torch.equal(results["fused"][0], results["plain"][0])
    assert all(torch.equal(results["fused"][1][key], results["plain"][1][key]) for key in results["plain"][1])
    assert torch.equal(results["fused"][2], results["plain"][2])
    for (name, parameter), other in zip(fused.named_parameters(), plain.parameters()):
        assert torch.equal(parameter.grad, other.grad), name


def test_the_fused_backward_passes_a_finite_difference_check():
    """The hand-written backward of the fused functions, in float64, against central
    differences (the gate's and ReLU's kinks are almost surely not within the step)."""
    from factlens.sae.gated import _GatedCodeDecoded
    from factlens.sae.relu import _ReLUCodeDecoded
    generator = torch.Generator().manual_seed(2)

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()

    x = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *p: _ReLUCodeDecoded.apply(x, *p)[:2],
                                    (rand(5, 12), rand(12), rand(12, 5)))
    gated = (rand(5, 12), rand(12), rand(12), rand(12), rand(12))
    W_dec = rand(12, 5)
    # f W_dec and the gate's L1 with respect to everything
    assert torch.autograd.gradcheck(lambda W, o, b_gate, s, b_mag, W_dec: [_GatedCodeDecoded.apply(
        x, W, o, b_gate, s.exp(), b_mag, W_dec)[i] for i in (0, 2)], (*gated, W_dec))
    # the frozen decode of the gate's activity: to the encoder only (W_dec is a constant there)
    assert torch.autograd.gradcheck(lambda W, o, b_gate, s, b_mag: _GatedCodeDecoded.apply(
        x, W, o, b_gate, s.exp(), b_mag, W_dec.detach())[1], gated)


def test_the_plain_formula_runs_under_autocast():
    sae = ReLUSAE(6, 10)
    assert sae.runs_fused_kernels(X)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not sae.runs_fused_kernels(X)
        loss, _, _ = sae.loss(X, 0.1)
    assert "_ReLUCodeDecodedBackward" not in autograd_nodes(loss)
    assert not sae.runs_fused_kernels(X[None])  # leading axes beyond the tokens


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_encoder_equals_the_papers_form_with_its_gradients(architecture):
    """x W_enc + (b_enc - b_dec W_enc), as computed, is (x - b_dec) W_enc + b_enc, values
    and gradients, for inputs with any leading axes."""
    options = {"k": 4} if architecture == "topk" else {}
    sae = randomised(ARCHITECTURES[architecture](6, 12, **options))
    x = torch.randn(3, 5, 6)
    bias = sae.b_enc if hasattr(sae, "b_enc") else sae.b_gate
    computed = sae.project(x, bias)
    computed.pow(2).sum().backward()
    grads = [p.grad.clone() for p in (sae.W_enc, sae.b_dec, bias)]
    sae.zero_grad()
    naive = (x - sae.b_dec) @ sae.W_enc + bias
    naive.pow(2).sum().backward()
    torch.testing.assert_close(computed, naive, rtol=1e-5, atol=1e-5)
    for grad, parameter in zip(grads, (sae.W_enc, sae.b_dec, bias)):
        torch.testing.assert_close(grad, parameter.grad, rtol=1e-4, atol=1e-5)


def test_topk_keeps_exactly_k_latents():
    sae = randomised(TopKSAE(6, 12, k=3))
    f = sae.encode(X)
    assert ((f > 0).sum(-1) <= 3).all() and ((f != 0).sum(-1) <= 3).all()
    with pytest.raises(ValueError, match="1 <= k <= d_sae"):
        TopKSAE(6, 4, k=5)


@pytest.mark.parametrize("k", [1, 3, 4, 12])
def test_a_top_k_code_decodes_as_its_dense_code_in_value_and_gradient(k):
    """48 latents: k <= 3 decode as a sum of decoder rows (embedding bag), k >= 4 through
    the dense code; both equal the dense code times the decoder, with the same gradients."""
    from factlens.sae.topk import SPARSE_DECODE_RATIO, decode_top_k, top_k
    assert SPARSE_DECODE_RATIO == 16
    generator = torch.Generator().manual_seed(k)
    rows = torch.randn(48, 6, generator=generator).requires_grad_()
    pre = torch.randn(32, 48, generator=generator).requires_grad_()
    upstream = torch.randn(32, 6, generator=generator)
    values, indices = top_k(pre, k)
    decode_top_k(values, indices, rows).backward(upstream)
    grads = rows.grad.clone(), pre.grad.clone()
    rows.grad, pre.grad = None, None
    # independent: keep each row's k largest pre-activations by sorting, then a dense matmul
    order = pre.detach().argsort(-1, descending=True)[:, :k]
    mask = torch.zeros(32, 48).scatter(-1, order, 1.0)
    dense = torch.relu(pre) * mask
    (dense @ rows).backward(upstream)
    torch.testing.assert_close(decode_top_k(*top_k(pre, k), rows), dense @ rows)
    torch.testing.assert_close(grads[0], rows.grad)
    torch.testing.assert_close(grads[1], pre.grad)


@pytest.mark.parametrize("d_sae", [12, 64])  # the dense and the row-sum decode (k * 16 <= d_sae)
def test_topk_auxiliary_loss_reconstructs_the_error_with_dead_latents_only(d_sae):
    sae = randomised(TopKSAE(6, d_sae, k=2, aux_k=3, dead_tokens=100))
    x = X[:4]  # 4 tokens x 2 active: at least 4 of the latents stay silent
    loss, parts, latents = sae.loss(x, 0.0)  # 4 tokens: nothing is dead yet
    assert parts["auxiliary"] == 0 and parts["dead_fraction"] == 0
    silent = ~(latents > 0).any(0)
    with torch.no_grad():
        sae.tokens_since_fired.fill_(1000)  # every latent dead, until it fires on the batch
    loss, parts, latents = sae.loss(x, 0.0)
    dead = silent
    assert dead.sum() >= 4 and torch.equal(sae.dead_latents(), dead)
    assert torch.equal(sae.tokens_since_fired[~dead], torch.zeros(int((~dead).sum()), dtype=torch.long))
    assert parts["dead_fraction"] == pytest.approx(dead.float().mean().item())
    # by hand: the top-3 pre-activations among the dead latents reconstruct x - x_hat
    pre = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    masked = pre.masked_fill(~dead, float("-inf"))
    values, indices = masked.topk(3, dim=-1)
    code = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))
    error = (x - (latents @ sae.W_dec + sae.b_dec)).detach()
    expected = (error - code @ sae.W_dec).pow(2).sum(-1).mean() / error.pow(2).sum(-1).mean()
    assert parts["auxiliary"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx((parts["reconstruction"] + parts["auxiliary"] / 32).item(), rel=1e-5)
    # its gradient reaches only the dead latents' encoder columns
    sae.zero_grad()
    parts["auxiliary"].backward()
    assert sae.W_enc.grad[:, ~dead].abs().sum() == 0 and sae.W_enc.grad[:, dead].abs().sum() > 0


def test_topk_auxiliary_loss_turns_a_dead_latent_towards_what_the_live_ones_miss():
    """Latents 0 and 1 reconstruct e1 and e2; every input also holds 0.5 e3, which no live
    latent reconstructs; latent 2 never wins the top-1 (its encoder reads 0.6 of e2). The
    auxiliary loss alone turns its decoder row towards e3."""
    sae = TopKSAE(4, 3, k=1, aux_k=1, dead_tokens=1)
    rows = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0.6, 0, 0.8]])
    with torch.no_grad():
        sae.W_dec.copy_(rows)
        sae.W_enc.copy_(rows.T)
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(256, 4)
    which = torch.rand(256, generator=generator) < 0.5
    x[which, 0], x[~which, 1] = 1.0, 1.0
    x[:, 2] = 0.5
    optimizer = torch.optim.Adam([sae.W_dec, sae.W_enc, sae.b_enc], lr=0.01)
    for _ in range(100):
        _, parts, latents = sae.loss(x, 0.0)
        assert not (latents[:, 2] > 0).any() and sae.dead_latents().tolist() == [False, False, True]
        optimizer.zero_grad()
        parts["auxiliary"].backward()
        sae.remove_parallel_decoder_gradient()
        optimizer.step()
        sae.normalise_decoder()
    assert rows[2, 2] == 0 and sae.W_dec[2, 2] > 0.7  # the row now points mostly along e3
    assert torch.equal(sae.W_dec[:2].detach(), rows[:2])  # the live latents' rows got no gradient


def test_a_sweep_trained_in_one_pass_equals_each_sae_trained_alone():
    """The one-pass trainer steps every SAE on the same batch: each SAE ends bit for bit
    where it would have trained alone on the same batches."""
    data = sparse_data()
    config = settings(steps=60, warmup_steps=10, log_every=10, resample_every=25)
    coefficients = (0.02, 0.05, 0.1)
    trainers = [SAETrainer(ReLUSAE(16, 48, seed=1), c, 3e-3, config) for c in coefficients]
    logs = train_saes(trainers, batches_of(data, 256), config, data[:1024])
    for coefficient, trainer, log in zip(coefficients, trainers, logs):
        alone = ReLUSAE(16, 48, seed=1)
        alone_log = train_sae(alone, batches_of(data, 256), coefficient, 3e-3, config, data[:1024])
        for name, value in alone.state_dict().items():
            assert torch.equal(value, trainer.sae.state_dict()[name]), (coefficient, name)
        assert log.equals(alone_log)
    assert logs[0]["l0"].iloc[-1] > logs[2]["l0"].iloc[-1]  # a larger coefficient, a sparser code


def test_the_sparsity_coefficient_warms_up_over_its_fraction_of_the_steps():
    class Recording(ReLUSAE):
        def loss(self, x, sparsity_coefficient):
            seen.append(sparsity_coefficient)
            return super().loss(x, sparsity_coefficient)

    seen = []
    data = sparse_data(n=512)
    train_sae(Recording(16, 32), batches_of(data, 64), 0.4, 1e-3,
              settings(steps=10, warmup_steps=1, sparsity_warmup_fraction=0.5), data)
    assert seen == pytest.approx([0.08, 0.16, 0.24, 0.32, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4])


def test_decoder_gradient_projection_and_renormalisation():
    sae = randomised(ReLUSAE(6, 10))
    sae.loss(X, 0.1)[0].backward()
    sae.remove_parallel_decoder_gradient()
    assert torch.allclose((sae.W_dec.grad * sae.W_dec).sum(-1), torch.zeros(10), atol=1e-6)
    sae.after_step()
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(10), atol=1e-6)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_saved_sae_reloads_to_identical_reconstructions(tmp_path, architecture):
    options = {"k": 4} if architecture == "topk" else {}
    sae = randomised(ARCHITECTURES[architecture](6, 12, **options))
    sae.input_scale.fill_(0.37)  # folded into the exported weights
    metadata = activation_metadata("EleutherAI/pythia-70m", "blocks.0.hook_resid_post", 128,
                                   "NeelNanda/pile-10k")
    save_sae(sae, tmp_path, metadata)
    loaded, config = load_sae(tmp_path)
    raw = 3 * X
    assert float(loaded.input_scale) == 1.0
    assert torch.allclose(loaded(raw), sae(raw), atol=1e-5)
    assert torch.allclose(loaded.features(raw), sae.features(raw), atol=1e-5)
    assert config["architecture"] == architecture and config["d_sae"] == 12
    assert config["metadata"] == json.loads(json.dumps(metadata))
    # SAELens 6 picks its cfg.json layout from this field (older layouts are converted)
    assert config["metadata"]["sae_lens_version"] == "6.0.0"
    assert config["metadata"]["sae_lens_training_version"] is None
    assert (tmp_path / "cfg.json").exists() and (tmp_path / "sae_weights.safetensors").exists()


def test_unknown_architecture_in_cfg_is_refused(tmp_path):
    save_sae(ReLUSAE(4, 8), tmp_path, activation_metadata("m", "h", 8, "corpus.txt"))
    config = (tmp_path / "cfg.json").read_text().replace('"standard"', '"mystery"')
    (tmp_path / "cfg.json").write_text(config)
    with pytest.raises(ValueError, match="unknown SAE architecture 'mystery'"):
        load_sae(tmp_path)


def settings(**overrides):
    return SAETrainingSettings(**{**schema_defaults("sae", "training"), **overrides})


def sparse_data(n=4096, d=16, m=32, active=3, seed=0):
    """Inputs that are sparse sums of `m` ground-truth unit directions."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(m, d, generator=generator)
    directions /= directions.norm(dim=-1, keepdim=True)
    codes = torch.zeros(n, m)
    chosen = torch.rand(n, m, generator=generator).argsort(-1)[:, :active]
    codes.scatter_(1, chosen, torch.rand(n, active, generator=generator) + 0.5)
    return 5 * codes @ directions


def batches_of(data, size):
    while True:
        yield from data.split(size)


@pytest.mark.parametrize("architecture, coefficient", [("standard", 0.05), ("gated", 0.1),
                                                       ("jumprelu", 0.01), ("topk", 0.0)])
def test_training_learns_a_sparse_code(architecture, coefficient):
    data = sparse_data()
    options = {"k": 3} if architecture == "topk" else {}
    sae = ARCHITECTURES[architecture](16, 48, **options)
    history = train_sae(sae, batches_of(data, 256), coefficient, 3e-3,
                        settings(steps=300, warmup_steps=10, log_every=50), data[:1024])
    assert sae.input_scale == pytest.approx(input_scale(data[:1024]))
    error = ((sae(data) - data) ** 2).sum(-1).mean() / (data - data.mean(0)).pow(2).sum(-1).mean()
    assert error < 0.35
    assert (sae.features(data) > 0).sum(-1).float().mean() < 16
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_resampling_revives_dead_latents_and_resets_adam_state():
    data = sparse_data()
    sae = ReLUSAE(16, 8)
    optimizer = torch.optim.Adam(sae.parameters())
    sae.loss(data[:64], 0.1)[0].backward()
    optimizer.step()
    dead = torch.zeros(8, dtype=torch.bool)
    dead[[1, 5]] = True
    count = resample_dead_latents(sae, optimizer, dead, data[:256], torch.Generator().manual_seed(0))
    assert count == 2
    assert torch.allclose(sae.W_dec[[1, 5]].norm(dim=-1), torch.ones(2))
    assert (sae.b_enc[[1, 5]] == 0).all()
    state = optimizer.state[sae.W_enc]
    assert (state["exp_avg"][:, [1, 5]] == 0).all() and (state["exp_avg"][:, 0] != 0).any()


@pytest.mark.parametrize("architecture", ["standard", "gated", "topk"])
def test_bf16_autocast_training_keeps_fp32_state_and_learns_the_same_code(architecture):
    """The GPU option `sae.training.autocast: bfloat16` (run here on the CPU, where torch
    supports bf16 autocast too): parameters stay fp32 and training reaches nearly the
    reconstruction error of full precision."""
    data = sparse_data()
    options = {"k": 3} if architecture == "topk" else {}
    coefficient = {"standard": 0.05, "gated": 0.1, "topk": 0.0}[architecture]
    errors = {}
    for autocast in ("none", "bfloat16"):
        sae = ARCHITECTURES[architecture](16, 48, **options)
        train_sae(sae, batches_of(data, 256), coefficient, 3e-3,
                  settings(steps=200, warmup_steps=10, log_every=50, autocast=autocast), data[:1024])
        assert all(p.dtype == torch.float32 for p in sae.parameters())
        with torch.no_grad():
            residual = (sae(data) - data).pow(2).sum(-1).mean()
        errors[autocast] = float(residual / (data - data.mean(0)).pow(2).sum(-1).mean())
    assert errors["bfloat16"] < 0.35
    assert errors["bfloat16"] == pytest.approx(errors["none"], abs=0.05)


@pytest.mark.parametrize("architecture", ["standard", "jumprelu"])
def test_training_resumed_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, architecture):
    """Weights, Adam, step, RNGs, dead-latent counts and the log survive a checkpoint:
    stopping after the checkpoint at step 60 and resuming gives the same SAE bit for bit
    (with dead-latent resampling on, which draws from the RNG)."""
    data = sparse_data()
    config = settings(steps=120, warmup_steps=10, log_every=10, resample_every=50,
                      checkpoint_every=30)
    coefficient = {"standard": 0.05, "jumprelu": 0.01}[architecture]

    def fresh():
        return ARCHITECTURES[architecture](16, 48, seed=3)

    reference = fresh()
    full_log = train_sae(reference, batches_of(data, 256), coefficient, 3e-3, config, data[:1024],
                         checkpoint=tmp_path / "reference.pt", run_id="run")

    class Interrupted(Exception):
        pass

    def stopping(batches, after):
        for index, batch in enumerate(batches):
            if index == after:
                raise Interrupted  # a kill between the checkpoints at 60 and 90
            yield batch

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupted):
        train_sae(fresh(), stopping(batches_of(data, 256), 75), coefficient, 3e-3, config,
                  data[:1024], checkpoint=checkpoint, run_id="run")
    state = load_checkpoint(checkpoint)
    assert state["step"] == 60 and state["run"] == "run"
    resumed = fresh()
    skipped = batches_of(data, 256)
    for _ in range(state["step"]):
        next(skipped)
    log = train_sae(resumed, skipped, coefficient, 3e-3, config, data[:1024],
                    checkpoint=checkpoint, resume=state, run_id="run")
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert log.equals(full_log)
