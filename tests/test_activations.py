"""Activation caching: shards, manifest, resume after a kill, corrupt shards, reading."""

import json

import pytest
import torch

from factlens.sae.activations import (MANIFEST, PROGRESS, ActivationStore, TokenStream,
                                  cache_activations, sha256_file, token_stream)
from factlens.loading import load_model
from factlens.pipeline.stages.cache_activations import layers_needed, model_runner


def fake_stream(rows=12, context=8, bos=0):
    ids = torch.arange(rows * context).view(rows, context) % 50 + 1
    ids[:, 0] = bos  # every row starts with BOS, which is excluded
    return TokenStream(ids, ids != bos)


def fake_model(input_ids):
    """Activations that encode the token id, so shards can be checked exactly."""
    x = input_ids.float().unsqueeze(-1)
    return {"a": torch.cat([x, 2 * x], -1), "b": x.repeat(1, 1, 3)}


def expected_activations(stream, hook):
    return fake_model(stream.input_ids)[hook][stream.keep]


def test_token_stream_excludes_bos_and_padding(tiny_tokenizer, tiny_world):
    stream = token_stream(tiny_tokenizer, tiny_world[2], context_length=16)
    assert not (stream.input_ids[stream.keep] == tiny_tokenizer.bos_token_id).any()
    assert (stream.input_ids == tiny_tokenizer.bos_token_id).any()
    capped = token_stream(tiny_tokenizer, tiny_world[2], context_length=16, max_tokens=100)
    assert 100 <= capped.n_tokens < 100 + 16


def test_rows_for_locates_token_ranges():
    stream = fake_stream()  # 7 kept tokens per row
    first, last, offset = stream.rows_for(10, 20)
    assert (first, last, offset) == (1, 3, 3)


def test_shards_hold_the_stream_in_order_with_checksums(tmp_path):
    stream = fake_stream()
    stores = {"a": tmp_path / "a", "b": tmp_path / "b"}
    manifests = cache_activations(fake_model, stream, stores, {"model": "fake"}, shard_tokens=10,
                                  storage_dtype="float32", batch_rows=5)
    assert manifests["a"]["n_tokens"] == 84 and len(manifests["a"]["shards"]) == 9
    for hook, folder in stores.items():
        manifest = json.loads((folder / MANIFEST).read_text())
        assert manifest["complete"] and not (folder / PROGRESS).exists()
        store = ActivationStore(folder)
        assert torch.equal(store.all(), expected_activations(stream, hook))
        assert store.d == {"a": 2, "b": 3}[hook]
        for entry in manifest["shards"]:
            assert sha256_file(folder / entry["file"]) == entry["sha256"]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_storage_dtype_is_honoured(tmp_path, dtype):
    stream = fake_stream()
    cache_activations(fake_model, stream, {"a": tmp_path}, {}, 16, dtype)
    store = ActivationStore(tmp_path)
    assert store.manifest["dtype"] == dtype
    assert torch.allclose(store.all(), expected_activations(stream, "a"), rtol=1e-2)


def test_interrupted_run_resumes_and_corrupt_shard_is_recomputed(tmp_path):
    stream = fake_stream()
    calls = []

    def killed_after_three_shards(ids):
        if len(calls) >= 3:
            raise KeyboardInterrupt("killed")
        calls.append(len(ids))
        return fake_model(ids)

    with pytest.raises(KeyboardInterrupt):
        cache_activations(killed_after_three_shards, stream, {"a": tmp_path}, {}, 20, "float32",
                          batch_rows=100)
    assert not (tmp_path / MANIFEST).exists()  # an interrupted store is never "complete"
    progress = json.loads((tmp_path / PROGRESS).read_text())
    assert len(progress["shards"]) == 3
    # corrupt one finished shard: it must be recomputed, not read
    (tmp_path / "shard_00001.safetensors").write_bytes(b"garbage")
    # a SIGKILL between creating a temporary and renaming it leaves it behind
    (tmp_path / f".{PROGRESS}.x0drqaqn").write_bytes(b"")
    (tmp_path / ".shard_00003.safetensors.k2v9").write_bytes(b"partial")

    recomputed = []

    def counting(ids):
        recomputed.append(len(ids))
        return fake_model(ids)

    cache_activations(counting, stream, {"a": tmp_path}, {}, 20, "float32", batch_rows=100)
    assert len(recomputed) == 5 - 2  # shards 1, 3, 4; shards 0 and 2 were reused
    assert torch.equal(ActivationStore(tmp_path).all(), expected_activations(stream, "a"))
    assert not list(tmp_path.glob(".*"))  # the leftover temporaries are gone


def test_reader_refuses_incomplete_or_corrupt_stores(tmp_path):
    with pytest.raises(ValueError, match="no complete activation store"):
        ActivationStore(tmp_path)
    cache_activations(fake_model, fake_stream(), {"a": tmp_path}, {}, 20, "float32")
    shard = tmp_path / "shard_00000.safetensors"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(ValueError, match="checksum mismatch"):
        ActivationStore(tmp_path)


def test_shuffled_batches_cover_every_token_once_per_epoch_and_are_seeded(tmp_path):
    stream = fake_stream(rows=30)
    cache_activations(fake_model, stream, {"a": tmp_path}, {}, 16, "float32")
    store = ActivationStore(tmp_path)
    batches = list(store.batches(batch_size=8, seed=3, buffer_shards=2, epochs=1))
    seen = torch.cat(batches)
    assert all(len(b) == 8 for b in batches)
    assert len(seen) > store.n_tokens - 8 * 2  # only a remainder may be left out
    assert not torch.equal(seen, store.all()[: len(seen)])  # shuffled
    again = torch.cat(list(store.batches(batch_size=8, seed=3, buffer_shards=2, epochs=1)))
    assert torch.equal(seen, again)
    counts = torch.unique(seen[:, 0], return_counts=True)[1]
    expected = torch.unique(store.all()[:, 0], return_counts=True)[1]
    assert counts.sum() <= expected.sum()


def test_model_runner_stops_early_and_matches_run_with_cache(tiny_model_dirs, tiny_tokenizer):
    model, _ = load_model(str(tiny_model_dirs["gpt_neox"]), device="cpu")
    hooks = ["blocks.0.hook_resid_post", "blocks.0.mlp.hook_post"]
    assert layers_needed(hooks) == 1 and layers_needed(["hook_embed"]) is None
    ids = torch.randint(0, len(tiny_tokenizer), (2, 12))
    captured = model_runner(model, hooks)(ids)
    _, cache = model.run_with_cache(ids)
    for hook in hooks:
        assert torch.allclose(captured[hook], cache[hook], atol=1e-6)
