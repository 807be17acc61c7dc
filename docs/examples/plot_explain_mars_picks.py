"""
Why was this Mars image picked? Inverted features, novelty heatmaps, faithfulness
=================================================================================

DEMUD explains a pick by its residual e = x - x̂ in feature space: what the model of the
earlier picks could not reconstruct. With CNN features that residual is a vector of 1 280
numbers nobody can read. This example turns it into pictures in two ways, on the Mars
Science Laboratory images of *Interpretable Discovery in Large Image Data Sets* (Lee,
Wagstaff et al. 2018), whose Mars figures show the first picks as "Selection | Expected |
Novel":

* :class:`~sknovel.explain.UCInverter`, the paper's method: a decoder trained to turn the
  features back into images draws the pick, its expected part x̂ and its novel part e;
* :class:`~sknovel.explain.NoveltyMap`: a heatmap of *where* in the image the novelty lies,
  from how the pick's score changes when parts of the image are blurred away -- and a check
  that it tells the truth: removing its hottest pixels should lower the score more than
  removing random regions.

The images are the 288 Mars rover images sknovel ships
(:func:`~sknovel.datasets.load_mars_demo`). Most of the run time is the heatmaps and
their faithfulness tests, which run the network hundreds of times.

Run time: about 4 minutes on 2 idle cores (250 s of CPU time).
"""

# %%
# Rank the Mars images on CNN features
# ------------------------------------
# EfficientNet-Lite0 pooled features (the default ``CNNFeaturizer()``, whose decoder ships
# with sknovel), DEMUD with K = 10.
import matplotlib.pyplot as plt
import numpy as np

from sknovel import Demud, Pipeline
from sknovel.datasets import load_mars_demo
from sknovel.explain import NoveltyMap, UCInverter
from sknovel.features import ActivationStore, CNNFeaturizer
from sknovel.metrics import (
    curve_auc,
    deletion_curve,
    inversion_identification_rate,
    inversion_mse_ratio,
    random_maps,
    removal_test,
)
from sknovel.plotting import ExplanationDisplay

N_PICKS = 8

data = load_mars_demo()
names = data.target_names[data.target]
pipe = Pipeline(
    [
        ("cnn", CNNFeaturizer(batch_size=64, memory=ActivationStore())),
        ("demud", Demud(n_components=10, n_selections=20)),
    ]
).fit(data.images)
features = pipe[0].transform(data.images)  # read from the store: no second pass
print("first picks:", ", ".join(names[pipe[-1].ranking_[:N_PICKS]]))

# %%
# Fine-tune a decoder that turns these features back into images
# --------------------------------------------------------------
# The paper's decoders learnt from 1.2 million ImageNet images, which are not available
# here. sknovel ships a decoder trained on the shared image sets (Imagenette, Mars, MNIST,
# Fashion-MNIST; ``pretrained=True``); on unseen images it is blurred, so it is fine-tuned
# on the collection being explained (transductive use), which takes a fraction of the time
# of training one from scratch and gives sharper pictures. How well it inverts: how often a
# decoded image is nearest (pixel error) its own source among 100 of the images (chance
# 1 %), and its pixel error over that of the mean image.
inverter = UCInverter(pipe[0], pretrained=True, epochs=25, random_state=0)
inverter.fit(data.images, features=features)  # the features at hand: no featurizing
decoded = inverter.inverse_transform(features)
targets = inverter.target_images(data.images)
print(
    f"decoded images identified among 100: "
    f"{inversion_identification_rate(targets, decoded, random_state=0):.0%} (chance 1%); "
    f"pixel error / that of the mean image: "
    f"{inversion_mse_ratio(targets, decoded, baseline=inverter.mean_image_):.2f}"
)

# %%
# The first eight picks, explained
# --------------------------------
# Each row: the pick; its features decoded ("Inverted"); the part the model of the earlier
# picks expected, x̂, decoded; the novel part e, decoded on top of the mean training features
# (the average image plus the novelty: it is not centred on grey, and the note under the
# column says so); and where the novelty lies. The heatmap is occlusion: a window a quarter
# of the image wide slides over the pick and is replaced with a blurred copy; the colour of
# a pixel is the **share of the pick's novelty score removed** by hiding a window that
# covers it (the largest such share, smoothed; 1 would be all of the novelty). Each heatmap
# runs from 0 (dark) to its own largest share (brightest), which its colour bar gives.
# Occlusion is the default because it was the most faithful method on DEMUD's first 20
# picks of the full Mars set (20 of 20 picks; integrated gradients 18, SmoothGrad 15;
# ``benchmarks/novelty_map_faithfulness.py``).
novelty = NoveltyMap.from_pipeline(pipe)
display = ExplanationDisplay.from_explanation(
    data.images,
    pipe[-1],
    positions=range(N_PICKS),
    features=features,
    inverter=inverter,
    novelty_map=novelty,
    labels=names,
)
plt.show()

# %%
# Are the heatmaps faithful?
# --------------------------
# For every pick, blur away the hottest 10 % of the image and see how much its score drops,
# against the drops of 20 random smooth regions of the same size, under the model the pick
# was selected under. A faithful map beats the median random region; a map no better than
# chance does so in half of the picks.
positions = list(range(N_PICKS))
models = pipe[-1].selection_models(features, positions)
score_fns = [novelty.score_function(model) for model in models]
picked = data.images[pipe[-1].ranking_[positions]] / 255.0
tests = [
    removal_test(score_fn, image, heat, random_state=0)
    for score_fn, image, heat in zip(score_fns, picked, display.heatmaps)
]
wins = sum(test.beats_random for test in tests)
print(f"removing the top 10 % beats random regions in {wins} of {N_PICKS} picks")
for position, test in zip(positions, tests):
    print(
        f"pick {position + 1:2d}: blurring the map's top 10 % lowers the score by "
        f"{test.drop / test.score:4.0%}, a random region of that size by "
        f"{np.median(test.random_drops) / test.score:4.0%} (median of 20)"
    )

# %%
# A deletion curve
# ----------------
# The first pick's score as ever more of its most novel pixels (by the map) are blurred
# away, against the same for random smooth maps; the area under the curve (divided by the
# pick's score) is lower for a faithful map.
score_fn, image, heat = score_fns[0], picked[0], display.heatmaps[0]
fig, ax = plt.subplots(figsize=(5, 3.5))
curve = deletion_curve(score_fn, image, heat)
ax.plot(curve.fractions, curve.scores, "o-", label=f"occlusion map, AUC {curve_auc(curve):.2f}")
random_aucs = []
for i, noise in enumerate(random_maps(heat.shape, 5, random_state=0)):
    random_curve = deletion_curve(score_fn, image, noise)
    random_aucs.append(curve_auc(random_curve))
    ax.plot(
        random_curve.fractions,
        random_curve.scores,
        color="grey",
        alpha=0.6,
        label="random maps" if i == 0 else None,
    )
print(
    f"deletion AUC of pick 1: map {curve_auc(curve):.2f}, "
    f"random maps {np.mean(random_aucs):.2f} on average"
)
ax.set(xlabel="fraction of pixels blurred away", ylabel="novelty score of pick 1")
ax.legend()
fig.tight_layout()
plt.show()
