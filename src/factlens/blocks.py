"""Which residual stream an MLP reads, in either block type.

In a parallel block (Pythia, GPT-NeoX's default) attention and MLP both read the
residual stream before the block, `blocks.L.hook_resid_pre`, so MLP0 sees only the
current token. In a sequential block (GPT-2; the organism's default) MLP L reads the
residual after attention L, `blocks.L.hook_resid_mid`.

TransformerLens's bridge feeds a patch of `hook_resid_mid` to the MLP alone: the
residual stream passed on to the next block is computed from the block's input and
attention output, not from that hook (tests/test_blocks.py). Patching the residual
stream *at* the MLP's input therefore means patching the block's input and its
attention output together, at the same positions; `patch_hooks` says so, and every
patching function here uses it.
"""

from __future__ import annotations

RESID_MID = "hook_resid_mid"


def is_parallel(model) -> bool:
    """Whether the model's blocks are parallel (attention and MLP read the same residual)."""
    return bool(model.cfg.parallel_attn_mlp)


def mlp_input(layer: int, parallel: bool) -> str:
    """The hook at which MLP `layer` reads the residual stream, as `residual_hooks` names
    it: in a parallel block the previous block's output (the same tensor as this block's
    `hook_resid_pre`), the embedding output for block 0."""
    if not parallel:
        return f"blocks.{layer}.{RESID_MID}"
    return "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


def residual_hooks(n_layers: int, parallel: bool) -> list[str]:
    """The residual stream in the order a token's computation passes it: the embedding
    output, then per block the MLP's input (sequential blocks only) and the block's output."""
    hooks = ["blocks.0.hook_resid_pre"]
    for layer in range(n_layers):
        if not parallel:
            hooks.append(mlp_input(layer, parallel))
        hooks.append(f"blocks.{layer}.hook_resid_post")
    return hooks


def patch_hooks(hook: str) -> list[str]:
    """The hooks to patch together so that `hook`'s residual stream is replaced for
    everything downstream (see the module docstring)."""
    if hook.endswith(RESID_MID):
        block = hook[: -len(RESID_MID)]
        return [f"{block}hook_resid_pre", f"{block}hook_attn_out"]
    return [hook]


def parallel_from_hooks(hooks) -> bool:
    """The block type a table of residual hooks was measured on: sequential iff it
    names a `hook_resid_mid`."""
    return not any(str(hook).endswith(RESID_MID) for hook in hooks)


def short_name(hook: str) -> str:
    """'blocks.2.hook_resid_mid' -> 'resid_mid 2'; the embedding output is 'embed'."""
    if hook == "blocks.0.hook_resid_pre":
        return "embed"
    _, layer, name = hook.split(".", 2)
    return f"{name.removeprefix('hook_')} {layer}"
