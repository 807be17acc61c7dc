"""CounterfactualExplainer: shapes, score mapping, training, determinism, pickling, errors.

Detectors are taken through the detector protocol (``torch_score_samples`` and ``offset_``) or
as differentiable callables; training images come as ``fit(X, y)`` with y = 1 (normal) or -1
(anomalous), and the old ``fit(X_normal, X_anomalous)`` still works with a FutureWarning.

The MNIST test at the end checks that the method works: counterfactuals of anomalies get much
lower anomaly scores than the anomalies, and the concept classifier tells the concepts apart.
"""

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks

from sknovel.detectors import ConvAutoencoder
from sknovel.explain import CounterfactualExplainer
from sknovel.explain.counterfactuals._detector_score import make_detector_score
from sknovel.explain.counterfactuals._pseudo_anomalies import CORRUPTIONS, corrupt, pseudo_anomalies
from sknovel.explain.counterfactuals._training import (
    CALIBRATION_RANGE,
    MAX_WEIGHT_FACTOR,
    decay_factor,
    lowest_level_loss,
    nearest_levels,
    next_correction,
)

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
NORMAL = (RNG.random((24, 8, 8)) * 0.5).astype(np.float32)  # dim images are normal
ANOMALOUS = (0.5 + RNG.random((12, 8, 8)) * 0.5).astype(np.float32)
X = np.concatenate([NORMAL, ANOMALOUS])
Y = np.r_[np.ones(24), -np.ones(12)]  # 1 normal, -1 anomalous (as an outlier detector predicts)
# Two epochs rarely reach a training validity of 0.5: no restarts, which would double the time.
FAST = {"epochs": 2, "width": 4, "batch_size": 8, "random_state": 0, "device": "cpu"}
FAST["max_restarts"] = 0


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


class MeanImageDetector:
    """A detector by the protocol alone (not a ConvAutoencoder, not a torch module).

    ``score_samples`` is minus the mean squared distance to the mean training image, plus
    `shift`; ``offset_`` is its 10th percentile on the training images.
    """

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y=None):
        images = np.asarray(X, dtype=np.float32)
        self.mean_ = torch.as_tensor(images.mean(axis=0))[None, None]
        self.input_shape_ = (*images.shape[1:], 1)
        self.offset_ = float(np.percentile(self.score_samples(images), 10))
        return self

    def score_samples(self, X):
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(X, dtype=np.float32))[:, None]
            return self.torch_score_samples(x).double().numpy()

    def torch_score_samples(self, x):
        return self.shift - ((x - self.mean_.to(x.device)) ** 2).mean(dim=(1, 2, 3))


@pytest.fixture(scope="module")
def fitted():
    return CounterfactualExplainer(brightness_detector, **FAST).fit(X, Y)


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
    typical = fitted.target_score_
    np.testing.assert_allclose(fitted.bin_values_, [typical, (typical + 1) / 2, 1])
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
    for name, value in explanation.items():  # the contract: one row per explained item
        assert np.ndim(value) == 0 or len(value) == 5, name
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
    explainer.fit(np.concatenate([normal, 1 - normal]), np.r_[np.ones(10), -np.ones(10)])
    explanation = explainer.explain(normal[:2])
    assert explanation.counterfactuals.shape == (2, n_concepts, 6, 7, 3)
    assert explanation.concept_probabilities.shape == (2, n_concepts, n_concepts)


# ---------------------------------------------------------------------- fit(X, y) and labels


def test_labels_not_positions_say_which_images_are_anomalous(fitted):
    # anomalies interleaved with the normal images, each kind in its own order
    order = np.argsort(np.r_[np.arange(24), 2 * np.arange(12) + 0.5])
    assert set(Y[order[:4]]) == {1, -1}
    shuffled = CounterfactualExplainer(brightness_detector, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new call is not deprecated
        shuffled.fit(X[order], list(Y[order].astype(int)))
    assert shuffled.n_normal_ == 24 and shuffled.n_anomalous_ == 12
    # normal images keep their order and come first, as in fit(X, Y): the same explainer
    np.testing.assert_array_equal(shuffled.training_scores_, fitted.training_scores_)
    np.testing.assert_array_equal(
        shuffled.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )


def test_all_normal_labels_are_like_no_labels():
    quick = {**FAST, "epochs": 1}
    unlabelled = CounterfactualExplainer(brightness_detector, **quick).fit(NORMAL)
    labelled = CounterfactualExplainer(brightness_detector, **quick).fit(NORMAL, np.ones(24))
    assert labelled.n_pseudo_anomalies_above_threshold_ is not None
    assert labelled.n_anomalous_ == unlabelled.n_anomalous_ == 24
    np.testing.assert_array_equal(labelled.training_scores_, unlabelled.training_scores_)


@pytest.mark.parametrize(
    "y, match",
    [
        (Y[:-1], r"one label per image of X, shape \(36,\).*got shape \(35,\)"),
        (Y[:, None], r"shape \(36,\).*got shape \(36, 1\)"),
        (np.r_[np.ones(24), np.zeros(12)], r"1 \(normal\) or -1 \(anomalous\).*e\.g\. \[0\.0"),
        (np.r_[np.ones(35), np.nan], "1 \\(normal\\) or -1"),
        (Y > 0, "dtype bool"),
        (np.where(Y > 0, "normal", "anomalous"), "dtype <U9"),
        (-np.ones(36), r"labels no image normal \(1\)"),
    ],
    ids=["length", "column", "zero", "nan", "bool", "strings", "no-normal"],
)
def test_bad_labels(y, match):
    with pytest.raises(ValueError, match=f"^y .*{match}"):
        CounterfactualExplainer(brightness_detector, **FAST).fit(X, y)


NEW_CALL = "fit(np.concatenate([X_normal, X_anomalous]), y=np.r_[np.ones(n), -np.ones(m)])"


@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "X_anomalous="])
def test_old_call_with_anomalous_images_warns_and_gives_the_same_explainer(fitted, keyword):
    explainer = CounterfactualExplainer(brightness_detector, **FAST)
    with pytest.warns(FutureWarning, match=re.escape(NEW_CALL)) as record:
        if keyword:
            explainer.fit(NORMAL, X_anomalous=ANOMALOUS)
        else:
            explainer.fit(NORMAL, ANOMALOUS)
    assert record[0].filename == __file__  # the warning points at the caller's line
    assert explainer.n_normal_ == 24 and explainer.n_anomalous_ == 12
    for key, value in fitted.generator_.state_dict().items():
        assert torch.equal(explainer.generator_.state_dict()[key], value), key
    before, after = fitted.explain(ANOMALOUS), explainer.explain(ANOMALOUS)
    for name in ("counterfactuals", "scores", "original_scores", "concept_probabilities"):
        np.testing.assert_array_equal(after[name], before[name])


def test_old_keyword_cannot_be_combined_with_labels():
    explainer = CounterfactualExplainer(brightness_detector, **FAST)
    with pytest.raises(ValueError, match="X_anomalous .* cannot be combined with y"):
        explainer.fit(NORMAL, np.ones(24), X_anomalous=ANOMALOUS)


def test_clone_and_pipeline_pass_labels_as_y(fitted):
    """clone(explainer).fit(X) and a Pipeline's fit(X, y) are the scikit-learn calls."""
    assert clone(fitted).set_params(epochs=1).fit(NORMAL).n_epochs_ == 1
    pipe = Pipeline([("counterfactuals", clone(fitted))]).fit(X, Y)
    np.testing.assert_array_equal(
        pipe[-1].explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )
    assert not hasattr(CounterfactualExplainer, "set_fit_request")  # X_anomalous is no metadata


# -------------------------------------------------------------------------------- detectors


def test_any_detector_with_the_protocol_is_explained():
    detector = MeanImageDetector().fit(NORMAL)
    explainer = CounterfactualExplainer(detector, **FAST).fit(X, Y)
    losses = -detector.score_samples(X)
    scale = -detector.offset_ / np.log(2)
    assert explainer.score_scale_ == pytest.approx(scale)
    expected = 1 - np.exp(-losses / scale)
    np.testing.assert_allclose(explainer.anomaly_score(X), expected, rtol=1e-5)
    assert np.mean(explainer.training_scores_[24:] > 0.5) == 1  # the bright images
    explanation = explainer.explain(ANOMALOUS[:3])
    assert explanation.counterfactuals.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(explanation.original_scores, expected[24:27], rtol=1e-5)
    with pytest.raises(ValueError, match=r"the detector was fitted on \(8, 8, 1\)"):
        CounterfactualExplainer(detector, **FAST).fit(NORMAL[:, :6, :6])
    with pytest.raises(NotFittedError, match="MeanImageDetector.*no threshold offset_"):
        CounterfactualExplainer(MeanImageDetector(), **FAST).fit(X, Y)


def test_protocol_scores_above_zero_map_to_zero():
    detector = MeanImageDetector().fit(NORMAL)
    explainer = CounterfactualExplainer(detector, **{**FAST, "epochs": 1}).fit(X, Y)
    detector.shift = 0.02  # now most normal images score above 0: d < 0
    positive = detector.score_samples(X) > 0
    assert 0 < positive.sum() < 36
    scores = explainer.anomaly_score(X)
    np.testing.assert_array_equal(scores[positive], 0)
    assert np.all(scores[~positive] > 0)


def test_torch_module_detector_is_left_as_it_was():
    module = BrightnessModule().train()
    before = {key: value.clone() for key, value in module.state_dict().items()}
    explainer = CounterfactualExplainer(module, **FAST).fit(X, Y)
    explainer.explain(ANOMALOUS[:3])
    assert module.training and module.gain.requires_grad and module.gain.grad is None
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_log_probabilities_of_a_protocol_detector_keep_their_gradient():
    """Against float64 logarithms of φ; where φ rounds to 1 the gradient is still d / s's."""
    detector = MeanImageDetector().fit(NORMAL)
    score = make_detector_score(detector)
    images = np.concatenate([NORMAL[:4], ANOMALOUS[:4], np.ones((2, 8, 8), np.float32)])
    x = torch.as_tensor(images[:, None]).requires_grad_(True)
    log_score, log_complement = score.log_probabilities(x)
    units = np.maximum(-detector.score_samples(images), 0) / score.scale  # d / s, float64
    np.testing.assert_allclose(log_complement.detach().numpy(), -units, rtol=1e-5)
    np.testing.assert_allclose(
        log_score.detach().numpy(), np.log(-np.expm1(-units)), rtol=1e-4, atol=1e-6
    )
    far = torch.full((2, 1, 8, 8), 1.0, requires_grad=True)
    # φ beyond 1 - 1e-6, where a clipped probability's logarithm has no gradient ...
    assert float(score(far).detach().min()) > 1 - 1e-6
    (gradient,) = torch.autograd.grad(score.log_probabilities(far)[1].sum(), far)
    mean = detector.mean_.expand_as(far)  # ... yet d(d/s)/dx = 2 (x - mean) / (64 s)
    expected = -2 * (far.detach() - mean) / (64 * score.scale)
    np.testing.assert_allclose(gradient.numpy(), expected.numpy(), rtol=1e-4)


def test_autoencoder_scores_map_its_threshold_to_one_half(autoencoder):
    explainer = CounterfactualExplainer(autoencoder, **FAST).fit(X, Y)
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


# ------------------------------------------------------------------------- the target score


def test_typical_target_is_a_quantile_of_the_scores_of_the_normal_training_images(fitted):
    normal_scores = [float(brightness_detector(torch.as_tensor(x[None, None]))) for x in NORMAL]
    assert fitted.target_quantile == 0.6
    assert fitted.target_score_ == pytest.approx(np.quantile(normal_scores, 0.6), rel=1e-6)
    assert fitted.target_score_ < fitted.threshold_
    assert fitted.explain(ANOMALOUS[:2]).target_score == fitted.target_score_
    # pseudo-anomalies do not count: the normal images alone set the target
    alone = CounterfactualExplainer(brightness_detector, **FAST).fit(NORMAL)
    assert alone.target_score_ == pytest.approx(fitted.target_score_, rel=1e-6)


def test_a_float_target_sets_the_lowest_level():
    explainer = CounterfactualExplainer(brightness_detector, **FAST, target=0.2, n_bins=5)
    explainer.fit(X, Y)
    assert explainer.target_score_ == 0.2
    np.testing.assert_allclose(explainer.bin_values_, [0.2, 0.4, 0.6, 0.8, 1.0])


def test_target_zero_trains_as_without_a_target(fitted):
    """target=0.0 is the "as normal as possible" of earlier versions: levels 0, 1/2, 1."""
    explainer = CounterfactualExplainer(brightness_detector, **FAST, target=0.0).fit(X, Y)
    np.testing.assert_array_equal(explainer.bin_values_, [0, 0.5, 1])
    assert not np.array_equal(
        explainer.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1, width=32), min_size=1, max_size=20),
    lowest=st.floats(0, 0.49),
    n_bins=st.integers(2, 7),
)
def test_nearest_levels_are_nearest(scores, lowest, n_bins):
    """Against the slow reference: the distance to the chosen level is the least distance."""
    levels = np.linspace(lowest, 1, n_bins)
    chosen = nearest_levels(torch.tensor(scores), lowest, n_bins).numpy()
    distances = np.abs(np.asarray(scores, dtype=np.float64)[:, None] - levels)
    assert chosen.min() >= 0 and chosen.max() < n_bins
    np.testing.assert_allclose(
        distances[np.arange(len(scores)), chosen], distances.min(axis=1), atol=1e-6
    )


def test_counterfactuals_land_near_the_typical_normal_score():
    """Not beyond it: "as normal as possible" (target 0) goes much further.

    Normal images have mean brightness 0.25-0.5 (scores about 0.29), anomalies 0.5-1; a dark
    image would score near 0. The typical target keeps the counterfactuals near 0.29.
    """
    rng = np.random.default_rng(0)
    normal = (0.25 + rng.random((64, 8, 8)) * 0.25).astype(np.float32)
    anomalous = (0.5 + rng.random((32, 8, 8)) * 0.5).astype(np.float32)

    def detector(x):
        return torch.sigmoid(12 * (x.mean(dim=(1, 2, 3)) - 0.45))

    # The image generator at a constant step size: in 6 epochs the blend generator's second
    # concept gets only part of the way (median 0.40).
    params = {**FAST, "epochs": 6, "width": 8, "batch_size": 16, "generator_output": "image"}
    params["learning_rate_decay"] = False
    params["target_quantile"] = 0.5  # 6 epochs land 0.06 below the median, 0.09 below 0.6's
    images, labels = np.concatenate([normal, anomalous]), np.r_[np.ones(64), -np.ones(32)]
    typical = CounterfactualExplainer(detector, **params).fit(images, labels)
    assert 0.25 < typical.target_score_ < 0.32
    medians = np.median(typical.explain(anomalous).scores, axis=0)
    np.testing.assert_allclose(medians, typical.target_score_, atol=0.07)
    lowest = CounterfactualExplainer(detector, **params, target=0.0).fit(images, labels)
    assert np.all(np.median(lowest.explain(anomalous).scores, axis=0) < medians - 0.1)


def _loss_units(score):
    return -np.log1p(-score)


@settings(max_examples=80, deadline=None)
@given(
    target=st.floats(0.001, 0.45),
    corrections=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
)
def test_calibration_answers_a_miss_with_a_lower_loss_target_then_a_higher_weight(
    target, corrections
):
    """Counterfactuals above the target lower the loss target, down to 1/16 of the target's
    loss; beyond that they raise the weight, up to MAX_WEIGHT_FACTOR. Those below the
    target raise the loss target, up to 4 times its loss and below the threshold."""
    low, high = CALIBRATION_RANGE
    correction = 0.0
    previous = lowest_level_loss(correction, target)
    assert previous == (pytest.approx(target), 1.0)
    for median in corrections:
        correction = next_correction(correction, median, target)
        score, weight = lowest_level_loss(correction, target)
        u, u_target = _loss_units(score), _loss_units(target)
        assert u_target * low * (1 - 1e-9) <= u <= u_target * high * (1 + 1e-9)
        assert u <= 0.9 * np.log(2) * (1 + 1e-9)
        assert 1.0 <= weight <= MAX_WEIGHT_FACTOR * (1 + 1e-9)
        assert weight == 1.0 or u == pytest.approx(u_target * low)
        above = _loss_units(median) > u_target
        if above:
            assert score <= previous[0] * (1 + 1e-9) and weight >= previous[1]
        else:
            assert score >= previous[0] * (1 - 1e-9) or u == pytest.approx(0.9 * np.log(2))
            assert weight <= previous[1]
        previous = (score, weight)


def test_calibration_keeps_the_loss_when_counterfactuals_hit_the_target():
    assert next_correction(0.7, 0.2, 0.2) == pytest.approx(0.7)
    # Twice the target's loss: half of log 2 is corrected, the loss target's u falls by √2.
    target = 0.1
    median = -np.expm1(-2 * _loss_units(target))
    correction = next_correction(0.0, median, target)
    assert correction == pytest.approx(0.5 * np.log(2))
    expected = -np.expm1(-_loss_units(target) / np.sqrt(2))
    assert lowest_level_loss(correction, target) == (pytest.approx(expected), 1.0)
    # Far above, for long: the floor of the loss target, then the largest weight.
    for _ in range(20):
        correction = next_correction(correction, 0.49, 0.001)
    score, weight = lowest_level_loss(correction, 0.001)
    assert _loss_units(score) == pytest.approx(_loss_units(0.001) / 16)
    assert weight == pytest.approx(MAX_WEIGHT_FACTOR)
    assert next_correction(0.0, 0.3, 0.0) == 0.0  # "as normal as possible": nothing to aim at


def test_calibration_is_recorded_and_changes_only_what_the_detector_term_asks():
    """From a quarter of the epochs on, each epoch records the median score of the
    calibration counterfactuals and the loss target it set; the levels stay put."""
    params = {**FAST, "epochs": 4}
    plain = CounterfactualExplainer(brightness_detector, **params, calibrate_target=False)
    plain.fit(X, Y)
    assert plain.calibration_curve_ == []
    assert plain.lowest_loss_target_ == plain.target_score_
    assert plain.lowest_loss_weight_ == 1.0
    calibrated = CounterfactualExplainer(brightness_detector, **params).fit(X, Y)
    assert len(calibrated.calibration_curve_) == 4  # epochs 1-4 are all >= 0.25 * 4
    np.testing.assert_array_equal(calibrated.bin_values_, plain.bin_values_)
    correction = 0.0
    for median, loss_target, weight in calibrated.calibration_curve_:
        correction = next_correction(correction, median, calibrated.target_score_)
        assert (loss_target, weight) == lowest_level_loss(correction, calibrated.target_score_)
    assert calibrated.lowest_loss_target_ == loss_target
    assert calibrated.lowest_loss_weight_ == weight


def test_typical_target_needs_normal_images_called_normal():
    with pytest.raises(
        ValueError,
        match=r"target='typical' needs .* median score of its normal training images is 0\.9",
    ):
        CounterfactualExplainer(brightness_detector, **FAST, target_quantile=0.5).fit(ANOMALOUS)
    # a float target does not depend on the detector's view of the normal images
    CounterfactualExplainer(brightness_detector, **FAST, target=0.1).fit(ANOMALOUS)


def test_proximity_term_keeps_counterfactuals_near_their_anomalies():
    params = {**FAST, "epochs": 4, "adversarial": False}
    free = CounterfactualExplainer(brightness_detector, **params).fit(X, Y)
    near = CounterfactualExplainer(brightness_detector, **params, lambda_proximity=50.0).fit(X, Y)
    assert len(near.loss_components_["proximity"]) == 4
    assert near.loss_components_["proximity"][-1] < free.loss_components_["proximity"][-1]

    def change(explainer):
        counterfactuals = explainer.explain(ANOMALOUS).counterfactuals
        return np.abs(counterfactuals - ANOMALOUS[:, None]).mean()

    assert change(near) < 0.9 * change(free)  # 0.21 vs 0.26: darkening is needed


def test_without_the_adversarial_term(fitted):
    explainer = CounterfactualExplainer(brightness_detector, adversarial=False, **FAST)
    explainer.fit(X, Y)
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


def test_blend_generator_keeps_what_its_mask_keeps():
    from sknovel.explain.counterfactuals._networks import CounterfactualGenerator

    torch.manual_seed(0)
    images = torch.rand(6, 3, 9, 7)  # sizes that are not multiples of 4: padded and cropped
    condition = torch.arange(6) % 4
    blend = CounterfactualGenerator(3, 4, 4, output="blend").eval()
    with torch.no_grad():
        started = blend(images, condition)
        assert started.shape == images.shape
        assert 0 <= started.min() and started.max() <= 1
        blend.head.bias[0] = 100.0  # the mask keeps everything: the output is the input
        torch.testing.assert_close(blend(images, condition), images)
        blend.head.bias[0] = -100.0  # it keeps nothing: the output is the paint alone
        repainted = blend(images, condition)
        blend.head.bias[0] = -200.0
        torch.testing.assert_close(blend(images, condition), repainted)
        # In between, each pixel lies between the input and the paint.
        low, high = torch.minimum(images, repainted), torch.maximum(images, repainted)
        assert bool(((started >= low - 1e-6) & (started <= high + 1e-6)).all())
    plain = CounterfactualGenerator(3, 4, 4, output="image").eval()
    assert plain.head.out_channels == 3 and blend.head.out_channels == 4


def test_auto_generator_output_repaints_for_a_classifier_and_draws_for_an_autoencoder(
    autoencoder,
):
    """The defaults: "auto" picks "image" for a detector that reconstructs, else "blend";
    the step size decays."""
    assert CounterfactualExplainer(brightness_detector).get_params()["learning_rate_decay"]
    params = {**FAST, "epochs": 1}
    by_detector = {
        "callable": brightness_detector,
        "protocol": MeanImageDetector().fit(NORMAL),
        "autoencoder": autoencoder,
    }
    chosen = {}
    for name, detector in by_detector.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            explainer = CounterfactualExplainer(detector, **params).fit(X, Y)
        chosen[name] = explainer.generator_output_
        assert explainer.generator_.output == explainer.generator_output_
        assert explainer.get_params()["generator_output"] == "auto"
    assert chosen == {"callable": "blend", "protocol": "blend", "autoencoder": "image"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        explicit = CounterfactualExplainer(autoencoder, **params, generator_output="blend")
        assert explicit.fit(X, Y).generator_output_ == "blend"


@pytest.mark.parametrize("output", ["blend", "image"])
def test_both_generator_outputs_train_explain_and_pickle(output):
    explainer = CounterfactualExplainer(brightness_detector, generator_output=output, **FAST)
    explanation = explainer.fit(X, Y).explain(ANOMALOUS)
    assert explainer.generator_.output == output
    assert explanation.counterfactuals.shape == (12, 2, 8, 8)
    restored = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_array_equal(
        restored.explain(ANOMALOUS).counterfactuals, explanation.counterfactuals
    )


def test_explainers_pickled_before_generator_output_load_as_image_generators():
    fitted = CounterfactualExplainer(brightness_detector, generator_output="image", **FAST)
    fitted.fit(X, Y)
    state = fitted.__getstate__()
    del state["generator_output"], state["generator_output_"]
    state["_network_config"] = {k: v for k, v in state["_network_config"].items() if k != "output"}
    restored = CounterfactualExplainer.__new__(CounterfactualExplainer)
    restored.__setstate__(state)
    assert restored.get_params()["generator_output"] == "image"
    assert restored.generator_output_ == "image"
    np.testing.assert_array_equal(
        restored.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )


def test_decay_factor_is_constant_for_half_the_epochs_then_falls_by_equal_steps():
    assert [decay_factor(e, 6) for e in range(1, 7)] == [1, 1, 1, 1, 2 / 3, 1 / 3]
    assert [decay_factor(e, 5) for e in range(1, 6)] == [1, 1, 1, 2 / 3, 1 / 3]
    assert decay_factor(1, 1) == 1
    factors = [decay_factor(e, 20) for e in range(1, 21)]
    assert factors[:11] == [1] * 11 and factors[-1] == 0.1
    assert np.allclose(np.diff(factors[10:]), -0.1)


def test_learning_rate_decay_changes_only_the_second_half_of_training():
    """Two epochs both run at the full step size (the last at 1 / ceil(2 / 2)): the weights
    are the same with and without the decay; with three the last runs at half of it."""

    def weights(epochs, decay):
        params = {**FAST, "epochs": epochs, "learning_rate_decay": decay}
        explainer = CounterfactualExplainer(brightness_detector, **params).fit(X, Y)
        return torch.cat([p.detach().flatten() for p in explainer.generator_.parameters()])

    torch.testing.assert_close(weights(2, True), weights(2, False), rtol=0, atol=0)
    assert not torch.equal(weights(3, True), weights(3, False))


def test_explainers_pickled_before_learning_rate_decay_load_without_it(fitted):
    state = fitted.__getstate__()
    del state["learning_rate_decay"]
    restored = CounterfactualExplainer.__new__(CounterfactualExplainer)
    restored.__setstate__(state)
    assert restored.get_params()["learning_rate_decay"] is False


def test_fit_checks_its_counterfactuals_and_warns_when_training_failed():
    """A generator that is not rewarded for lowering the score (lambda_detector=0) leaves
    the bright images bright: fit measures it and says so; a trained one passes quietly."""
    with pytest.warns(ConvergenceWarning, match=r"only \d+% of the counterfactuals of 12"):
        failed = CounterfactualExplainer(brightness_detector, lambda_detector=0.0, **FAST).fit(X, Y)
    assert failed.training_validity_ < 0.5
    # the image generator: at this width (4) and 40 steps, the blend generator has not yet
    # learnt to darken (mean score 0.75 after 8 epochs, 0.6 after 16)
    params = {**FAST, "epochs": 8, "target": 0.0, "generator_output": "image"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        trained = CounterfactualExplainer(brightness_detector, **params).fit(X, Y)
    explanation = trained.explain(ANOMALOUS)
    assert trained.training_validity_ == np.mean(explanation.scores <= 0.5)
    assert trained.training_validity_ >= 0.5


def test_a_failed_training_restarts_from_new_weights_and_says_so(capsys):
    """lambda_detector=0 fails every attempt: max_restarts more run, each from new initial
    weights, and the warning says how many; max_restarts=0 trains once."""
    built = []
    original = CounterfactualExplainer._build_networks

    def spy(self, device, rng):
        original(self, device, rng)
        built.append(self.generator_)

    params = {**FAST, "lambda_detector": 0.0}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CounterfactualExplainer, "_build_networks", spy)
        with pytest.warns(ConvergenceWarning, match=r"of 12 .*\(best of 3 attempts\)"):
            failed = CounterfactualExplainer(
                brightness_detector, **{**params, "max_restarts": 2, "verbose": 1}
            )
            failed.fit(X, Y)
        assert failed.n_restarts_ == 2 and len(built) == 3
        bars = capsys.readouterr().err
        assert "(restart 1 of at most 2)" in bars and "(restart 2 of at most 2)" in bars
        assert len(failed.training_validity_per_attempt_) == 3
        assert failed.training_validity_ == max(failed.training_validity_per_attempt_)
        first, second = (torch.cat([p.flatten() for p in g.parameters()]) for g in built[:2])
        assert not torch.equal(first, second)
        built.clear()
        with pytest.warns(ConvergenceWarning) as record:
            once = CounterfactualExplainer(brightness_detector, **params)  # max_restarts=0
            once.fit(X, Y)
        assert "attempts" not in str(record[0].message)
        assert once.n_restarts_ == 0 and len(built) == 1
        assert once.training_validity_per_attempt_ == [once.training_validity_]


def test_restarts_keep_the_attempt_with_the_highest_training_validity(monkeypatch):
    validities = iter([0.1, 0.4, 0.3])
    built = []
    original = CounterfactualExplainer._build_networks

    def spy(self, device, rng):
        original(self, device, rng)
        built.append((self.generator_, self.concept_classifier_))

    monkeypatch.setattr(CounterfactualExplainer, "_build_networks", spy)
    monkeypatch.setattr(
        CounterfactualExplainer, "_training_validity", lambda self, images: next(validities)
    )
    with pytest.warns(ConvergenceWarning, match=r"only 40% .*\(best of 3 attempts\)"):
        explainer = CounterfactualExplainer(brightness_detector, **{**FAST, "max_restarts": 2})
        explainer.fit(X, Y)
    assert explainer.training_validity_per_attempt_ == [0.1, 0.4, 0.3]
    assert explainer.training_validity_ == 0.4
    assert (explainer.generator_, explainer.concept_classifier_) == built[1]
    assert explainer.generator_ is not built[2][0]


def test_a_successful_training_does_not_restart():
    params = {**FAST, "epochs": 8, "target": 0.0, "generator_output": "image"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        trained = CounterfactualExplainer(brightness_detector, **{**params, "max_restarts": 3})
        trained.fit(X, Y)
    assert trained.n_restarts_ == 0
    assert trained.training_validity_per_attempt_ == [trained.training_validity_]


def test_explainers_pickled_before_restarts_load_with_none(fitted):
    state = fitted.__getstate__()
    for name in ["max_restarts", "n_restarts_", "training_validity_per_attempt_"]:
        del state[name]
    restored = CounterfactualExplainer.__new__(CounterfactualExplainer)
    restored.__setstate__(state)
    assert restored.get_params()["max_restarts"] == 0 and restored.n_restarts_ == 0
    assert restored.training_validity_per_attempt_ == [fitted.training_validity_]


def test_training_validity_is_nan_when_no_training_image_is_called_anomalous():
    def lenient_detector(x):  # calls every image normal
        return 0.4 * x.mean(dim=(1, 2, 3))

    explainer = CounterfactualExplainer(lenient_detector, **FAST).fit(X, Y)
    assert np.all(explainer.training_scores_ <= 0.5)
    assert np.isnan(explainer.training_validity_)


def test_blend_counterfactuals_follow_their_anomaly_more_than_image_ones():
    """The point of "blend": what is not repainted is the anomaly, so counterfactuals vary
    with it. After a short training on the brightness detector, the spread of each concept's
    counterfactuals across anomalies is larger with "blend" than with "image"."""

    def spread(output):
        explainer = CounterfactualExplainer(
            brightness_detector, generator_output=output, **{**FAST, "epochs": 4}
        ).fit(X, Y)
        return explainer.explain(ANOMALOUS).counterfactuals.std(axis=0).mean()

    assert spread("blend") > spread("image")


def test_pickle_round_trip_holds_numpy_weights_and_loads_on_the_cpu(fitted, autoencoder):
    explainer = CounterfactualExplainer(autoencoder, **FAST).fit(X, Y)
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
    again = CounterfactualExplainer(brightness_detector, **FAST).fit(X, Y)
    np.testing.assert_array_equal(
        again.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )
    assert again.loss_curve_ == fitted.loss_curve_
    other = clone(fitted).set_params(random_state=1).fit(X, Y)
    assert not np.array_equal(
        other.explain(ANOMALOUS).counterfactuals, fitted.explain(ANOMALOUS).counterfactuals
    )


def test_fitting_does_not_touch_torch_global_random_state():
    state = torch.random.get_rng_state()
    CounterfactualExplainer(brightness_detector, **FAST).fit(NORMAL)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_verbose_shows_a_progress_bar_over_the_epochs_with_the_losses(capsys):
    CounterfactualExplainer(brightness_detector, **{**FAST, "verbose": 1}).fit(X, Y)
    captured = capsys.readouterr()
    assert not captured.out
    last = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("CounterfactualExplainer.fit: 100%") and "2/2" in last
    for term in ("loss=", "detector=", "concept=", "discriminator="):
        assert term in last
    CounterfactualExplainer(brightness_detector, **FAST).fit(X, Y)
    assert capsys.readouterr().err == ""


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
        (IsolationForest().fit(NORMAL.reshape(24, -1)), TypeError, "no torch_score_samples"),
        (object(), TypeError, "detector must be a fitted detector with torch_score_samples"),
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
        CounterfactualExplainer(detector, **FAST).fit(X, Y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_concepts": 0}, "'n_concepts' parameter"),
        ({"n_bins": 1}, "'n_bins' parameter"),
        ({"epochs": 0}, "'epochs' parameter"),
        ({"lambda_concept": -1.0}, "'lambda_concept' parameter"),
        ({"target": 0.5}, "'target' parameter"),
        ({"target": -0.1}, "'target' parameter"),
        ({"target": "median"}, "'target' parameter"),
        ({"generator_output": "residual"}, "'generator_output' parameter"),
        ({"learning_rate_decay": "yes"}, "'learning_rate_decay' parameter"),
        ({"calibrate_target": "yes"}, "'calibrate_target' parameter"),
        ({"target_quantile": 1.5}, "'target_quantile' parameter"),
        ({"target_quantile": "median"}, "'target_quantile' parameter"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        CounterfactualExplainer(brightness_detector, **{**FAST, **params}).fit(NORMAL)


def test_bad_images(fitted, autoencoder):
    explainer = CounterfactualExplainer(brightness_detector, **FAST)
    with pytest.raises(ValueError, match=re.escape("X must be images of shape")):
        explainer.fit(NORMAL.reshape(24, -1))
    with pytest.raises(ValueError, match="float X must lie in"):
        explainer.fit(X * 2, Y)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="X_anomalous has images"):
        explainer.fit(NORMAL, ANOMALOUS[:, :6])
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="float X_anomalous must"):
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
    """Digit 0 normal: counterfactuals of other digits score far lower, concepts differ.

    With target=0.0 ("as normal as possible"): at this small scale (300 + 300 digits, 6
    epochs) the typical target of this autoencoder (0.39, anomalies 0.59) asks for so small a
    change that the two concepts collapsed into one (disentanglement 51 %, 100 % with 0.0).
    The detector trains on all 300 zeros and sets its threshold on them
    (validation_fraction=0): a threshold on 30 held-out zeros calls only 59 % of these
    anomalies anomalous, too few to test their counterfactuals.
    """
    normal, anomalous, test_anomalies = mnist_single
    detector = ConvAutoencoder(
        epochs=10, batch_size=32, n_iter_no_change=None, validation_fraction=0.0, random_state=0
    )
    detector.fit(normal)
    explainer = CounterfactualExplainer(
        detector, target=0.0, epochs=6, random_state=0, device="cpu"
    )
    explainer.fit(
        np.concatenate([normal, anomalous]), np.r_[np.ones(len(normal)), -np.ones(len(anomalous))]
    )
    explanation = explainer.explain(test_anomalies)
    original, changed = explanation.original_scores, explanation.scores
    assert np.mean(original > 0.5) > 0.8  # the detector finds most of them anomalous
    # markedly lower: on average by more than half the distance to 0, for each concept
    assert np.all(changed.mean(axis=0) < 0.5 * original.mean())
    assert np.mean(changed < original[:, np.newaxis]) > 0.9
    predicted = explanation.concept_probabilities.argmax(axis=2)
    accuracy = np.mean(predicted == np.arange(explainer.n_concepts))
    assert accuracy > 0.75  # chance is 0.5; a classifier blind to the concept gets 0.5
    assert explainer.training_validity_ > 0.9  # fit's own check agrees


# ------------------------------------------- the typical target from the detector's held-out images


class HeldOutMeanImageDetector(MeanImageDetector):
    """MeanImageDetector that, like sknovel's detectors, records validation_scores_."""

    def __init__(self, shift=0.0, held_out_scores=()):
        super().__init__(shift)
        self.held_out_scores = held_out_scores

    def fit(self, X, y=None):
        super().fit(X, y)
        self.validation_scores_ = np.asarray(self.held_out_scores, dtype=np.float64)
        return self


def _protocol_scores(detector, raw):
    """The explainer's score of raw score_samples: 1 - exp(-max(-raw, 0) / s)."""
    scale = make_detector_score(detector).scale
    return 1 - np.exp(-np.maximum(-np.asarray(raw), 0) / scale)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("quantile", [0.0, 0.5, 0.6])
def test_typical_target_is_a_quantile_of_the_scores_of_the_detectors_held_out_images(quantile):
    """A detector scores new normal images lower than its training images; the typical
    target follows the new ones when the detector records at least 20 of them."""
    reference = MeanImageDetector().fit(NORMAL)
    training = reference.score_samples(NORMAL)
    held_out = np.linspace(training.min(), np.percentile(training, 20), 21)  # lower: "unseen"
    detector = HeldOutMeanImageDetector(held_out_scores=held_out).fit(NORMAL)
    explainer = CounterfactualExplainer(detector, **FAST, target_quantile=quantile).fit(X, Y)
    assert explainer.target_source_ == "detector validation images"
    expected = np.quantile(_protocol_scores(detector, held_out), quantile)
    assert explainer.target_score_ == pytest.approx(expected, rel=1e-6)
    training_quantile = np.quantile(explainer.training_scores_[: len(NORMAL)], quantile)
    assert explainer.target_score_ > training_quantile
    assert explainer.bin_values_[0] == explainer.target_score_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("held_out", [None, np.zeros(19)])
def test_typical_target_falls_back_to_the_training_images(held_out):
    """Without validation_scores_, or with fewer than 20, the normal images given to fit."""
    if held_out is None:
        detector = MeanImageDetector().fit(NORMAL)
    else:
        detector = HeldOutMeanImageDetector(held_out_scores=held_out).fit(NORMAL)
    explainer = CounterfactualExplainer(detector, **FAST).fit(X, Y)
    assert explainer.target_source_ == "normal training images"
    expected = np.quantile(explainer.training_scores_[: len(NORMAL)], 0.6)
    assert explainer.target_score_ == pytest.approx(expected, rel=1e-6)
    assert CounterfactualExplainer(detector, **FAST, target=0.1).fit(X, Y).target_source_ == (
        "target"
    )


def test_typical_target_from_held_out_scores_anomalous_or_nan_is_refused():
    detector = MeanImageDetector().fit(NORMAL)
    held_out = np.full(20, 3 * detector.offset_)  # three times the threshold loss: φ = 0.875
    detector = HeldOutMeanImageDetector(held_out_scores=held_out).fit(NORMAL)
    with pytest.raises(
        ValueError,
        match=r"0\.6-quantile of the scores of its detector validation images is 0\.875.*"
        "lower target_quantile",
    ):
        CounterfactualExplainer(detector, **FAST).fit(X, Y)
    with pytest.raises(ValueError, match=r"the median score of its detector validation images"):
        CounterfactualExplainer(detector, **FAST, target_quantile=0.5).fit(X, Y)
    detector = HeldOutMeanImageDetector(held_out_scores=np.full(20, np.nan)).fit(NORMAL)
    with pytest.raises(
        ValueError, match=r"0\.6-quantile of the scores of its detector validation images is nan"
    ):
        CounterfactualExplainer(detector, **FAST).fit(X, Y)


def test_explainers_pickled_before_target_source_load_with_it(fitted):
    state = fitted.__getstate__()
    del state["target_source_"]
    restored = CounterfactualExplainer.__new__(CounterfactualExplainer)
    restored.__setstate__(state)
    assert restored.target_source_ == "normal training images"


def test_explainers_pickled_before_calibration_load_without_it(fitted):
    state = fitted.__getstate__()
    calibration = ("lowest_loss_target_", "lowest_loss_weight_", "calibration_curve_")
    for name in ("calibrate_target", "target_quantile", *calibration):
        del state[name]
    restored = CounterfactualExplainer.__new__(CounterfactualExplainer)
    restored.__setstate__(state)
    assert restored.get_params()["calibrate_target"] is False
    assert restored.get_params()["target_quantile"] == 0.5  # the median, as then
    assert restored.lowest_loss_target_ == fitted.target_score_
    assert restored.lowest_loss_weight_ == 1.0
    assert restored.calibration_curve_ == []
