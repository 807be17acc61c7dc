"""Keep freed memory in the C heap while torch works, so that it is not faulted in again.

On Linux, glibc's ``malloc`` gives every block larger than its mmap threshold (at most
32 MiB) its own ``mmap`` and unmaps it when it is freed, and hands heap memory above its trim
threshold back to the kernel: the large activations of a network (EfficientNet-Lite0 at
224 px, batches of 32: three blocks of 154 MB) are then faulted in page by page at every
batch, and the kernel's page-fault work costs more CPU than the network. Measured on the
2-core development VM (``CNNFeaturizer().fit_transform`` of the 288 demo images, 96 px):
5.4 million minor page faults, 14.3 s of system time and 16.3 s of wall time; inside
:func:`heap_slack`, 0.3 million, 1.0 s and 7.4 s.

Inside the block the heap keeps :data:`SLACK_BYTES` of freed memory (``M_TOP_PAD``) and
serves large blocks from the heap too (``M_MMAP_MAX`` 0); afterwards both go back to glibc's
defaults and, when the block grew the resident memory by more than
:data:`TRIM_GROWTH_BYTES`, the free memory is returned to the kernel (``malloc_trim``).
Setting any of these parameters ends glibc's dynamic adjustment of its mmap and trim
thresholds for the rest of the process, so :func:`heap_slack` sets them to the values that
adjustment reaches in a process that has freed a large block (32 MiB and 64 MiB; see
``mallopt(3)``). Elsewhere than glibc, and with the environment variable
``SKNOVEL_HEAP_SLACK=0``, it does nothing.
"""

import contextlib
import ctypes
import os
import platform
import threading

#: mallopt(3) parameter numbers.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
#: Free memory the heap keeps (and adds when it grows) inside a :func:`heap_slack` block.
#: It holds the large blocks of a batch of 32 at 224 px; with ``M_TOP_PAD`` alone, 256 MiB
#: left a third of the faults, 512 MiB a tenth, and 2 GiB (more than the heap could grow by
#: at once) all of them.
SLACK_BYTES = 512 * 2**20
#: glibc's default M_TOP_PAD (mallopt(3)), restored after the block.
DEFAULT_TOP_PAD = 128 * 2**10
#: glibc's default M_MMAP_MAX, restored after the block (inside, 0: no block of its own).
DEFAULT_MMAP_MAX = 65536
#: The largest mmap threshold glibc's dynamic adjustment reaches on 64-bit systems, and the
#: trim threshold it pairs with it (twice as large).
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
#: Growth of the resident memory over the block beyond which its end returns the free memory
#: to the kernel (``malloc_trim``). Below it the memory stays for the next call, as glibc
#: would keep it: trimming after every call of a loop of small ones made each fault its
#: working set in again (CNN at 64 px, 640 images per call: 1.3-1.5 s per call kept, 1.7-1.9 s
#: trimmed).
TRIM_GROWTH_BYTES = 256 * 2**20
#: Set to 0 to leave malloc's parameters alone.
ENVIRONMENT_VARIABLE = "SKNOVEL_HEAP_SLACK"

_lock = threading.Lock()
_depth = 0
_resident_at_start = 0
_libc = None


def _glibc():
    """glibc through ctypes, or None on other C libraries and platforms."""
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL("libc.so.6")
                libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                libc.malloc_trim.argtypes = (ctypes.c_size_t,)
                _libc = libc
            except (OSError, AttributeError):  # pragma: no cover - an unusual glibc
                pass
    return _libc or None


def _resident_bytes():
    """This process's resident memory, from /proc/self/statm (Linux)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - no procfs
        return 0


def _enabled():
    return os.environ.get(ENVIRONMENT_VARIABLE, "1").strip() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def heap_slack():
    """Run a block with :data:`SLACK_BYTES` of heap slack, then give large growth back.

    sknovel's torch work runs inside it already, one call at a time; wrap a loop of calls
    (``transform`` batch by batch, several ``explain`` calls) to keep the slack between
    them. Re-entrant and thread-safe: the slack is set when the first of several nested or
    concurrent blocks starts and removed when the last ends. Does nothing unless the
    process runs on glibc (Linux) and ``SKNOVEL_HEAP_SLACK`` is not ``0``. Usable as a
    decorator too (``@heap_slack()``).

    Yields
    ------
    None

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.utils.heap import heap_slack
    >>> images = np.zeros((8, 16, 16), dtype=np.uint8)
    >>> featurizer = PixelFeaturizer().fit(images)
    >>> with heap_slack():
    ...     features = [featurizer.transform(images[i : i + 4]) for i in (0, 4)]
    >>> len(features)
    2
    """
    global _depth, _resident_at_start
    libc = _glibc() if _enabled() else None
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _resident_at_start = _resident_bytes()
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            libc.mallopt(M_TOP_PAD, SLACK_BYTES)
            libc.mallopt(M_MMAP_MAX, 0)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_TOP_PAD, DEFAULT_TOP_PAD)
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                if _resident_bytes() - _resident_at_start > TRIM_GROWTH_BYTES:
                    libc.malloc_trim(0)
