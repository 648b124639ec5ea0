"""Train the organism's BPE tokenizer and report how many tokens the names take."""

from __future__ import annotations

import logging

import pandas as pd

from factlens.io import atomic_path, read_documents, write_table
from factlens.pipeline.stages.common import schema_defaults
from factlens.organism.tokenizer import name_token_lengths, save_tokenizer, single_token_id, train_bpe_tokenizer
from factlens.organism.world import EXAMPLE_SPORT, SPORTS

log = logging.getLogger("factlens.organism.tokenizer")


def add_arguments(parser) -> None:
    parser.add_argument("--vocab-size", type=int, default=schema_defaults(("tokenizer",))["vocab_size"],
                        help="The size of the BPE vocabulary, special tokens included.")
    parser.add_argument("--corpus", required=True,
                        help="The text to train on (the world's tokenizer corpus).")
    parser.add_argument("--athletes", required=True,
                        help="The world's athletes (CSV), whose names are counted in tokens.")
    parser.add_argument("--out", required=True, help="The output tokenizer folder.")
    parser.add_argument("--name-lengths", required=True,
                        help="The output CSV: how many athletes' names take 1, 2, 3... tokens.")


def run(args) -> None:
    answers = (*SPORTS, EXAMPLE_SPORT)
    tokenizer = train_bpe_tokenizer(read_documents(args.corpus), args.vocab_size, answers)
    for sport in answers:
        single_token_id(tokenizer, sport)  # every answer must be one token
    athletes = pd.read_csv(args.athletes)
    lengths = name_token_lengths(tokenizer, athletes["name"])
    distribution = (lengths.value_counts().sort_index().rename_axis("name_tokens")
                    .reset_index(name="athletes"))
    distribution["fraction"] = distribution["athletes"] / distribution["athletes"].sum()
    log.info("name lengths in tokens: %s", dict(zip(distribution.name_tokens,
                                                     distribution.athletes)))
    with atomic_path(args.out, directory=True) as folder:
        save_tokenizer(tokenizer, folder)
    write_table(distribution, args.name_lengths)
