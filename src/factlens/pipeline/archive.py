"""The archive manifest of a run and its verification.

`MANIFEST.json` beside the archived results records what a reader needs to trust and
re-check them: the sha256 of every archived file, the resolved config, package versions,
the git commit (and whether the code differed from it), the machine, the wall time of
every job, and the sha256 of every package module (so a later check can tell which
stages' code changed since the archive was made).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

import pandas as pd

from factlens.io import sha256_file

PACKAGES = ("torch", "transformers", "transformer-lens", "tokenizers", "safetensors", "snakemake",
            "numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "seaborn")
FIGURE_SUFFIXES = (".png", ".pdf")
REPRODUCIBILITY = (
    "Tables (CSV/Markdown), metrics (JSON) and REPORT.md are byte-identical for the same config "
    "on the same kind of machine (same CPU vector extensions, machine.cpu_capability, the same "
    "torch build and thread count). "
    "Across machines, floating-point results may differ in their last digits: matrix "
    "multiplication kernels (CPU vector extensions, GPU, thread count) sum in different orders, "
    "and training amplifies those differences, so numbers move slightly while the verdicts "
    "should not. Figures (PNG/PDF) also depend on the matplotlib, FreeType and font versions. "
    "Wall times and the machine description always differ.")


def file_kind(path: str) -> str:
    suffix = Path(path).suffix
    if suffix in FIGURE_SUFFIXES:
        return "figure"
    return {".csv": "table", ".parquet": "table", ".json": "metrics"}.get(suffix, "text")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_description() -> dict:
    """The machine that wrote the manifest. `cpu_capability` is the vector instruction set
    torch's CPU kernels run with (e.g. AVX2 or AVX512): two machines reproduce each other's
    files byte for byte only when it, the torch build and the thread counts agree."""
    import torch

    return {"system": platform.system(), "release": platform.release(),
            "architecture": platform.machine(), "processor": platform.processor() or None,
            "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpus": os.cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def git_state(repository: Path) -> dict:
    """The commit checked out and whether tracked code (not the results) differs from it."""
    def git(*arguments):
        return subprocess.run(["git", "-C", str(repository), *arguments], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "Snakefile", "workflow",
                      "src", "config", "profiles", "pyproject.toml")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "code_differs_from_commit": None}
    return {"commit": commit, "code_differs_from_commit": bool(changed)}


def job_times(benchmarks: Path | list[Path]) -> pd.DataFrame:
    """Wall time and peak memory of every job, from Snakemake's `benchmark:` files: those
    under each folder given (or the file itself), each job named by its path relative to
    what the paths have in common."""
    paths = [Path(p) for p in ([benchmarks] if isinstance(benchmarks, (str, Path)) else benchmarks)]
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*.tsv"))})
    common = Path(os.path.commonpath([str(p) for p in paths])) if paths else Path(".")
    if common.is_file():
        common = common.parent
    rows = []
    for path in files:
        record = pd.read_csv(path, sep="\t").iloc[-1]
        job = path.relative_to(common).with_suffix("").as_posix()
        rows.append({"job": job, "rule": job.split("/")[0], "wall_s": round(float(record["s"]), 2),
                     "max_rss_mb": pd.to_numeric(record["max_rss"], errors="coerce")})
    return pd.DataFrame(rows, columns=["job", "rule", "wall_s", "max_rss_mb"])


def module_hashes(package: Path) -> dict[str, str]:
    return {path.relative_to(package.parent.parent).as_posix(): sha256_file(path)
            for path in sorted(package.rglob("*.py"))}


def build_manifest(files: list[str], root: Path, config: dict, benchmarks: Path | list[Path],
                   repository: Path, package: Path) -> dict:
    """The manifest for the archived `files` (paths under `root`)."""
    times = job_times(benchmarks)
    by_rule = times.groupby("rule")["wall_s"].agg(["sum", "count"]) if len(times) else pd.DataFrame()
    return {
        "files": {Path(f).resolve().relative_to(root.resolve()).as_posix():
                  {"sha256": sha256_file(f), "bytes": Path(f).stat().st_size, "kind": file_kind(f)}
                  for f in sorted(files)},
        "config": config,
        "packages": package_versions(),
        "git": git_state(repository),
        "machine": machine_description(),
        "jobs": [{"job": r.job, "wall_s": r.wall_s,
                  "max_rss_mb": None if pd.isna(r.max_rss_mb) else round(float(r.max_rss_mb), 1)}
                 for r in times.itertuples()],
        "rules": {rule: {"jobs": int(row["count"]), "wall_s": round(float(row["sum"]), 2)}
                  for rule, row in by_rule.iterrows()},
        "total_job_wall_s": round(float(times["wall_s"].sum()), 2),
        "code": module_hashes(package),
        "reproducibility": REPRODUCIBILITY,
    }


def compare(manifest: dict, root: Path, repository: Path | None = None) -> pd.DataFrame:
    """Every archived file (and, with `repository`, every package module) as ok, changed,
    missing or new relative to the manifest."""
    rows = []
    for name, entry in manifest["files"].items():
        path = root / name
        status = ("missing" if not path.exists()
                  else "ok" if sha256_file(path) == entry["sha256"] else "changed")
        rows.append({"path": name, "kind": entry["kind"], "status": status})
    if repository is not None:
        current = module_hashes(repository / "src" / "factlens")
        for name in sorted(set(current) | set(manifest.get("code", {}))):
            recorded = manifest.get("code", {}).get(name)
            status = ("new" if recorded is None else "missing" if name not in current
                      else "ok" if current[name] == recorded else "changed")
            rows.append({"path": name, "kind": "code", "status": status})
    return pd.DataFrame(rows, columns=["path", "kind", "status"])


def mark_up_to_date(report: pd.DataFrame, root: Path, repository: Path) -> list[str]:
    """Make Snakemake's mtime check agree with the hashes, e.g. after a fresh clone (which
    gives files checkout-order mtimes): every verified archived file gets the same time
    now, and every module that changed since the archive a later one, so that exactly the
    stages whose code changed rerun. Returns the modules marked as changed."""
    now = time.time()
    for name in report.loc[(report.kind != "code") & (report.status == "ok"), "path"]:
        os.utime(root / name, (now, now))
    changed = report.loc[(report.kind == "code") & report.status.isin(["changed", "new"]), "path"].tolist()
    for name in changed:
        os.utime(repository / name, (now + 1, now + 1))
    return changed
