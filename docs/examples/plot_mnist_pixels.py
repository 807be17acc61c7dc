"""
Novel is not always a new class: DEMUD on MNIST pixels
======================================================

The same experiment as on scikit-learn's digits, on 2 000 images drawn from the MNIST test set
(28×28 pixels, ten classes). On raw pixels the most *novel* images are often unusual
handwriting rather than a new digit — which is why *Interpretable Discovery in Large Image
Data Sets* (Lee, Wagstaff et al.) ranks CNN features instead of pixels.

The data file is not part of sknovel: this example looks for ``shared/data/mnist_test.npz`` in
the folders above it (the project's layout puts it at ``../../shared/data/`` relative to
``docs/``) and only prints a message when it is absent.
"""

# %%
# Load a 2 000-image subset
# -------------------------
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sknovel import Demud, RandomRanker, SVDRanker
from sknovel.plotting import DiscoveryCurveDisplay


def find_mnist():
    """Path of ``shared/data/mnist_test.npz`` in a folder above this script, or None."""
    try:
        here = Path(__file__).resolve().parent
    except NameError:  # run interactively
        here = Path.cwd().resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "shared" / "data" / "mnist_test.npz"
        if candidate.is_file():
            return candidate
    return None


path = find_mnist()
if path is None:
    X = y = images = None
    print(
        "mnist_test.npz not found (expected in shared/data/ above this script); "
        "skipping this example."
    )
else:
    with np.load(path, allow_pickle=False) as data:
        subset = np.sort(np.random.default_rng(0).choice(len(data["labels"]), 2000, replace=False))
        images, y = data["images"][subset], data["labels"][subset]
    X = images.reshape(len(images), -1) / 255.0  # one row of 784 intensities in [0, 1] per image
    print(f"{X.shape[0]} images of {X.shape[1]} pixels; images per class: {np.bincount(y)}")

# %%
# Discovery curves
# ----------------
# 100 picks each, K = 10, as on the digits.
if X is not None:
    rankers = {
        "DEMUD": Demud(n_components=10, n_selections=100),
        "SVD": SVDRanker(n_components=10, n_selections=100),
        "Random": RandomRanker(n_selections=100, random_state=0),
    }
    for ranker in rankers.values():
        ranker.fit(X)
    display = DiscoveryCurveDisplay.from_estimator(rankers, X, y)
    display.ax_.set_title("Discovery on 2 000 MNIST test images (pixels)")
    plt.show()

# %%
# What DEMUD found instead
# ------------------------
# The first ten picks (top) and their residuals (bottom: red is ink the model of the earlier
# picks did not expect, blue is expected ink that is missing). The picks are odd *shapes* —
# thick, slanted, off-centre strokes — and several share a label.
if X is not None:
    explanation = rankers["DEMUD"].explain(X)
    limit = np.abs(explanation.residuals[:10]).max()
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.5))
    for pick, (top, bottom) in enumerate(zip(*axes)):
        top.imshow(explanation.selections[pick].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        top.set_title(f"#{pick + 1}: {y[explanation.indices[pick]]}", fontsize=9)
        bottom.imshow(
            explanation.residuals[pick].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit
        )
        top.set_axis_off()
        bottom.set_axis_off()
    fig.suptitle("First ten DEMUD picks on MNIST pixels, and their residuals")
    fig.tight_layout()
    plt.show()
