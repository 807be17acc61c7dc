"""Counterfactuals: what an anomaly would look like if the detector found it normal."""

from sknovel.explain.counterfactuals._explainer import CounterfactualExplainer

__all__ = ["CounterfactualExplainer"]
