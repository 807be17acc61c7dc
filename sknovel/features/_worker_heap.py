"""A Dask worker plugin that keeps freed memory in the C heap for the life of a worker."""

import contextlib

from distributed.diagnostics.plugin import WorkerPlugin

from sknovel.utils.heap import heap_slack


class HeapSlackPlugin(WorkerPlugin):
    """Hold :func:`~sknovel.utils.heap.heap_slack` while a worker process runs.

    Each partition's ``transform`` holds the slack for itself, but a partition that grew the
    resident memory by more than ``TRIM_GROWTH_BYTES`` (a batch at 224 px does) gives it back
    when it ends, so the next partition faults it in again. ``dask_client("processes")`` registers
    this plugin on the cluster it starts (whose worker processes do nothing else); registered
    with a client, it also reaches workers that replace a lost one.
    """

    name = "sknovel-heap-slack"

    def setup(self, worker):
        self._slack = contextlib.ExitStack()
        self._slack.enter_context(heap_slack())

    def teardown(self, worker):
        slack = getattr(self, "_slack", None)
        if slack is not None:
            slack.close()
