"""Utilities: :mod:`sknovel.utils.estimator_checks` is public; modules starting with an
underscore are internal helpers shared by several sknovel modules."""
