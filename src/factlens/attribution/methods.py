"""Gradient attributions vs activation patching, and the JumpReLU blind spot
(docs/references.md §5).

Two SAEs are spliced into the model with their error terms held at the clean run's
values, so the spliced model's output equals the original one: an upstream SAE whose
latents at the final name token are the nodes, and a downstream SAE (ReLU or
JumpReLU) through which their effect must pass. With clean latents c, corrupt latents
c' (Delta = c' - c) and the metric M (logit difference):

    AP_j   = M(c with c_j = c'_j) - M(c)
    AtP_j  = Delta_j * dM/df_j at c
    IG_j^N = Delta_j * trapezoid mean over alpha = 0, 1/N, ..., 1 of dM/df_j(c + alpha Delta)

Along the *joint* path every upstream latent moves at once (Marks et al. 2024, as
practised); a *single-node* path moves only latent j (a sanity check: through a ReLU
it equals AP_j by the fundamental theorem of calculus). Summed over all latents, joint
IG is complete: sum_j IG_j -> M(c') - M(c) for a continuous M. A JumpReLU downstream
is not continuous: where its pre-activation z_i crosses theta_i along the path, M
jumps, and autograd sees nothing of it. Each crossing is located by bisection; the
jump term adds +-theta_i * dM/df_i there (the step the gradient misses, to first
order), and the exact step M(after) - M(before) is kept beside it, so the residual
error splits into quadrature, linearisation and crossings missed by the grid. A
crossing's jump is shared among the upstream latents by their share of dz_i/dalpha
= sum_j Delta_j dz_i/df_j.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from factlens.facts.prompts import forward_logits
from factlens.statistics import bootstrap_ratio


@dataclass
class Splice:
    """The clean run's values that stay fixed while the nodes vary."""

    up_features: torch.Tensor  # [rows, latents] at the final name token
    up_error: torch.Tensor  # [rows, d_up]
    down_error: torch.Tensor | None  # [rows, seq, d_down]; None: no downstream SAE


def threshold(sae) -> torch.Tensor:
    """theta of a JumpReLU SAE; zeros (a ReLU's kink, no jump) for other SAEs."""
    return sae.threshold.detach() if hasattr(sae, "threshold") else torch.zeros(sae.d_sae)


class SplicedModel:
    """M(upstream latents) through the model with the SAEs spliced in (downstream
    optional: without it, M is the model's own metric given the upstream latents)."""

    def __init__(self, model, prompts, up_hook: str, up_sae, down_hook: str | None, down_sae,
                 good: torch.Tensor, bad: torch.Tensor):
        self.model, self.prompts = model, prompts
        self.up_hook, self.up_sae = up_hook, up_sae
        self.down_hook, self.down_sae = down_hook, down_sae
        self.good, self.bad = good, bad
        seq = prompts.input_ids.shape[1]
        self.down_mask = torch.arange(seq)[None, :] >= prompts.position[:, None]
        self.splice = self._clean_splice()

    @property
    def rows(self) -> torch.Tensor:
        return torch.arange(len(self.prompts.input_ids))

    def select(self, rows: torch.Tensor) -> "SplicedModel":
        """The same spliced model on a subset of its rows (repeats allowed)."""
        part = object.__new__(SplicedModel)
        part.__dict__.update(self.__dict__)
        part.prompts, part.good, part.bad = self.prompts.rows(rows), self.good[rows], self.bad[rows]
        part.down_mask = self.down_mask[rows]
        down_error = None if self.splice.down_error is None else self.splice.down_error[rows]
        part.splice = Splice(self.splice.up_features[rows], self.splice.up_error[rows], down_error)
        return part

    def _forward(self, hooks):
        logits = forward_logits(self.model, self.prompts.input_ids, self.prompts.attention_mask,
                                hooks)[:, -1].float()
        return logits[self.rows, self.good] - logits[self.rows, self.bad]

    @torch.no_grad()
    def _clean_splice(self) -> Splice:
        captured = {}

        def grab(name):
            def hook_fn(activation, hook=None):
                captured[name] = activation.detach().clone()
            return hook_fn

        hooks = [(self.up_hook, grab("up"))]
        if self.down_sae is not None:
            hooks.append((self.down_hook, grab("down")))
        self._forward(hooks)
        up = captured["up"][self.rows, self.prompts.position]
        features = self.up_sae.features(up)
        down_error = None
        if self.down_sae is not None:
            down = captured["down"]
            down_error = down - self.down_sae.decode(self.down_sae.features(down))
        return Splice(features, up - self.up_sae.decode(features), down_error)

    def upstream_features(self, other_prompts) -> torch.Tensor:
        """Upstream latents of other prompts at their final name token (e.g. the corrupt run)."""
        captured = {}

        def grab(activation, hook=None):
            captured["up"] = activation.detach()

        with torch.no_grad():
            forward_logits(self.model, other_prompts.input_ids, other_prompts.attention_mask,
                           [(self.up_hook, grab)])
        return self.up_sae.features(captured["up"][self.rows, other_prompts.position])

    def run(self, features: torch.Tensor, capture: bool = False):
        """M per row for upstream latents `features`; with `capture`, also the downstream
        latents and pre-activations (attached to the graph)."""
        store = {}

        def up_hook(activation, hook=None):
            value = self.up_sae.decode(features) + self.splice.up_error
            return activation.index_put((self.rows, self.prompts.position), value.to(activation.dtype))

        def down_hook(activation, hook=None):
            pre = self.down_sae.pre_activations(activation)
            down_features = self.down_sae.features(activation)
            store.update(pre=pre, features=down_features)
            value = self.down_sae.decode(down_features) + self.splice.down_error
            return torch.where(self.down_mask[..., None], value.to(activation.dtype), activation)

        hooks = [(self.up_hook, up_hook)]
        if self.down_sae is not None:
            hooks.append((self.down_hook, down_hook))
        metric = self._forward(hooks)
        return (metric, store) if capture else metric


def chunked_metric(spliced: SplicedModel, rows: torch.Tensor, features: torch.Tensor,
                   chunk: int = 1024) -> torch.Tensor:
    """M for many (row, upstream latents) instances, `chunk` prompts per forward pass."""
    with torch.no_grad():
        return torch.cat([spliced.select(rows[i:i + chunk]).run(features[i:i + chunk])
                          for i in range(0, len(rows), chunk)])


def activation_patching(spliced: SplicedModel, corrupt_features: torch.Tensor,
                        latents: list[int]) -> torch.Tensor:
    """AP of each latent in `latents`: [rows, len(latents)]."""
    clean = spliced.splice.up_features
    rows = spliced.rows.repeat(len(latents))
    columns = torch.tensor(latents).repeat_interleave(len(clean))
    patched = clean[rows].clone()
    patched[torch.arange(len(rows)), columns] = corrupt_features[rows, columns]
    effect = chunked_metric(spliced, rows, patched) - spliced.run(clean).detach()[rows]
    return effect.view(len(latents), len(clean)).T


def attribution_patching(spliced: SplicedModel, corrupt_features: torch.Tensor) -> torch.Tensor:
    """AtP for every upstream latent: [rows, latents]."""
    features = spliced.splice.up_features.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(spliced.run(features).sum(), features)
    return (corrupt_features - spliced.splice.up_features) * gradient


@dataclass
class PathAttribution:
    """Attributions along the straight path clean -> clean + delta, [rows, latents]."""

    ig: dict[int, torch.Tensor]  # step count N -> IG^N
    jump: torch.Tensor  # +-theta dM/df at each located crossing, shared among the latents
    step: torch.Tensor  # the exact step M(after) - M(before) at each crossing, shared alike
    crossings: torch.Tensor  # [rows] thresholds crossed along the path


def path_attributions(spliced: SplicedModel, delta: torch.Tensor, steps=(8, 32, 128),
                      bisections: int = 12) -> PathAttribution:
    """IG^N for every N in `steps` (each dividing the largest, so one pass of the finest
    grid serves all) and the jump terms at the threshold crossings along the path."""
    finest = max(steps)
    if any(finest % n for n in steps):
        raise ValueError(f"every step count must divide the largest: {steps}")
    clean = spliced.splice.up_features
    theta = threshold(spliced.down_sae)
    sums = {n: torch.zeros_like(clean) for n in steps}
    found, previous = [], None
    for k in range(finest + 1):
        features = (clean + k / finest * delta).requires_grad_(True)
        metric, store = spliced.run(features, capture=True)
        (gradient,) = torch.autograd.grad(metric.sum(), features)
        for n in steps:
            if k % (finest // n) == 0:
                sums[n] += (0.5 if k in (0, finest) else 1.0) * gradient / n
        active = (store["pre"].detach() > theta) & spliced.down_mask[..., None]
        if previous is not None:
            switched = (active != previous).nonzero()
            found.append(torch.cat([switched, torch.full((len(switched), 1), k - 1),
                                    previous[tuple(switched.T)][:, None].long()], 1))
        previous = active
    instances = torch.cat(found) if found else torch.zeros(0, 5, dtype=torch.long)
    if bool((theta > 0).any()):
        jump, step = crossing_terms(spliced, delta, instances, finest, bisections)
    else:  # a ReLU is continuous: its kinks have no jump to locate
        jump, step = torch.zeros_like(delta), torch.zeros_like(delta)
    crossings = torch.bincount(instances[:, 0], minlength=len(clean))
    return PathAttribution({n: delta * sums[n] for n in steps}, jump, step, crossings)


def crossing_terms(spliced: SplicedModel, delta: torch.Tensor, instances: torch.Tensor,
                   finest: int, bisections: int, chunk: int = 512):
    """Jump terms of threshold crossings (row, position, latent, segment, active before),
    each located by bisection inside its grid segment, shared among the upstream latents."""
    jump, step = torch.zeros_like(delta), torch.zeros_like(delta)
    theta = threshold(spliced.down_sae)
    for start in range(0, len(instances), chunk):
        row, position, latent, segment, was_active = instances[start:start + chunk].T
        part = spliced.select(row)
        clean, direction = part.splice.up_features, delta[row]
        index = torch.arange(len(row))
        low = segment.double() / finest
        high = (segment.double() + 1) / finest

        def pre_at(alpha, need_grad=False):
            features = (clean + alpha.float()[:, None] * direction).requires_grad_(need_grad)
            with torch.set_grad_enabled(need_grad):
                metric, store = part.run(features, capture=True)
            return features, metric, store, store["pre"][index, position, latent]

        for _ in range(bisections):
            middle = (low + high) / 2
            with torch.no_grad():
                same = (pre_at(middle)[3] > theta[latent]) == was_active.bool()
            low, high = torch.where(same, middle, low), torch.where(same, high, middle)
        with torch.no_grad():
            before, after = pre_at(low)[1], pre_at(high)[1]
        features, metric, store, pre = pre_at(high, need_grad=True)
        down_gradient, = torch.autograd.grad(metric.sum(), store["features"], retain_graph=True)
        pre_gradient, = torch.autograd.grad(pre.sum(), features)
        sign = 1.0 - 2.0 * was_active.float()  # switching on: +theta; switching off: -theta
        linear = sign * theta[latent] * down_gradient[index, position, latent]
        share = direction * pre_gradient  # sums to dz/dalpha by the chain rule
        total = share.sum(1, keepdim=True)
        share = share / torch.where(total.abs() > 1e-12, total, torch.ones_like(total))
        jump.index_add_(0, row, linear[:, None] * share)
        step.index_add_(0, row, (after - before)[:, None] * share)
    return jump, step


def single_node_paths(spliced: SplicedModel, delta: torch.Tensor, nodes: list[int],
                      steps: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(IG, IG + jump term, crossings) of each node along its own path, [rows, nodes].
    All (row, node) paths where the node moves run as one batch; the others are 0."""
    rows, columns = (delta[:, nodes] != 0).nonzero(as_tuple=True)
    own = torch.zeros(len(rows), delta.shape[1])
    own[torch.arange(len(rows)), torch.tensor(nodes)[columns]] = delta[rows, torch.tensor(nodes)[columns]]
    ig, ig_jump, crossings = (torch.zeros(len(delta), len(nodes)) for _ in range(3))
    if len(rows):
        path = path_attributions(spliced.select(rows), own, (steps,))
        moved = own != 0
        ig[rows, columns] = path.ig[steps][moved]
        ig_jump[rows, columns] = (path.ig[steps] + path.jump)[moved]
        crossings[rows, columns] = path.crossings.float()
    return ig, ig_jump, crossings.long()


def choose_nodes(ap: torch.Tensor, candidates: list[int], top: int, random: int,
                 seed: int) -> list[int]:
    """The `top` candidates with the largest mean |AP| plus `random` others that move."""
    score = ap.abs().mean(0)
    ranked = [candidates[i] for i in score.argsort(descending=True).tolist() if score[i] > 0]
    generator = np.random.default_rng(seed)
    rest = ranked[top:]
    extra = generator.choice(rest, min(random, len(rest)), replace=False).tolist() if rest else []
    return ranked[:top] + sorted(int(j) for j in extra)


def relative_mae(estimate, truth) -> float:
    """mean |estimate - truth| / mean |truth|."""
    return float(np.abs(np.asarray(estimate) - np.asarray(truth)).mean() / np.abs(truth).mean())


def compare_methods(frame: pd.DataFrame, methods: list[str], top_k: int = 10,
                    unit: str = "pair", resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Agreement of each estimate with AP (column `ap`): Pearson, Spearman, relative MAE
    with a bootstrap 95% interval over `unit`, sign agreement and top-k recall, overall
    and by whether thresholds were crossed (column `crossings`)."""
    rows = []
    strata = {"all": frame, "no crossing": frame[frame.crossings == 0],
              "crossings": frame[frame.crossings > 0]}
    for stratum, part in strata.items():
        if len(part) < 3:
            continue
        truth = part["ap"]
        truly_top = set(truth.abs().nlargest(min(top_k, len(part))).index)
        for method in methods:
            estimate = part[method]
            moving = truth.abs() > 1e-6
            error = (estimate - truth).abs().groupby(part[unit]).sum()
            scale = truth.abs().groupby(part[unit]).sum()
            low, high = bootstrap_ratio(error.to_numpy(), scale.to_numpy(), resamples, seed)
            rows.append({
                "stratum": stratum, "method": method, "entries": len(part),
                "pearson": truth.corr(estimate), "spearman": truth.corr(estimate, method="spearman"),
                "relative_mae": relative_mae(estimate, truth), "relative_mae_low": low,
                "relative_mae_high": high,
                "sign_agreement": float((np.sign(estimate[moving]) == np.sign(truth[moving])).mean()),
                "top_k_recall": len(truly_top & set(estimate.abs().nlargest(len(truly_top)).index))
                / len(truly_top),
            })
    return pd.DataFrame(rows)

