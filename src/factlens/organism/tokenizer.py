"""A byte-level BPE tokenizer trained on the organism's corpus, saved for Hugging Face."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

# Pythia's special tokens: BOS = EOS = <|endoftext|>, and a separate padding token.
BOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|padding|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int,
                        whole_words: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (GPT-2/Pythia style) and wrap it as a HF fast tokenizer.

    `whole_words` (the answers) are added to the training text often enough that BPE
    merges each, with its leading space, into one token even in a tiny corpus.
    """
    emphasis = [" ".join(f" {word}" for word in whole_words)] * 200 if whole_words else []
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(itertools.chain(texts, emphasis), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=BOS_TOKEN,
        unk_token=BOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",
    )


def single_token_id(tokenizer, word: str) -> int:
    """The id of `word` (with its leading space) when it is one token; else a clear error."""
    ids = tokenizer.encode(f" {word}", add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(f"answer ' {word}' is {len(ids)} tokens {pieces}, expected exactly one")
    return ids[0]


def name_token_lengths(tokenizer, names: Iterable[str]) -> pd.Series:
    """Number of tokens of each name as it appears mid-sentence (with a leading space)."""
    return pd.Series([len(tokenizer.encode(f" {name}", add_special_tokens=False))
                      for name in names], dtype="int64")


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: Path) -> None:
    """Save as a Hugging Face tokenizer folder (tokenizer.json + configs)."""
    tokenizer.save_pretrained(str(folder))
