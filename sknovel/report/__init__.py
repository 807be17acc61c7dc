"""The discovery report as an object: an HTML folder to send, and an inline Jupyter display.

:class:`DiscoveryReport` ranks a collection with DEMUD, static SVD and random selection,
explains DEMUD's first picks in pictures and writes it all as a self-contained folder
(``save``); the ``sknovel discover`` command is a thin layer over it.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.report._report import DiscoveryReport

__all__ = ["DiscoveryReport"]
