"""Activation caching: hook-point activations over a token stream, in fixed-size shards.

Layout of one store (one hook point, one split):

    store/
      manifest.json          model, hook, d, dtype, token count, shards + sha256
      shard_00000.safetensors  {"activations": [shard_tokens, d]}
      ...

The token stream (rows of packed documents, BOS and padding positions dropped) is
deterministic, so shard i always holds the same tokens: an interrupted run resumes
from the first missing shard, and a shard whose checksum does not match is recomputed,
never read. Reading is memory-mapped (safetensors) and streams shuffled batches with
bounded memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from factlens.io import atomic_path, sha256_file, write_json

log = logging.getLogger("factlens.sae.activations")

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
MANIFEST = "manifest.json"
# Written after every shard; the manifest itself appears only when the store is
# complete (a workflow manager may delete a declared output of an interrupted job,
# and this file must survive that so the next run can resume).
PROGRESS = "progress.json"


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.safetensors"


@dataclass(frozen=True)
class TokenStream:
    """Rows of token ids plus a mask of the positions whose activations are kept."""

    input_ids: torch.Tensor  # [rows, context]
    keep: torch.Tensor  # [rows, context] bool: not BOS, not padding

    @property
    def n_tokens(self) -> int:
        return int(self.keep.sum())

    def rows_for(self, start: int, stop: int) -> tuple[int, int, int]:
        """Rows covering kept tokens [start, stop), and the offset of `start` in them."""
        cumulative = self.keep.sum(-1).cumsum(0)
        first = int(torch.searchsorted(cumulative, torch.tensor(start), right=True))
        last = int(torch.searchsorted(cumulative, torch.tensor(stop - 1), right=True))
        before = int(cumulative[first - 1]) if first > 0 else 0
        return first, last + 1, start - before


def token_stream(tokenizer, documents: list[str], context_length: int,
                 max_tokens: int | None = None) -> TokenStream:
    """Pack BOS-prefixed documents into rows; BOS and padding positions are not kept."""
    from factlens.organism.training import pack_documents

    rows = pack_documents(tokenizer, documents, context_length)
    keep = rows != tokenizer.bos_token_id
    if tokenizer.pad_token_id is not None:
        keep &= rows != tokenizer.pad_token_id
    if max_tokens is not None:
        n_rows = int(torch.searchsorted(keep.sum(-1).cumsum(0), torch.tensor(max_tokens))) + 1
        rows, keep = rows[:n_rows], keep[:n_rows]
    return TokenStream(rows, keep)


def read_manifest(store: str | Path, name: str = MANIFEST) -> dict | None:
    path = Path(store) / name
    return json.loads(path.read_text()) if path.exists() else None


def valid_shards(store: Path, manifest: dict | None, expected: dict) -> dict[int, dict]:
    """Shards of an earlier (possibly interrupted) run that match this run and their checksum."""
    if manifest is None or any(manifest.get(k) != v for k, v in expected.items()):
        return {}
    good = {}
    for entry in manifest.get("shards", []):
        path = store / entry["file"]
        if path.exists() and sha256_file(path) == entry["sha256"]:
            good[entry["index"]] = entry
        else:
            log.warning("shard %s is missing or corrupt; it will be recomputed", entry["file"])
    return good


def remove_stale_temporaries(store: Path) -> list[str]:
    """Delete what a killed run left of atomic writes in `store` (hidden `.<name>.*`
    temporaries that were never renamed into place); returns their names."""
    stale = sorted(path for path in store.glob(".*") if path.is_file())
    for path in stale:
        log.warning("removing %s, left by an interrupted write", path.name)
        path.unlink()
    return [path.name for path in stale]


def cache_activations(run_rows: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                      stream: TokenStream, stores: dict[str, Path], description: dict,
                      shard_tokens: int, storage_dtype: str, batch_rows: int = 32,
                      progress: Callable | None = None) -> dict[str, dict]:
    """Cache each hook's activations over `stream` into its store, shard by shard.

    `run_rows(input_ids) -> {hook: [rows, context, d]}` runs the model once for all
    hooks. Returns the final manifest of each store.
    """
    dtype = STORAGE_DTYPES[storage_dtype]
    n_tokens = stream.n_tokens
    n_shards = -(-n_tokens // shard_tokens)
    expected = {**description, "n_tokens": n_tokens, "shard_tokens": shard_tokens,
                "dtype": storage_dtype}
    manifests, done = {}, {}
    for hook, store in stores.items():
        store.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(store)
        manifests[hook] = {**expected, "hook": hook, "complete": False,
                           "shards": []}
        earlier = read_manifest(store, PROGRESS) or read_manifest(store)
        done[hook] = valid_shards(store, earlier, {**expected, "hook": hook})
    indices = range(n_shards)
    for index in (progress(indices) if progress else indices):
        hooks_todo = [h for h in stores if index not in done[h]]
        if hooks_todo:
            start, stop = index * shard_tokens, min((index + 1) * shard_tokens, n_tokens)
            shard = _compute_shard(run_rows, stream, start, stop, hooks_todo, batch_rows)
            for hook in hooks_todo:
                path = stores[hook] / shard_name(index)
                with atomic_path(path) as temporary:
                    save_file({"activations": shard[hook].to(dtype).contiguous()}, str(temporary))
                done[hook][index] = {"index": index, "file": path.name,
                                     "tokens": stop - start, "sha256": sha256_file(path)}
        for hook in stores:
            manifests[hook]["shards"] = [done[hook][i] for i in sorted(done[hook])]
            write_json(manifests[hook], stores[hook] / PROGRESS)
    for hook, store in stores.items():
        manifests[hook]["d"] = _width(store, done[hook][0])
        manifests[hook]["complete"] = True
        write_json(manifests[hook], store / MANIFEST)
        (store / PROGRESS).unlink()
        listed = {entry["file"] for entry in manifests[hook]["shards"]}
        for stale in store.glob("shard_*.safetensors"):
            if stale.name not in listed:
                stale.unlink()
    return manifests


def _width(store: Path, entry: dict) -> int:
    with safe_open(str(store / entry["file"]), framework="pt") as handle:
        return handle.get_slice("activations").get_shape()[1]


@torch.no_grad()
def _compute_shard(run_rows, stream: TokenStream, start: int, stop: int, hooks: list[str],
                   batch_rows: int) -> dict[str, torch.Tensor]:
    first, last, offset = stream.rows_for(start, stop)
    pieces: dict[str, list[torch.Tensor]] = {hook: [] for hook in hooks}
    for row in range(first, last, batch_rows):
        ids = stream.input_ids[row: min(row + batch_rows, last)]
        keep = stream.keep[row: min(row + batch_rows, last)]
        outputs = run_rows(ids)
        for hook in hooks:
            pieces[hook].append(outputs[hook][keep.to(outputs[hook].device)].float().cpu())
    return {hook: torch.cat(parts)[offset: offset + stop - start] for hook, parts in pieces.items()}


class ActivationStore:
    """Read access to a complete store: memory-mapped shards, shuffled batches."""

    def __init__(self, store: str | Path, verify: bool = True):
        self.path = Path(store)
        manifest = read_manifest(self.path)
        if manifest is None or not manifest.get("complete"):
            raise ValueError(f"{self.path}: no complete activation store (missing or partial "
                             f"{MANIFEST}); rerun the caching rule")
        self.manifest = manifest
        if verify:
            for entry in manifest["shards"]:
                if sha256_file(self.path / entry["file"]) != entry["sha256"]:
                    raise ValueError(f"{self.path / entry['file']}: checksum mismatch; "
                                     "the shard is corrupt, rerun the caching rule")

    @property
    def d(self) -> int:
        return self.manifest["d"]

    @property
    def n_tokens(self) -> int:
        return self.manifest["n_tokens"]

    def shard(self, index: int) -> torch.Tensor:
        """One shard as float32 (memory-mapped read)."""
        entry = self.manifest["shards"][index]
        with safe_open(str(self.path / entry["file"]), framework="pt") as handle:
            return handle.get_tensor("activations").float()

    def all(self, max_tokens: int | None = None) -> torch.Tensor:
        """The first `max_tokens` activations (all by default), in stream order."""
        parts, total = [], 0
        for index in range(len(self.manifest["shards"])):
            if max_tokens is not None and total >= max_tokens:
                break
            parts.append(self.shard(index))
            total += len(parts[-1])
        return torch.cat(parts)[:max_tokens]

    def rows(self, index: np.ndarray) -> torch.Tensor:
        """The activations at (shard, row) pairs `index` [n, 2], in that order; each shard
        involved is read once."""
        out = torch.empty(len(index), self.d)
        for shard in np.unique(index[:, 0]):
            here = index[:, 0] == shard
            out[torch.from_numpy(here)] = self.shard(int(shard))[torch.from_numpy(index[here, 1])]
        return out

    def batches(self, batch_size: int, seed: int, buffer_shards: int = 4,
                epochs: int | None = None, skip: int = 0) -> Iterator[torch.Tensor]:
        """Shuffled batches: shard order shuffled per epoch, then tokens within a buffer
        of `buffer_shards` shards (memory bounded by the buffer, not the store).

        The shuffle is drawn over (shard, row) indices and depends only on the shard
        sizes, so the first `skip` batches are passed over without reading their shards:
        a resumed training run continues with exactly the batches it would have seen."""
        generator = np.random.default_rng(seed)
        sizes = [entry["tokens"] for entry in self.manifest["shards"]]
        epoch = 0
        while epochs is None or epoch < epochs:
            order = generator.permutation(len(sizes))
            leftover = np.empty((0, 2), dtype=np.int64)  # tokens carried into the next buffer
            for start in range(0, len(order), buffer_shards):
                index = np.concatenate([leftover] + [
                    np.stack([np.full(sizes[s], s), np.arange(sizes[s])], axis=1)
                    for s in order[start:start + buffer_shards]])
                index = index[generator.permutation(len(index))]
                n_batches = len(index) // batch_size
                if skip >= n_batches:
                    skip -= n_batches
                else:
                    yield from self.rows(index[skip * batch_size:n_batches * batch_size]).split(batch_size)
                    skip = 0
                leftover = index[n_batches * batch_size:]
            epoch += 1
