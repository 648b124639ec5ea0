"""Set-up: environment.yml agrees with pyproject, CI runs the README's test command."""

import re
import tomllib

import yaml

from conftest import REPO, committed_text


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


def claim_rows(text: str) -> list[tuple[str, ...]]:
    """(title, source, verdict[, count over seeds]) of each row of a claims summary table."""
    rows = []
    for line in text.splitlines():
        found = re.match(r"\| \[(.+?)\]\(.+?\) \| (.+) \|$", line)
        if found:
            rows.append((found.group(1), *(cell.strip("*") for cell in found.group(2).split(" | "))))
    return rows


def test_readme_claims_table_is_the_archived_report_summary():
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("<!-- claims"):readme.index("<!-- /claims -->")]
    report = committed_text("results/default/REPORT.md")  # not a local run's rewrite
    summary = report[:report.index("## Set-up")]
    assert claim_rows(block) == claim_rows(summary)
    assert len(claim_rows(block)) >= 9
    # a Markdown table renders only with its delimiter row under the header
    header, delimiter = block.splitlines()[1:3]
    assert re.fullmatch(r"(\| [^|]+ )+\|", header), header
    assert delimiter == "|---" * header.count(" | ") + "|---|", delimiter


def test_every_relative_link_in_the_docs_resolves_inside_the_repository():
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(REPO), (page.name, target)
            assert path.exists(), (page.name, target)


def test_nothing_cites_a_file_outside_the_repository():
    """Citations point at docs/references.md (or the papers), never at files a reader
    of the repository does not have."""
    texts = [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("src/factlens/**/*.py"),
             *REPO.glob("workflow/**/*.smk"), *REPO.glob("workflow/report/*.rst"),
             *REPO.glob("results/*/REPORT.md")]
    # the spec files beside the repository, named without citing them here
    outside = [name + ".md" for name in ("PAPERS", "DESIGN")] + ["../" + "shared"]
    for path in texts:
        text = path.read_text()
        assert not any(name in text for name in outside), path


def test_archive_tests_read_the_committed_archive_whatever_a_local_run_wrote(tmp_path):
    """`make replicate` on another CPU rewrites results/default with that machine's
    verdicts: the tests about the archive read what is committed."""
    import subprocess

    import conftest

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "REPORT.md").write_text("| claim | yes |")
    git("add", "REPORT.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "archive")
    (tmp_path / "REPORT.md").write_text("| claim | no |")  # a local run's verdict
    original = conftest.REPO
    try:
        conftest.REPO = tmp_path
        assert conftest.committed_text("REPORT.md") == "| claim | yes |"
        (tmp_path / "new.md").write_text("not committed yet")
        assert conftest.committed_text("new.md") == "not committed yet"  # the working tree's
    finally:
        conftest.REPO = original
