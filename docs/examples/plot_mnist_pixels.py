"""
Novel is not always a new class: DEMUD on MNIST pixels
======================================================

The same experiment as on scikit-learn's digits, on 2 000 images drawn from the MNIST test set
(28×28 pixels, ten classes). On raw pixels the most *novel* images are often unusual
handwriting rather than a new digit — which is why *Interpretable Discovery in Large Image
Data Sets* (Lee, Wagstaff et al.) ranks CNN features instead of pixels.

The images are a sample of the first 5 000 MNIST test images, shipped with sknovel
(:func:`~sknovel.datasets.load_mnist_sample`).

Run time: about 5 s on 2 cores.
"""

# %%
# Load a 2 000-image subset
# -------------------------
import matplotlib.pyplot as plt
import numpy as np

from sknovel import Demud, RandomRanker, SVDRanker
from sknovel.datasets import load_mnist_sample
from sknovel.plotting import DiscoveryCurveDisplay

data = load_mnist_sample()
subset = np.sort(np.random.default_rng(0).choice(len(data.target), 2000, replace=False))
images, y = data.images[subset], data.target[subset]
X = images.reshape(len(images), -1) / 255.0  # one row of 784 intensities in [0, 1] per image
print(f"{X.shape[0]} images of {X.shape[1]} pixels; images per class: {np.bincount(y)}")

# %%
# Discovery curves
# ----------------
# 100 picks each, K = 10, as on the digits.
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
