"""Running the repository's workflow from tests: a copy of the repository (as a fresh
clone would have it), Snakemake calls in it, and the jobs a dry run plans."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

CLONED = ("Snakefile", "environment.yml", "workflow", "src", "config", "profiles", "data")
SMOKE = "config/smoke.yaml"


def clone_repository(destination: Path) -> Path:
    """Copy what a clone holds (code, workflow, configs; no results, work or metadata)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in CLONED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def environment() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HF_HUB_OFFLINE": "1"}


def snakemake(directory: Path, *arguments: str, config: str | Path = SMOKE,
              timeout: int = 900, niceness: int = 0) -> subprocess.CompletedProcess:
    """`snakemake --cores 2 --configfile CONFIG ARGUMENTS` in a clone (with its jobs at a
    lower CPU priority for `niceness` > 0)."""
    return subprocess.run(
        [*(["nice", "-n", str(niceness)] if niceness else []),
         sys.executable, "-m", "snakemake", "--configfile", str(config), "--cores", "2", *arguments],
        cwd=directory, capture_output=True, text=True, env=environment(), timeout=timeout)


def start_snakemake(directory: Path, *arguments: str, config: str | Path = SMOKE) -> subprocess.Popen:
    """Snakemake in its own process group, so a test can SIGKILL it with its jobs."""
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--configfile", str(config), "--cores", "1", *arguments],
        cwd=directory, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def factlens(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factlens", *arguments], cwd=directory,
                          capture_output=True, text=True, env=environment(), timeout=300)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's "Job stats" table ({} when nothing is to be done)."""
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    counts = {}
    for line in text[text.index("Job stats:"):].splitlines()[3:]:
        parts = line.split()
        if parts and parts[0] == "total":
            break
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by its path relative to it."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
