"""The thread count: --threads, GEFU_THREADS, the config's `threads`, OMP_NUM_THREADS, else the
free allowed CPUs."""

from __future__ import annotations

import os

import pytest

from gefu.bench import threads
from gefu.bench.threads import ThreadsError, choose_threads


@pytest.fixture
def clean_env(monkeypatch):
    for name in (threads.ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_precedence(clean_env):
    clean_env.setattr(threads, "default_threads", lambda: 7)
    assert choose_threads() == (7, "the free CPUs")
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads()[0] == 3
    assert choose_threads(configured=4)[0] == 4
    clean_env.setenv(threads.ENV, "5")
    assert choose_threads(configured=4) == (5, threads.ENV)
    assert choose_threads(2, configured=4) == (2, "--threads")


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_bad_values_are_one_clear_error(clean_env, raw):
    clean_env.setenv(threads.ENV, raw)
    with pytest.raises(ThreadsError, match=f"GEFU_THREADS must be a positive integer, got '{raw}'"):
        choose_threads()


def test_allowed_cpus_follow_the_affinity_mask(clean_env):
    assert 1 <= threads.allowed_cpus() <= len(os.sched_getaffinity(0))
    clean_env.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert threads.allowed_cpus() == 1


def test_default_is_the_allowed_cpus_less_the_load(clean_env):
    clean_env.setattr(threads, "allowed_cpus", lambda: 8)
    clean_env.setattr(os, "getloadavg", lambda: (5.6, 0.0, 0.0))
    assert threads.default_threads() == 2
    clean_env.setattr(os, "getloadavg", lambda: (40.0, 0.0, 0.0))
    assert threads.default_threads() == 1
    clean_env.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.default_threads() == 8
