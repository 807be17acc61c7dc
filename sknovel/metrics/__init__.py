"""Metrics for rankings of novel items."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.metrics._discovery import (
    discovery_curve,
    discovery_nauc,
    expected_random_discovery_curve,
    nauc_of_curve,
    oracle_discovery_curve,
)

__all__ = [
    "discovery_curve",
    "discovery_nauc",
    "expected_random_discovery_curve",
    "nauc_of_curve",
    "oracle_discovery_curve",
]

from sknovel.metrics._scorer import (  # noqa: E402
    DiscoveryScorer,
    discovery_scorer,
    make_discovery_scorer,
    ranking_of,
)

__all__ += ["DiscoveryScorer", "discovery_scorer", "make_discovery_scorer", "ranking_of"]

from sknovel.metrics._maps import (  # noqa: E402
    map_mse,
    max_distance_to_best_match,
    top_k_agreement,
    top_k_agreement_chance,
)

__all__ += ["map_mse", "max_distance_to_best_match", "top_k_agreement", "top_k_agreement_chance"]

from sknovel.metrics._faithfulness import (  # noqa: E402
    curve_auc,
    deletion_curve,
    insertion_curve,
    random_maps,
    removal_baseline,
    removal_test,
)

__all__ += [
    "curve_auc",
    "deletion_curve",
    "insertion_curve",
    "random_maps",
    "removal_baseline",
    "removal_test",
]

from sknovel.metrics._inversion import (  # noqa: E402
    inversion_identification_rate,
    inversion_mse_ratio,
)

__all__ += ["inversion_identification_rate", "inversion_mse_ratio"]

from sknovel.metrics._counterfactual import (  # noqa: E402
    counterfactual_disentanglement,
    counterfactual_normality,
    counterfactual_proximity,
    counterfactual_validity,
)

__all__ += [
    "counterfactual_disentanglement",
    "counterfactual_normality",
    "counterfactual_proximity",
    "counterfactual_validity",
]

from sknovel.metrics._realism import (  # noqa: E402
    counterfactual_frechet_distance,
    frechet_distance,
)

__all__ += ["counterfactual_frechet_distance", "frechet_distance"]
