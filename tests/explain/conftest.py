"""Fixtures for the explainer tests."""

import pytest

from sknovel.utils.tensors import torch_threads


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Train with one torch thread, restoring the setting after the tests of this package.

    The models here are tiny, and on a machine whose cores are busy with other work two
    threads that wait for each other made an epoch up to 6x slower.
    """
    with torch_threads(1):
        yield
