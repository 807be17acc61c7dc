"""Test-session setup shared by the doctests (in sknovel/) and the test suite (in tests/)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # pictures are drawn off-screen in tests

import pytest  # noqa: E402

from sknovel.utils._torch import torch_threads  # noqa: E402


@pytest.fixture
def one_torch_thread():
    """Run the test with one torch thread (two that wait for each other are slow on busy cores)."""
    with torch_threads(1):
        yield


#: Doctests of these modules need an optional dependency: {path prefix: module}.
_OPTIONAL = {
    "sknovel/explain/": "torch",
    "sknovel/features/_cnn.py": "torch",
    "sknovel/features/_sift.py": "cv2",
    "sknovel/utils/estimator_checks.py": "cv2",
}


def pytest_collection_modifyitems(config, items):
    """Skip doctests whose optional dependency is not installed (tests skip themselves)."""
    import importlib.util

    from _pytest.doctest import DoctestItem

    missing = {m for m in set(_OPTIONAL.values()) if importlib.util.find_spec(m) is None}
    for item in items:
        if not isinstance(item, DoctestItem):
            continue
        for prefix, module in _OPTIONAL.items():
            if module in missing and item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=f"needs {module}"))
