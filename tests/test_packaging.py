"""Set-up: environment.yml agrees with pyproject, CI runs the README's test command."""

import re
import tomllib

import yaml

from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = [r for r in pip_section if not r.startswith("-e")]
    # same packages with the same version bounds
    assert sorted(map(str.strip, listed)) == sorted(map(str.strip, declared))
    assert {_name(r) for r in listed} == {_name(r) for r in declared}


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == ["make replicate", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_torch_is_never_pulled_implicitly_as_a_cuda_build():
    makefile = (REPO / "Makefile").read_text()
    # torch is installed explicitly (pinned CPU-or-CUDA choice) before the package
    torch_line = makefile.index("$(TORCH_SPEC)")
    package_line = makefile.index('-e ".[test]"')
    assert torch_line < package_line
    assert "torchvision" not in (REPO / "pyproject.toml").read_text()
