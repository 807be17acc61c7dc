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
    return heap._resident_bytes() / 2**20


def _faults_of_batches(n_batches, n_blocks=12):
    """Minor page faults of allocating, filling and freeing `n_blocks` 8 MiB blocks (12: ~100
    MiB), as a network's activations are, `n_batches` times."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_batches):
        blocks = [np.ones(2**20 + 1000 * i) for i in range(n_blocks)]
        del blocks
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_blocks_are_reused_without_page_faults():
    with heap_slack():
        _faults_of_batches(1)  # the heap grows once
        faults = _faults_of_batches(3)
    # Each batch touches ~25 000 pages; without slack glibc returns them and faults them in
    # again (about 6 000 faults per batch here).
    assert faults < 300


def _run_fresh(script, slack="1"):
    """Run `script` in a fresh Python process (a long-running one reuses free memory left in
    its heap by earlier work, which hides what the block does); return its last line."""
    environment = {**os.environ, heap.ENVIRONMENT_VARIABLE: slack}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=True,
    )
    return done.stdout.split("\n")[-2]


def test_large_growth_is_given_back_and_small_growth_kept():
    script = (
        "from tests.utils.test_heap import _faults_of_batches, _resident_mib\n"
        "from sknovel.utils.heap import TRIM_GROWTH_BYTES, heap_slack\n"
        "n_blocks = 3 * TRIM_GROWTH_BYTES // (8 * 2**20) // 2  # 1.5 times the trim growth\n"
        "with heap_slack():\n"
        "    _faults_of_batches(2, n_blocks)\n"
        "    large_inside = _resident_mib()\n"
        "large_after = _resident_mib()\n"
        "with heap_slack():\n"
        "    _faults_of_batches(2, 4)  # ~32 MiB: kept for the next call\n"
        "    small_inside = _resident_mib()\n"
        "print(large_inside, large_after, small_inside, _resident_mib())\n"
    )
    large_inside, large_after, small_inside, small_after = map(float, _run_fresh(script).split())
    assert large_after < large_inside - heap.TRIM_GROWTH_BYTES / 2**20
    assert small_after > small_inside - 16


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
    faults = {value: int(_run_fresh(script, slack=value)) for value in ("1", "0")}
    assert faults["1"] < 300
    assert faults["0"] > faults["1"]


@pytest.mark.parametrize("value, enabled", [("0", False), ("off", False), ("1", True), ("", True)])
def test_environment_values(monkeypatch, value, enabled):
    monkeypatch.setenv(heap.ENVIRONMENT_VARIABLE, value)
    assert heap._enabled() is enabled
