"""Write MANIFEST.json: hashes of the archived results, config, versions, commit, job times."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from factlens.pipeline.archive import build_manifest
from factlens.io import write_json

log = logging.getLogger("factlens.pipeline.archive")


def add_arguments(parser) -> None:
    parser.add_argument("--files", nargs="+", required=True, help="The result files to archive.")
    parser.add_argument("--root", required=True, help="The results folder the paths are relative to.")
    parser.add_argument("--config", type=json.loads, required=True, help="The run's resolved config as JSON.")
    parser.add_argument("--benchmarks", nargs="+", required=True,
                        help="The folders of Snakemake benchmark files (or single files) whose job "
                             "times the manifest records.")
    parser.add_argument("--repository", required=True, help="The workflow's repository.")
    parser.add_argument("--manifest", required=True, help="The output MANIFEST.json.")


def run(args) -> None:
    repository = Path(args.repository)
    manifest = build_manifest(args.files, Path(args.root), args.config, [Path(p) for p in args.benchmarks],
                              repository, repository / "src" / "factlens")
    write_json(manifest, args.manifest)
    log.info("%d files archived; %d jobs, %.0f s of job wall time", len(manifest["files"]),
             len(manifest["jobs"]), manifest["total_job_wall_s"])
