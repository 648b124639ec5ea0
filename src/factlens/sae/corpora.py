"""Where the activation corpora come from: a text file of documents separated by blank
lines (the organism's world writes these), or a Hugging Face `datasets` dataset, for real
models on real text (e.g. a Pile sample for Pythia, as in the SAE papers).

A dataset is a hub name, loaded through the local cache when `HF_HUB_OFFLINE=1`, or a
folder written by `save_to_disk`; the split may be sliced (`train[:90%]`, `train[9000:]`)
so that one split gives both the training and the held-out text without overlap.
Documents are read in order until they hold the token budget, so a large (or streamed)
dataset is never read whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from factlens.io import read_documents

SLICE = re.compile(r"^(?P<split>[\w.-]+)\[(?P<start>-?\d*)(?P<start_pct>%?):(?P<stop>-?\d*)(?P<stop_pct>%?)\]$")


def _bound(value: str, percent: str, length: int) -> int | None:
    if value == "":
        return None
    number = int(value)
    return round(number * length / 100) if percent else number


def _from_disk(path: str, split: str):
    """A split (optionally sliced) of a dataset saved with `save_to_disk`."""
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(path)
    found = SLICE.match(split)
    name = found["split"] if found else split
    if isinstance(data, DatasetDict):
        if name not in data:
            raise ValueError(f"dataset {path} has no split {name!r}; it has {sorted(data)}")
        data = data[name]
    if found:
        start = _bound(found["start"], found["start_pct"], len(data)) or 0
        stop = _bound(found["stop"], found["stop_pct"], len(data))
        data = data.select(range(*slice(start, stop).indices(len(data))))
    return data


def dataset_texts(spec: dict, split: str) -> Iterable[str]:
    """The text column of one split of the dataset `spec` (config `activations.dataset`)."""
    column = spec.get("text_column", "text")
    if Path(spec["path"]).is_dir():
        data = _from_disk(spec["path"], split)
    else:
        from datasets import load_dataset

        data = load_dataset(spec["path"], spec.get("name"), split=split,
                            streaming=spec.get("streaming", False))
    names = data.column_names if data.column_names is not None else []
    if names and column not in names:
        raise ValueError(f"dataset {spec['path']} ({split}) has no text column {column!r}; "
                         f"it has {names}")
    return (row[column] for row in data)


def documents_for_budget(texts: Iterable[str], tokenizer, max_tokens: int) -> list[str]:
    """Non-empty documents, in order, until they hold `max_tokens` tokens (plus BOS each)."""
    documents, tokens = [], 0
    for text in texts:
        if not text or not text.strip():
            continue
        documents.append(text)
        tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if tokens >= max_tokens:
            break
    return documents


def corpus_documents(corpus: str | None, dataset: dict | None, split: str, tokenizer,
                     max_tokens: int) -> list[str]:
    """The documents of one split: from the corpus file, or from the dataset's split."""
    if (corpus is None) == (dataset is None):
        raise ValueError("give exactly one of a corpus file and a dataset")
    if dataset is not None:
        return documents_for_budget(dataset_texts(dataset, split), tokenizer, max_tokens)
    return read_documents(corpus)


def corpus_name(corpus: str | None, dataset: dict | None, split: str) -> str:
    """What the activation store's manifest records as its corpus."""
    return f"{dataset['path']}:{split}" if dataset is not None else Path(corpus).name


def add_corpus_arguments(parser, split_help: str) -> None:
    """--corpus, --dataset and --split: where a stage reads its documents."""
    parser.add_argument("--corpus", default="", help="A text file of documents separated by blank lines.")
    parser.add_argument("--dataset", type=lambda text: json.loads(text) if text else None, default=None,
                        help="Instead of --corpus: a Hugging Face dataset, as the JSON of config "
                             "activations.dataset.")
    parser.add_argument("--split", default="", help=split_help)


def documents_from_arguments(args, tokenizer, max_tokens: int) -> list[str]:
    """The documents named by `add_corpus_arguments`' flags."""
    return corpus_documents(args.corpus or None, args.dataset, args.split, tokenizer, max_tokens)
