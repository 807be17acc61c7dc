"""Pictures of rankings and their explanations."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.plotting._discovery_curve import DiscoveryCurveDisplay

__all__ = ["DiscoveryCurveDisplay"]

from sknovel.plotting._saliency import SaliencyDisplay, TopKAgreementDisplay  # noqa: E402

__all__ += ["SaliencyDisplay", "TopKAgreementDisplay"]

from sknovel.plotting._explanation import ExplanationDisplay  # noqa: E402

__all__ += ["ExplanationDisplay"]

from sknovel.plotting._counterfactual import CounterfactualDisplay  # noqa: E402

__all__ += ["CounterfactualDisplay"]
