"""The modules a rule declares as its code are the modules its stage runs: found from the
imports, checked here against what Python actually imports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factlens.pipeline.code import PACKAGE, imported_names, module_file, modules_run_by, stage_code
from factlens.pipeline.cli import stage_names


def imported_at_run_time(stage: str) -> set[Path]:
    """The factlens files a fresh interpreter has loaded after importing the stage through
    the command line's module."""
    script = (f"import sys, factlens.pipeline.cli, factlens.pipeline.stages.{stage}, json; "
              "print(json.dumps([m.__file__ for n, m in sys.modules.items() "
              "if n.startswith('factlens') and getattr(m, '__file__', None)]))")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {Path(p).resolve() for p in json.loads(shown.stdout)}


@pytest.mark.parametrize("stage", ["train_sae", "build_report"])
def test_the_declared_code_covers_every_module_the_stage_imports(stage):
    declared = {Path(p).resolve() for p in stage_code(stage)}
    loaded = imported_at_run_time(stage)
    assert loaded - declared == set()
    # function-level imports count too: the declared set may only be larger
    assert (PACKAGE / "pipeline" / "stages" / f"{stage}.py").resolve() in declared


def test_a_stage_that_does_not_import_a_subject_does_not_declare_it():
    declared = [Path(p).relative_to(PACKAGE).as_posix() for p in stage_code("train_sae")]
    assert "sae/train.py" in declared and "__main__.py" in declared and "pipeline/cli.py" in declared
    assert not [p for p in declared if p.startswith(("illusion/", "attribution/", "facts/"))], declared


def test_imports_are_followed_through_packages_and_inside_functions(tmp_path):
    package = tmp_path / "factlens"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from factlens.shared import x\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    import factlens.lazy\n")
    (package / "shared.py").write_text("x = 1\n")
    (package / "lazy.py").write_text("import numpy\n")
    (package / "unused.py").write_text("")
    found = {p.relative_to(package).as_posix() for p in modules_run_by("factlens.sub.leaf", package=package)}
    assert found == {"__init__.py", "sub/__init__.py", "sub/leaf.py", "shared.py", "lazy.py"}


def test_every_stage_command_has_its_code():
    for command in stage_names():
        assert stage_code(command.replace("-", "_"))


# The package's subjects from the bottom up: a module may import its own level or below.
LAYERS = ("organism", "facts", "sae", "illusion", "attribution", "pipeline")


def layer(module: str) -> int:
    """0 for the shared top-level modules, then the subject folders in LAYERS' order."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) + 1 if len(parts) > 2 and parts[1] in LAYERS else 0


def test_no_import_runs_back_up_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("factlens", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        if module in ("factlens.__main__",):  # the entry point calls the pipeline's command line
            continue
        for name in imported_names(path):
            if name.startswith("factlens.") and module_file(name) is not None and layer(name) > layer(module):
                upward.append(f"{module} -> {name}")
    assert upward == []
    assert layer("factlens.sae.train") > layer("factlens.facts.prompts") > layer("factlens.io") == 0
