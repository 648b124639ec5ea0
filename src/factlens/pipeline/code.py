"""The package modules a stage runs, read from its imports (every `import factlens...`,
at module level or inside a function, followed transitively, with the packages around
each module). The rules declare these files as inputs, so editing a module reruns
exactly the jobs whose stages import it, and moving a module never leaves a stale list."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # src/factlens
ENTRY = ("factlens.__main__",)  # `python -m factlens <stage>`: the command line every rule calls


def module_file(name: str, package: Path = PACKAGE) -> Path | None:
    """The file of a dotted factlens module (a package's __init__.py); None if none is."""
    parts = name.split(".")
    if parts[0] != package.name:
        return None
    base = package.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@cache
def imported_names(path: Path) -> tuple[str, ...]:
    """Every absolute module name `path` imports; `from a import b` also names `a.b`, which is
    a module when b is a submodule."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return tuple(names)


def modules_run_by(*modules: str, package: Path = PACKAGE) -> list[Path]:
    """The files of `modules` (dotted names) and of every factlens module they import,
    transitively, with the __init__.py of each package on the way."""
    seen: set[Path] = set()
    pending = list(modules)
    while pending:
        parts = pending.pop().split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b, then a.b.c
            path = module_file(".".join(parts[:depth]), package)
            if path is not None and path not in seen:
                seen.add(path)
                pending.extend(imported_names(path))
    return sorted(seen)


def stage_code(*stages: str, package: Path = PACKAGE) -> list[str]:
    """The files `python -m factlens <stage>` runs for each of `stages` (module names under
    factlens.pipeline.stages, e.g. "train_sae"), as strings for a rule's input."""
    modules = [*ENTRY, *(f"{package.name}.pipeline.stages.{stage}" for stage in stages)]
    return [str(path) for path in modules_run_by(*modules, package=package)]
