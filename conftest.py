"""Test-session setup shared by the doctests (in sknovel/) and the test suite (in tests/)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # pictures are drawn off-screen in tests
