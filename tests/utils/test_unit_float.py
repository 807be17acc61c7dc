"""The package's one conversion of pixel values to floats in [0, 1]."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sknovel.utils.images import to_unit_float


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 5))))
def test_uint8_is_divided_by_255_exactly(pixels):
    for dtype in (np.float32, np.float64):
        converted = to_unit_float(pixels, dtype)
        assert converted.dtype == dtype
        # The same value as dividing in that precision: results do not depend on who converts.
        np.testing.assert_array_equal(converted, pixels.astype(dtype) / dtype(255))


def test_extremes_and_float_input():
    assert to_unit_float(np.array([0, 255], dtype=np.uint8)).tolist() == [0.0, 1.0]
    floats = np.linspace(0, 1, 5, dtype=np.float32)
    assert to_unit_float(floats) is floats  # already float32: no copy
    assert to_unit_float(floats, np.float64).dtype == np.float64


@pytest.mark.parametrize("shape", [(2, 3), (1, 4, 4, 3)])
def test_shape_is_kept(shape):
    assert to_unit_float(np.zeros(shape, dtype=np.uint8)).shape == shape
