"""The explainer contract (docs/developers.rst), checked on every exported explainer.

Each explainer is built around tiny fitted models and put through scikit-learn's data-free
checks and :func:`sknovel.utils.estimator_checks.explainer_checks`. A new explainer is
checked by being exported from :mod:`sknovel.explain` and given a case in ``CASES``
(``test_every_exported_explainer_has_a_case`` fails until it has one).
"""

import inspect
from functools import cache

import numpy as np
import pytest

import sknovel.explain
from sknovel import Demud
from sknovel.explain import (
    AutoencoderSaliency,
    CounterfactualExplainer,
    NoveltyMap,
    UCInverter,
)
from sknovel.explain._base import BaseExplainer
from sknovel.features import PixelFeaturizer
from sknovel.utils.estimator_checks import SKLEARN_DATA_FREE_CHECKS, explainer_checks

pytest.importorskip("torch")

RNG = np.random.default_rng(0)
COLOUR = RNG.random((12, 8, 6, 3))  # not square, so that swapped axes are caught
GREY = (RNG.random((12, 8, 8)) * 0.6).astype(np.float32)


@cache
def pixels_and_demud():
    pixels = PixelFeaturizer().fit(COLOUR)
    return pixels, Demud(2).fit(pixels.transform(COLOUR))


@cache
def detector():
    from sknovel.detectors import ConvAutoencoder

    return ConvAutoencoder(epochs=1, batch_size=8, random_state=0).fit(GREY)


def novelty_map(**params):
    return lambda: NoveltyMap(*pixels_and_demud(), window=0.5, **params)


def uc_inverter(with_ranker):
    def build():
        pixels, demud = pixels_and_demud()
        models = (pixels, demud) if with_ranker else (pixels,)
        return UCInverter(*models, image_size=8, width=16, epochs=1, batch_size=4)

    return build


#: name: (class, build() -> explainer, X, options of explainer_checks)
CASES = {
    "NoveltyMap": (NoveltyMap, novelty_map(), COLOUR, {"explain_kwargs": {"positions": [2, 0]}}),
    "NoveltyMap-smoothgrad": (
        NoveltyMap,
        novelty_map(method="smoothgrad", n_steps=2),
        COLOUR,
        {"explain_kwargs": {"positions": [1]}},
    ),
    "UCInverter": (
        UCInverter,
        uc_inverter(with_ranker=True),
        COLOUR,
        # It trains on a clone of the featurizer, which therefore need not be fitted.
        {"explain_kwargs": {"positions": [2, 0]}, "fitted_models": ["ranker"]},
    ),
    "UCInverter-without-ranker": (
        UCInverter,
        uc_inverter(with_ranker=False),
        COLOUR,
        {"fitted_models": []},
    ),
    "AutoencoderSaliency": (AutoencoderSaliency, lambda: AutoencoderSaliency(detector()), GREY, {}),
    "CounterfactualExplainer": (
        CounterfactualExplainer,
        lambda: CounterfactualExplainer(detector(), epochs=1, width=4, batch_size=4),
        GREY,
        {},
    ),
}

CHECK_NAMES = [check.__name__ for check in SKLEARN_DATA_FREE_CHECKS] + [
    check.func.__name__ for check in explainer_checks(NoveltyMap(None, None))
]


def test_every_exported_explainer_has_a_case():
    exported = {
        getattr(sknovel.explain, name)
        for name in sknovel.explain.__all__
        if inspect.isclass(getattr(sknovel.explain, name))
    }
    not_explainers = sorted(cls.__name__ for cls in exported if not issubclass(cls, BaseExplainer))
    assert not not_explainers, f"exported classes that are not BaseExplainers: {not_explainers}"
    covered = {cls for cls, *_ in CASES.values()}
    assert exported <= covered, f"add a case for {sorted(c.__name__ for c in exported - covered)}"
    assert len(exported) == 4


@pytest.mark.parametrize("check_name", CHECK_NAMES)
@pytest.mark.parametrize("case", list(CASES))
def test_explainer_contract(case, check_name):
    cls, build, X, options = CASES[case]
    explainer = build()
    name = cls.__name__
    sklearn_checks = {check.__name__: check for check in SKLEARN_DATA_FREE_CHECKS}
    if check_name in sklearn_checks:
        sklearn_checks[check_name](name, explainer)
        return
    checks = {check.func.__name__: check for check in explainer_checks(explainer, **options)}
    checks[check_name](name, explainer, X)
