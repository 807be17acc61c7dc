"""CounterfactualExplainer: shapes, score mapping, training, determinism, pickling, errors.

The MNIST test at the end checks that the method works: counterfactuals of anomalies get much
lower anomaly scores than the anomalies, and the concept classifier tells the concepts apart.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks

from sknovel.detectors import ConvAutoencoder
from sknovel.explain import CounterfactualExplainer
from sknovel.explain.counterfactuals._pseudo_anomalies import CORRUPTIONS, corrupt, pseudo_anomalies

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
NORMAL = (RNG.random((24, 8, 8)) * 0.5).astype(np.float32)  # dim images are normal
ANOMALOUS = (0.5 + RNG.random((12, 8, 8)) * 0.5).astype(np.float32)
FAST = {"epochs": 2, "width": 4, "batch_size": 8, "random_state": 0, "device": "cpu"}


def brightness_detector(x):
    """Anomaly score in [0, 1]: bright images are anomalous (threshold at mean 0.5)."""
    return torch.sigmoid(10 * (x.mean(dim=(1, 2, 3)) - 0.5))


class BrightnessModule(torch.nn.Module):
    """The same as a module with a weight and a batch norm (train/eval mode matters)."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(10.0))
        self.norm = torch.nn.BatchNorm1d(1)

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))
        return torch.sigmoid(self.gain * (mean - 0.5) + 0 * self.norm(mean[:, None])[:, 0])


@pytest.fixture(scope="module")
def fitted():
    return CounterfactualExplainer(brightness_detector, **FAST).fit(NORMAL, ANOMALOUS)


@pytest.fixture(scope="module")
def autoencoder():
    return ConvAutoencoder(epochs=2, batch_size=8, random_state=0).fit(NORMAL)


def test_fitted_attributes(fitted):
    assert fitted.input_shape_ == (8, 8, 1)
    assert fitted.n_epochs_ == 2 == len(fitted.loss_curve_)
    assert fitted.n_normal_ == 24 and fitted.n_anomalous_ == 12
    assert fitted.n_pseudo_anomalies_above_threshold_ is None
    assert fitted.training_scores_.shape == (36,)
    assert fitted.threshold_ == 0.5 and fitted.score_scale_ is None
    np.testing.assert_array_equal(fitted.bin_values_, [0, 0.5, 1])
    assert fitted.discriminator_ is not None and not fitted.discriminator_.training
    for name in ("detector", "reconstruction", "cycle", "concept", "adversarial", "discriminator"):
        assert len(fitted.loss_components_[name]) == 2
    assert not fitted.generator_.training and not fitted.concept_classifier_.training
    assert all(p.grad is None for p in fitted.generator_.parameters())


def test_explanation_shapes_and_scores(fitted):
    explanation = fitted.explain(ANOMALOUS[:5])
    assert explanation.counterfactuals.shape == (5, 2, 8, 8)
    assert explanation.counterfactuals.dtype == np.float32
    assert explanation.counterfactuals.min() >= 0 and explanation.counterfactuals.max() <= 1
    assert explanation.scores.shape == (5, 2) and explanation.original_scores.shape == (5,)
    assert explanation.concept_probabilities.shape == (5, 2, 2)
    assert explanation.threshold == 0.5
    np.testing.assert_allclose(
        explanation.original_scores, fitted.anomaly_score(ANOMALOUS[:5]), rtol=1e-6
    )
    np.testing.assert_allclose(
        explanation.scores.ravel(),
        fitted.anomaly_score(explanation.counterfactuals.reshape(10, 8, 8)),
        rtol=1e-5,
    )
    channels_last = fitted.explain(ANOMALOUS[:5, :, :, np.newaxis])
    assert channels_last.counterfactuals.shape == (5, 2, 8, 8, 1)
    np.testing.assert_array_equal(
        channels_last.counterfactuals[..., 0], explanation.counterfactuals
    )


def test_explanations_do_not_depend_on_the_batches(fitted):
    whole = fitted.explain(ANOMALOUS)
    small = pickle.loads(pickle.dumps(fitted)).set_params(batch_size=5).explain(ANOMALOUS)
    np.testing.assert_allclose(small.counterfactuals, whole.counterfactuals, atol=1e-6)
    uint8 = (ANOMALOUS * 255).round().astype(np.uint8)
    np.testing.assert_allclose(
        fitted.explain(uint8).original_scores, fitted.anomaly_score(uint8 / 255.0), rtol=1e-6
    )


@pytest.mark.parametrize("n_concepts", [1, 3])
def test_colour_images_and_other_concept_counts(n_concepts):
    normal = RNG.random((10, 6, 7, 3)).astype(np.float32) * 0.5
    explainer = CounterfactualExplainer(brightness_detector, n_concepts=n_concepts, **FAST)
    explanation = explainer.fit(normal, 1 - normal).explain(normal[:2])
    assert explanation.counterfactuals.shape == (2, n_concepts, 6, 7, 3)
    assert explanation.concept_probabilities.shape == (2, n_concepts, n_concepts)


def test_torch_module_detector_is_left_as_it_was():
    module = BrightnessModule().train()
    before = {key: value.clone() for key, value in module.state_dict().items()}
    explainer = CounterfactualExplainer(module, **FAST).fit(NORMAL, ANOMALOUS)
    explainer.explain(ANOMALOUS[:3])
    assert module.training and module.gain.requires_grad and module.gain.grad is None
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_autoencoder_scores_map_its_threshold_to_one_half(autoencoder):
    explainer = CounterfactualExplainer(autoencoder, **FAST).fit(NORMAL, ANOMALOUS)
    images = np.concatenate([NORMAL, ANOMALOUS])
    losses = -autoencoder.score_samples(images)
    scale = -autoencoder.offset_ / np.log(2)
    assert explainer.score_scale_ == pytest.approx(scale)
    expected = 1 - np.exp(-losses / scale)
    np.testing.assert_allclose(explainer.anomaly_score(images), expected, rtol=1e-4)
    # the detector's own decision and the mapped score's agree (0.5 is still normal)
    normal_by_detector = autoencoder.predict(images) == 1
    np.testing.assert_array_equal(expected <= 0.5, normal_by_detector)
    assert not autoencoder.module_.training
    assert all(p.requires_grad and p.grad is None for p in autoencoder.module_.parameters())


def test_pseudo_anomalies_when_none_are_given(autoencoder):
    explainer = CounterfactualExplainer(autoencoder, **FAST).fit(NORMAL)
    assert explainer.n_anomalous_ == explainer.n_normal_ == 24
    assert 0 <= explainer.n_pseudo_anomalies_above_threshold_ <= 24
    made = explainer.training_scores_[24:]
    n_above = explainer.n_pseudo_anomalies_above_threshold_
    assert np.all(made[:n_above] > 0.5)


def test_corruptions_change_images_and_keep_their_range():
    images = RNG.random((40, 8, 8, 1)).astype(np.float32)
    corrupted, kinds = corrupt(images, np.random.RandomState(0))
    assert corrupted.shape == images.shape and corrupted.dtype == np.float32
    assert corrupted.min() >= 0 and corrupted.max() <= 1
    assert set(kinds) == set(range(len(CORRUPTIONS)))
    assert np.mean([not np.array_equal(a, b) for a, b in zip(corrupted, images)]) > 0.9
    again, _ = corrupt(images, np.random.RandomState(0))
    np.testing.assert_array_equal(again, corrupted)


def test_pseudo_anomalies_prefer_images_scored_anomalous(monkeypatch):
    monkeypatch.setattr("sknovel.explain.counterfactuals._pseudo_anomalies.MAX_ROUNDS", 1)
    images = RNG.random((30, 8, 8, 1)).astype(np.float32) * 0.4

    def score(batch):
        return batch.max(axis=(1, 2, 3))  # strokes (value 1) make images anomalous

    made, n_above = pseudo_anomalies(images, score, 0.95, np.random.RandomState(0))
    assert made.shape == images.shape
    assert 0 < n_above < 30  # in one round, about a fifth of the corruptions are strokes
    assert np.all(score(made[:n_above]) > 0.95)
    everything, n_all = pseudo_anomalies(images, score, -1, np.random.RandomState(0))
    assert n_all == 30 and everything.shape == images.shape


def test_without_the_adversarial_term(fitted):
    explainer = CounterfactualExplainer(brightness_detector, adversarial=False, **FAST)
    explainer.fit(NORMAL, ANOMALOUS)
    assert explainer.discriminator_ is None
    assert explainer.loss_components_["adversarial"] == []
    assert explainer.loss_components_["discriminator"] == []
    assert len(explainer.loss_components_["cycle"]) == 2
    assert not np.array_equal(
        explainer.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )
    restored = pickle.loads(pickle.dumps(explainer))
    assert restored.discriminator_ is None
    np.testing.assert_array_equal(
        restored.explain(ANOMALOUS).counterfactuals, explainer.explain(ANOMALOUS).counterfactuals
    )


def test_pickle_round_trip_holds_numpy_weights_and_loads_on_the_cpu(fitted, autoencoder):
    explainer = CounterfactualExplainer(autoencoder, **FAST).fit(NORMAL, ANOMALOUS)
    state = explainer.__getstate__()
    assert "generator_" not in state and "concept_classifier_" not in state
    assert all(isinstance(v, np.ndarray) for v in state["_generator_state"].values())
    restored = pickle.loads(pickle.dumps(explainer))
    assert next(restored.generator_.parameters()).device.type == "cpu"
    assert not restored.generator_.training
    for key, value in explainer.discriminator_.state_dict().items():
        assert torch.equal(restored.discriminator_.state_dict()[key], value), key
    before, after = explainer.explain(ANOMALOUS), restored.explain(ANOMALOUS)
    for name in ("counterfactuals", "scores", "original_scores", "concept_probabilities"):
        np.testing.assert_array_equal(after[name], before[name])
    unfitted = pickle.loads(pickle.dumps(CounterfactualExplainer(brightness_detector)))
    assert not hasattr(unfitted, "generator_")


def test_same_random_state_same_explainer_bit_for_bit(fitted):
    again = CounterfactualExplainer(brightness_detector, **FAST).fit(NORMAL, ANOMALOUS)
    np.testing.assert_array_equal(
        again.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )
    assert again.loss_curve_ == fitted.loss_curve_
    other = clone(fitted).set_params(random_state=1).fit(NORMAL, ANOMALOUS)
    assert not np.array_equal(
        other.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )


def test_fitting_does_not_touch_torch_global_random_state():
    state = torch.random.get_rng_state()
    CounterfactualExplainer(brightness_detector, **FAST).fit(NORMAL)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_verbose_prints_the_losses_of_every_epoch(capsys):
    CounterfactualExplainer(brightness_detector, **{**FAST, "verbose": 1}).fit(NORMAL, ANOMALOUS)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("[CounterfactualExplainer] epoch 2/2")
    assert "detector" in lines[0] and "concept" in lines[0]


@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_estimator_cloneable,
        estimator_checks.check_estimator_repr,
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
        estimator_checks.check_param_validation,
        estimator_checks.check_estimators_unfitted,
    ],
    ids=lambda check: check.__name__,
)
def test_sklearn_checks_that_need_no_images(check):
    """scikit-learn's data-free checks (the others feed 2-D arrays, which are not images)."""
    check("CounterfactualExplainer", CounterfactualExplainer(brightness_detector, epochs=1))


# ---------------------------------------------------------------------------------- bad input


def not_differentiable(x):
    return torch.as_tensor(x.detach().numpy().mean(axis=(1, 2, 3)))


@pytest.mark.parametrize(
    "detector, error, match",
    [
        (IsolationForest().fit(NORMAL.reshape(24, -1)), TypeError, "differentiable"),
        (object(), TypeError, "detector must be a fitted sknovel ConvAutoencoder"),
        (lambda x: x.detach().numpy().mean(axis=(1, 2, 3)), TypeError, "not a torch tensor"),
        (not_differentiable, TypeError, "do not depend differentiably"),
        (lambda x: 3 * x.mean(dim=(1, 2, 3)), ValueError, r"scores in \[0, 1\]"),
        (lambda x: x.mean(dim=(2, 3)).repeat(1, 2), ValueError, "one score per image"),
        (lambda x: x.reshape(3, 3), TypeError, "failed"),
        (ConvAutoencoder(), NotFittedError, "not fitted"),
    ],
    ids=[
        "isolation-forest",
        "object",
        "numpy",
        "no-gradient",
        "range",
        "shape",
        "raises",
        "unfitted",
    ],
)
def test_unusable_detectors(detector, error, match):
    with pytest.raises(error, match=match):
        CounterfactualExplainer(detector, **FAST).fit(NORMAL, ANOMALOUS)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_concepts": 0}, "'n_concepts' parameter"),
        ({"n_bins": 1}, "'n_bins' parameter"),
        ({"epochs": 0}, "'epochs' parameter"),
        ({"lambda_concept": -1.0}, "'lambda_concept' parameter"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        CounterfactualExplainer(brightness_detector, **{**FAST, **params}).fit(NORMAL)


def test_bad_images(fitted, autoencoder):
    explainer = CounterfactualExplainer(brightness_detector, **FAST)
    with pytest.raises(ValueError, match=re.escape("X_normal must be images of shape")):
        explainer.fit(NORMAL.reshape(24, -1))
    with pytest.raises(ValueError, match="X_anomalous has images of shape"):
        explainer.fit(NORMAL, ANOMALOUS[:, :6])
    with pytest.raises(ValueError, match="float X_anomalous must lie in"):
        explainer.fit(NORMAL, ANOMALOUS * 2)
    with pytest.raises(ValueError, match="at least 2×2 pixels"):
        explainer.fit(NORMAL[:, :1, :1])
    with pytest.raises(ValueError, match=r"the detector was fitted on \(8, 8, 1\)"):
        CounterfactualExplainer(autoencoder, **FAST).fit(NORMAL[:, :6, :6])
    with pytest.raises(ValueError, match=r"CounterfactualExplainer was fitted on \(8, 8, 1\)"):
        fitted.explain(NORMAL[:, :, :6])
    with pytest.raises(ValueError, match="X must have 1, 3 or 4 channels"):
        fitted.explain(NORMAL[:, :, :, None].repeat(2, axis=3))


def test_explain_before_fit():
    explainer = CounterfactualExplainer(brightness_detector)
    with pytest.raises(NotFittedError):
        explainer.explain(NORMAL)
    with pytest.raises(NotFittedError):
        explainer.anomaly_score(NORMAL)


# ----------------------------------------------------------------------- real data: MNIST


@pytest.fixture(scope="module")
def mnist_single():
    """One digit normal (0), anomalies from the others; training and test images disjoint."""
    from sknovel.datasets import find_data_file, load_labelled_images

    path = find_data_file("mnist_test.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("mnist_test.npz is absent: the shared data sets live in ../shared/data in CI")
    data = load_labelled_images(path)
    first, second = slice(0, 5000), slice(5000, None)
    images, labels = data.images[first], data.labels[first]
    test_images, test_labels = data.images[second], data.labels[second]
    return (
        images[labels == 0][:300],
        images[labels != 0][:300],
        test_images[test_labels != 0][:100],
    )


@pytest.mark.data
def test_counterfactuals_of_mnist_anomalies_are_normal_and_distinct(mnist_single):
    """Digit 0 normal: counterfactuals of other digits score far lower, concepts differ."""
    normal, anomalous, test_anomalies = mnist_single
    detector = ConvAutoencoder(epochs=10, batch_size=32, n_iter_no_change=None, random_state=0)
    detector.fit(normal)
    explainer = CounterfactualExplainer(detector, epochs=6, random_state=0, device="cpu")
    explainer.fit(normal, anomalous)
    explanation = explainer.explain(test_anomalies)
    original, changed = explanation.original_scores, explanation.scores
    assert np.mean(original > 0.5) > 0.8  # the detector finds most of them anomalous
    # markedly lower: on average by more than half the distance to 0, for each concept
    assert np.all(changed.mean(axis=0) < 0.5 * original.mean())
    assert np.mean(changed < original[:, np.newaxis]) > 0.9
    predicted = explanation.concept_probabilities.argmax(axis=2)
    accuracy = np.mean(predicted == np.arange(explainer.n_concepts))
    assert accuracy > 0.75  # chance is 0.5; a classifier blind to the concept gets 0.5
