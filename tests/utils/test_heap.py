"""heap_slack: freed blocks stay in the heap inside the block and go back to the kernel after."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sknovel.utils import heap
from sknovel.utils.heap import heap_slack

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="heap_slack acts on glibc only")


def _resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _faults_of_batches(n_batches):
    """Minor page faults of allocating, filling and freeing ~100 MiB in 8 MiB blocks, as a
    network's activations are, `n_batches` times."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_batches):
        blocks = [np.ones(2**20 + 1000 * i) for i in range(12)]
        del blocks
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_blocks_are_reused_without_page_faults_and_given_back_after():
    with heap_slack():
        _faults_of_batches(1)  # the heap grows once
        faults = _faults_of_batches(3)
        resident_inside = _resident_mib()
    # Each batch touches ~25 000 pages; without slack glibc returns them and faults them in
    # again (about 6 000 faults per batch here).
    assert faults < 300
    assert _resident_mib() < resident_inside - 50


def test_nested_blocks_keep_the_slack_until_the_outermost_ends():
    with heap_slack():
        with heap_slack():
            _faults_of_batches(1)
        faults = _faults_of_batches(2)
    assert faults < 300


def test_the_environment_variable_turns_it_off():
    """In a fresh process (a long-running one reuses free memory left in its heap either way),
    the same batches fault their pages in again with SKNOVEL_HEAP_SLACK=0."""
    script = (
        "from tests.utils.test_heap import _faults_of_batches\n"
        "from sknovel.utils.heap import heap_slack\n"
        "with heap_slack():\n"
        "    _faults_of_batches(1)\n"
        "    print(_faults_of_batches(2))\n"
    )
    faults = {}
    for value in ("1", "0"):
        environment = {**os.environ, heap.ENVIRONMENT_VARIABLE: value}
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=environment,
            cwd=ROOT,
            check=True,
        )
        faults[value] = int(done.stdout.split()[-1])
    assert faults["1"] < 300
    assert faults["0"] > faults["1"]


@pytest.mark.parametrize("value, enabled", [("0", False), ("off", False), ("1", True), ("", True)])
def test_environment_values(monkeypatch, value, enabled):
    monkeypatch.setenv(heap.ENVIRONMENT_VARIABLE, value)
    assert heap._enabled() is enabled
