"""Re-hash the archived results against MANIFEST.json and report any drift."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from factlens.pipeline.archive import compare, machine_description, mark_up_to_date
from factlens.sae.convergence import cpu_label

DEFAULT_MANIFEST = "results/default/MANIFEST.json"


def add_arguments(parser) -> None:
    parser.add_argument("--manifest", default=DEFAULT_MANIFEST,
                        help=f"The manifest to check against (default {DEFAULT_MANIFEST}).")
    parser.add_argument("--git-ref", default=None,
                        help="Read the manifest as committed at this git revision (e.g. HEAD), to "
                             "check a fresh run against the archived results it overwrote.")
    parser.add_argument("--ignore-figures", action="store_true",
                        help="Do not count PNG/PDF drift (figures depend on font and library versions).")
    parser.add_argument("--touch", action="store_true",
                        help="If nothing drifted, mark the archive up to date for Snakemake "
                             "(after a fresh clone) and flag modules changed since it was made.")


def read_manifest(path: Path, git_ref: str | None) -> dict:
    return json.loads(read_committed(path, git_ref))


def read_committed(path: Path, git_ref: str | None) -> str:
    """A file's text as committed at `git_ref` (None: as it is on disk)."""
    if git_ref is None:
        return Path(path).read_text()
    path = Path(path)
    repository = subprocess.run(["git", "-C", str(path.parent.resolve()), "rev-parse", "--show-toplevel"],
                                capture_output=True, text=True, check=True).stdout.strip()
    relative = path.resolve().relative_to(repository).as_posix()
    shown = subprocess.run(["git", "-C", repository, "show", f"{git_ref}:{relative}"],
                           capture_output=True, text=True)
    if shown.returncode != 0:
        raise FileNotFoundError(f"no {relative} at git revision {git_ref}: {shown.stderr.strip()}")
    return shown.stdout


def repository_of(root: Path) -> Path | None:
    """The repository holding the package modules the manifest hashed, if this is one."""
    for folder in (root.resolve(), *root.resolve().parents):
        if (folder / "src" / "factlens").is_dir():
            return folder
    return None


def run(args) -> None:
    path = Path(args.manifest)
    if not path.exists() and args.git_ref is None:
        raise FileNotFoundError(f"no manifest at {path}; run the workflow (its last rule writes it)")
    manifest = read_manifest(path, args.git_ref)
    root = path.parent
    repository = repository_of(root)
    report = compare(manifest, root, repository)
    files = report[report.kind != "code"]
    drift = files[files.status != "ok"]
    if args.ignore_figures:
        drift = drift[drift.kind != "figure"]
    counts = files.groupby(["kind", "status"]).size().unstack(fill_value=0)
    print(f"{len(files)} archived files under {root} checked against "
          f"{path if args.git_ref is None else f'{path} at {args.git_ref}'}:")
    print(counts.to_string())
    for row in files[files.status != "ok"].itertuples():
        print(f"  {row.status:8} {row.kind:8} {row.path}")
    code = report[(report.kind == "code") & (report.status != "ok")]
    if len(code):
        print(f"{len(code)} package modules differ from the code that made the archive:")
        for row in code.itertuples():
            print(f"  {row.status:8} {row.path}")
    if len(drift):
        print("DRIFT: " + manifest["reproducibility"])
        print(f"The archive's CPU: {cpu_label(manifest['machine'])}; this machine's: "
              f"{cpu_label(machine_description())}.")
        sys.exit(1)
    print("no drift")
    if args.touch:
        if repository is None:
            raise ValueError(f"--touch needs the repository around {root} (its src/factlens)")
        changed = mark_up_to_date(report, root, repository)
        print("archived results marked up to date for Snakemake"
              + (f"; modules changed since: {', '.join(changed)}" if changed else ""))
