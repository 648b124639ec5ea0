"""Real text for real models: a Hugging Face dataset saved to disk (offline) gives the
activation corpus, sliced into non-overlapping splits and read only up to the budget."""

import json

import pytest

from factlens.sae.corpora import corpus_documents, corpus_name, dataset_texts, documents_for_budget


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("dataset") / "tiny"
    train = [f"Document {i}: the quick brown fox jumps over the lazy dog {i} times." for i in range(40)]
    DatasetDict({"train": Dataset.from_dict({"text": train, "id": list(range(40))}),
                 "validation": Dataset.from_dict({"text": ["held out one.", "", "held out two."],
                                                  "id": [0, 1, 2]})}).save_to_disk(str(folder))
    return str(folder), train


def test_splits_and_slices_of_a_saved_dataset(saved_dataset):
    path, train = saved_dataset
    assert list(dataset_texts({"path": path}, "train")) == train
    assert list(dataset_texts({"path": path}, "train[:30]")) == train[:30]
    assert list(dataset_texts({"path": path}, "train[75%:]")) == train[30:]
    assert list(dataset_texts({"path": path}, "validation")) == ["held out one.", "", "held out two."]


def test_bad_split_or_column_is_named(saved_dataset):
    path, _ = saved_dataset
    with pytest.raises(ValueError, match="has no split 'test'; it has \\['train', 'validation'\\]"):
        list(dataset_texts({"path": path}, "test"))
    with pytest.raises(ValueError, match="has no text column 'body'; it has \\['text', 'id'\\]"):
        list(dataset_texts({"path": path, "text_column": "body"}, "train"))


def test_documents_are_read_until_the_budget(saved_dataset, tiny_tokenizer):
    path, train = saved_dataset
    lengths = [len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]) for text in train]
    budget = sum(lengths[:5]) - 1  # reached inside the fifth document
    documents = corpus_documents(None, {"path": path}, "train", tiny_tokenizer, budget)
    assert documents == train[:5]
    # empty documents are skipped; a budget beyond the split takes all of it
    held_out = corpus_documents(None, {"path": path}, "validation", tiny_tokenizer, 10**6)
    assert held_out == ["held out one.", "held out two."]
    assert documents_for_budget(iter([]), tiny_tokenizer, 10) == []
    assert corpus_name(None, {"path": path}, "train[:30]") == f"{path}:train[:30]"


def test_exactly_one_source(tiny_tokenizer):
    with pytest.raises(ValueError, match="exactly one of a corpus file and a dataset"):
        corpus_documents(None, None, "train", tiny_tokenizer, 10)


def test_caching_reads_the_dataset(saved_dataset, tiny_model_dirs, tmp_path):
    """The caching stage on a tiny GPT-2 with --dataset: the store holds exactly the tokens
    of the split's documents, and names the dataset and split as its corpus."""
    from factlens.pipeline.cli import main

    path, train = saved_dataset
    store = tmp_path / "store"
    main(["cache-activations", "--model", str(tiny_model_dirs["gpt2"]), "--device", "cpu",
          "--hooks", '["blocks.0.hook_resid_post"]', "--stores", json.dumps([str(store)]),
          "--dataset", json.dumps({"path": path}), "--split", "train[:10]",
          "--context-length", "16", "--max-tokens", "100000", "--shard-tokens", "64"])
    manifest = json.loads((store / "manifest.json").read_text())
    from factlens.loading import load_model

    _, tokenizer = load_model(str(tiny_model_dirs["gpt2"]), device="cpu")
    # packing: BOS + each document, cut into rows of 16; the last partial row is dropped,
    # and BOS positions are not cached
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in train[:10]]
    bos_positions = [sum(n + 1 for n in lengths[:i]) for i in range(10)]
    kept = sum(n + 1 for n in lengths) // 16 * 16
    assert manifest["n_tokens"] == kept - sum(p < kept for p in bos_positions)
    assert manifest["corpus"] == f"{path}:train[:10]" and manifest["complete"]
