"""
Why was this Mars image picked? Novelty heatmaps and their faithfulness
=======================================================================

DEMUD explains a pick by its residual e = x - x̂ in feature space: what the model of the
earlier picks could not reconstruct. With CNN features that residual is a vector of 1 280
numbers nobody can read. :class:`~sknovel.explain.NoveltyMap` turns it into a picture of
*where* in the image the novelty lies, by asking how the pick's score changes when parts of
the image are taken away (occlusion), and a deletion curve checks that the picture tells the
truth: removing the hottest pixels should lower the score faster than removing random
regions.

The images are the Mars Science Laboratory set of *Interpretable Discovery in Large Image
Data Sets* (Lee, Wagstaff et al. 2018); the file is looked for in ``shared/data/`` above this
example, which only prints a message when it is absent.
"""

# %%
# Rank the Mars images on CNN features
# ------------------------------------
from pathlib import Path

import matplotlib.pyplot as plt

from sknovel import Demud, Pipeline
from sknovel.datasets import find_data_file, load_labelled_images
from sknovel.explain import NoveltyMap
from sknovel.features import CNNFeaturizer
from sknovel.metrics import curve_auc, deletion_curve, random_maps
from sknovel.plotting import ExplanationDisplay

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()

path = find_data_file("msl_v1_96px.npz", start=HERE)
if path is None:
    print("msl_v1_96px.npz not found: nothing to show.")
else:
    data = load_labelled_images(path, n_samples=600, random_state=0)
    names = data.class_names[data.labels]
    pipe = Pipeline(
        [
            ("cnn", CNNFeaturizer(crop_size=96, batch_size=64)),
            ("demud", Demud(n_components=10, n_selections=20)),
        ]
    ).fit(data.images)
    print("first picks:", ", ".join(names[pipe[-1].ranking_[:8]]))

# %%
# Where is the novelty?
# ---------------------
# Occlusion slides a window a quarter of the image wide over each pick, replaces it with a
# blurred copy of the image, and credits every pixel with the mean score drop of the windows
# covering it. It was chosen as the default by measurement: on DEMUD's first 20 picks of the
# full Mars set, removing the hottest 10 % lowered the score more than removing smooth random
# regions of the same size for 20 of 20 picks (integrated gradients 18, SmoothGrad 14;
# ``benchmarks/novelty_map_faithfulness.py``).
if path is not None:
    novelty = NoveltyMap.from_pipeline(pipe)
    display = ExplanationDisplay.from_explanation(
        data.images, pipe[-1], positions=range(5), novelty_map=novelty, labels=names
    )
    plt.show()

# %%
# Is the map faithful? A deletion curve
# -------------------------------------
# The pick's score as the most novel pixels (by the map) are blurred away, against the same
# for random smooth maps; the area under the curve (normalised by the pick's score) is lower
# for a faithful map.
if path is not None:
    position = 0
    model = pipe[-1].selection_models(pipe[0].transform(data.images), [position])[0]
    score_fn = novelty.score_function(model)
    image = data.images[pipe[-1].ranking_[position]] / 255.0
    heat = novelty.explain(data.images, [position]).maps[0]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    curve = deletion_curve(score_fn, image, heat)
    ax.plot(curve.fractions, curve.scores, "o-", label=f"occlusion map, AUC {curve_auc(curve):.2f}")
    for i, noise in enumerate(random_maps(heat.shape, 3, random_state=0)):
        random_curve = deletion_curve(score_fn, image, noise)
        ax.plot(
            random_curve.fractions,
            random_curve.scores,
            color="grey",
            alpha=0.6,
            label=f"random maps, AUC {curve_auc(random_curve):.2f}" if i == 0 else None,
        )
    ax.set(xlabel="fraction of pixels blurred away", ylabel="novelty score of pick 1")
    ax.legend()
    fig.tight_layout()
    plt.show()
