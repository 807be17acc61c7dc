"""The one check of outlier labels (1 normal, -1 anomalous), shared by detectors and explainers."""

import numpy as np
import pytest

from sknovel.utils.labels import check_outlier_labels


def test_labels_come_back_as_ints_and_none_means_all_normal():
    labels = check_outlier_labels([1.0, -1.0, 1.0], 3)
    assert labels.dtype.kind == "i" and labels.tolist() == [1, -1, 1]
    np.testing.assert_array_equal(check_outlier_labels(None, 4), np.ones(4, dtype=int))
    # None is not subject to min_normal: too few images is the caller's error about X
    assert check_outlier_labels(None, 1, min_normal=2).tolist() == [1]


@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        ([1, -1], {}, r"^y must hold one label per image of X, shape \(3,\).*got shape \(2,\)"),
        ([[1], [1], [-1]], {}, r"shape \(3,\).*got shape \(3, 1\)"),
        ([1, 0, 0], {}, r"1 \(normal\) or -1 \(anomalous\).*dtype int64, e\.g\. \[0, 0\]\.$"),
        ([1, 2, -1], {"outlier_name": "outlier"}, r"-1 \(outlier\).*e\.g\. \[2\]"),
        ([1.0, np.nan, 1.0], {}, r"1 \(normal\) or -1 .*e\.g\. \[nan\]"),
        ([True, False, True], {}, r"dtype bool\.$"),  # no example: True == 1 would confuse
        (["normal", "normal", "anomalous"], {}, "dtype <U9"),
        ([-1, -1, -1], {}, r"^y labels no image normal \(1\); at least 1 normal image needed"),
        ([1, -1, -1], {"min_normal": 2}, r"labels only 1 image normal \(1\); at least 2 normal"),
    ],
    ids=["length", "column", "zero", "two", "nan", "bool", "strings", "no-normal", "min-normal"],
)
def test_bad_labels_are_named(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_outlier_labels(y, 3, **kwargs)
