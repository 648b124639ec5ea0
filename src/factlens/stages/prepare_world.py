"""Draw the synthetic world of athletes and write its training and held-out corpora."""

from __future__ import annotations

import json
import logging
from factlens.io import write_documents, write_table
from factlens.stages.common import parse_settings, settings_argument
from factlens.world import WorldSettings, build_corpus, draw_athletes

log = logging.getLogger("factlens.world")


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--separator", type=json.loads, default="\n",
                        help="JSON string between the two facts of a prompt")
    parser.add_argument("--athletes", required=True, help="output CSV of athletes")
    parser.add_argument("--train-corpus", required=True)
    parser.add_argument("--heldout-corpus", required=True)


def run(args) -> None:
    settings = parse_settings(args.settings, WorldSettings)
    athletes = draw_athletes(settings)
    train, heldout = build_corpus(athletes, settings, separator=args.separator)
    log.info("%d athletes (%s); %d training documents, %d held-out documents",
             len(athletes), athletes.sport.value_counts().to_dict(), len(train), len(heldout))
    write_table(athletes, args.athletes)
    write_documents(train, args.train_corpus)
    write_documents(heldout, args.heldout_corpus)

