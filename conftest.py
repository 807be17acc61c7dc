"""Test-session setup shared by the doctests (in sknovel/) and the test suite (in tests/).

``SKNOVEL_TEST_MKLDNN=0 python -m pytest`` runs everything with oneDNN switched off
(``torch.backends.mkldnn.enabled = False``), so that the suite can be checked on both of
torch's CPU convolution paths; 1 (the default) leaves torch's setting alone.
"""

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # pictures are drawn off-screen in tests

import pytest  # noqa: E402

from sknovel.utils.tensors import torch_threads  # noqa: E402

#: Environment variable: "0" switches oneDNN off for the whole session.
MKLDNN_VARIABLE = "SKNOVEL_TEST_MKLDNN"


def _mkldnn_choice():
    """False when the session must run with oneDNN off; a clear error for other values."""
    value = os.environ.get(MKLDNN_VARIABLE, "").strip() or "1"
    if value not in ("0", "1"):
        raise pytest.UsageError(f"{MKLDNN_VARIABLE} must be 0 or 1; got {value!r}.")
    return value == "1"


def pytest_sessionstart(session):
    """Apply SKNOVEL_TEST_MKLDNN=0 (oneDNN off) before any test runs, if torch is installed."""
    if not _mkldnn_choice() and importlib.util.find_spec("torch") is not None:
        import torch

        torch.backends.mkldnn.enabled = False


def pytest_report_header(config):
    if importlib.util.find_spec("torch") is None:
        return None
    return f"torch oneDNN: {'on' if _mkldnn_choice() else f'off ({MKLDNN_VARIABLE}=0)'}"


@pytest.fixture
def one_torch_thread():
    """Run the test with one torch thread (two that wait for each other are slow on busy cores)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def mnist_detector():
    """A ConvAutoencoder trained briefly on 500 MNIST digits 0-4, and held-out test digits.

    Returns (detector, images, is_normal): 600 images of all ten digits not used in training,
    and whether each is a normal digit (0-4). Trained once per session (about 40 s on two
    busy cores), for the detector's and the explainers' tests.
    """
    pytest.importorskip("torch")
    from sknovel.datasets import find_data_file, load_labelled_images
    from sknovel.detectors import ConvAutoencoder

    path = find_data_file("mnist_test.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("mnist_test.npz is absent: the shared data sets live in ../shared/data in CI")
    data = load_labelled_images(path)
    train = data.images[:1500][data.labels[:1500] < 5][:500]
    images, labels = data.images[5000:5600], data.labels[5000:5600]
    detector = ConvAutoencoder(epochs=12, batch_size=32, n_iter_no_change=None, random_state=0)
    with torch_threads(1):
        detector.fit(train)
    return detector, images, labels < 5


#: Doctests of these modules need an optional dependency: {path prefix: module}.
_OPTIONAL = {
    "sknovel/detectors/": "torch",
    "sknovel/explain/": "torch",
    "sknovel/features/_cnn.py": "torch",
    "sknovel/features/_sift.py": "cv2",
    "sknovel/utils/estimator_checks.py": "cv2",
}


def pytest_collection_modifyitems(config, items):
    """Skip doctests whose optional dependency is not installed (tests skip themselves)."""
    from _pytest.doctest import DoctestItem

    missing = {m for m in set(_OPTIONAL.values()) if importlib.util.find_spec(m) is None}
    for item in items:
        if not isinstance(item, DoctestItem):
            continue
        for prefix, module in _OPTIONAL.items():
            if module in missing and item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=f"needs {module}"))
