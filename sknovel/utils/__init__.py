"""Utilities: :mod:`sknovel.utils.estimator_checks` and :mod:`sknovel.utils.heap` are public;
modules starting with an underscore are internal helpers shared by several sknovel modules."""
