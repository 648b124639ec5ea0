"""bench/run_schedule.py's reading of a run's schedule: dependencies through files and
folders, the longest chain, and a list schedule on limited cores."""

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from run_schedule import Job, chains, core_seconds, link, list_schedule  # noqa: E402


def diamond() -> list[Job]:
    """head -> (a, b, c) -> tail; b writes a folder that tail reads a file inside of; c also
    reads files no job writes (a relative and an absolute path)."""
    return [Job("head", seconds=10, outputs=["w/store"]),
            Job("a", seconds=30, inputs=["w/store/part.bin"], outputs=["w/a.csv"]),
            Job("b", threads=2, seconds=20, inputs=["w/store"], outputs=["w/saes"]),
            Job("c", seconds=5, inputs=["src/x.py", "/abs/code.py", "w/store"], outputs=["w/c.csv"]),
            Job("tail", seconds=1, inputs=["w/a.csv", "w/saes/0.1/cfg.json", "w/c.csv"], outputs=["w/report"])]


def test_jobs_need_the_jobs_that_write_their_inputs_or_a_folder_above_them():
    jobs = diamond()
    link(jobs)
    assert [sorted(job.needs) for job in jobs] == [[], [0], [0], [0], [1, 2, 3]]
    assert chains(jobs) == pytest.approx([41, 31, 21, 6, 1])


def test_a_list_schedule_waits_for_free_threads():
    jobs = diamond()
    link(jobs)
    # two cores: a and c run beside each other, b needs both cores
    assert list_schedule(jobs, 2) == pytest.approx(10 + 30 + 20 + 1)
    # one core: a two-thread job is scaled down to it, everything runs in turn
    assert list_schedule(jobs, 1) == pytest.approx(10 + 30 + 20 + 5 + 1)
    # four cores: a, b and c together
    assert list_schedule(jobs, 4) == pytest.approx(10 + 30 + 1)
    # the cores' bound counts b's two threads, or the one core it is scaled down to
    assert core_seconds(jobs, 2) == pytest.approx(10 + 30 + 2 * 20 + 5 + 1)
    assert core_seconds(jobs, 1) == pytest.approx(10 + 30 + 20 + 5 + 1)
