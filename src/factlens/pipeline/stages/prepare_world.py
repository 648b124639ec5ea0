"""Draw the synthetic world of athletes, write its corpora and its name-part controls."""

from __future__ import annotations

import json
import logging

from factlens.organism.corpus import build_corpus, tokenizer_corpus
from factlens.io import write_documents, write_table
from factlens.pipeline.stages.common import parse_settings, schema_defaults, settings_argument
from factlens.organism.world import WorldSettings, draw_athletes, name_part_controls

log = logging.getLogger("factlens.organism.world")


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--separator", type=json.loads, default=json.dumps(schema_defaults(("prompts",))["separator"]),
                        help="The text between the two facts of a prompt, as a JSON string.")
    parser.add_argument("--athletes", required=True, help="The output CSV of the world's athletes.")
    parser.add_argument("--train-corpus", required=True,
                        help="The output text: the first epochs of the organism's training stream.")
    parser.add_argument("--heldout-corpus", required=True,
                        help="The output text: a held-out epoch of the same stream.")
    parser.add_argument("--tokenizer-corpus", required=True,
                        help="The output text the tokenizer trains on: the same kind of text about "
                             "invented athletes.")
    parser.add_argument("--name-part-controls", required=True,
                        help="The output CSV: how well the first or the last name alone predicts the sport.")


def run(args) -> None:
    settings = parse_settings(args.settings, WorldSettings)
    athletes = draw_athletes(settings)
    train, heldout = build_corpus(athletes, settings, separator=args.separator)
    controls = name_part_controls(athletes)
    log.info("%d athletes (%s); %d training documents, %d held-out documents",
             len(athletes), athletes.sport.value_counts().to_dict(), len(train), len(heldout))
    log.info("single-name-part predictors of the sport:\n%s", controls.to_string(index=False))
    write_table(athletes, args.athletes)
    write_documents(train, args.train_corpus)
    write_documents(heldout, args.heldout_corpus)
    write_documents(tokenizer_corpus(athletes, settings, args.separator), args.tokenizer_corpus)
    write_table(controls, args.name_part_controls)
