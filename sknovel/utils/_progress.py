"""Progress lines for long passes over images (``verbose`` parameters)."""

import sys
import time


class ImageProgress:
    """Prints ``[name] done/total images  seconds  images/s`` about ten times per pass.

    Parameters
    ----------
    name : str
        Shown in brackets, e.g. ``"CNNFeaturizer"``.
    total : int
        Images in the pass.
    verbose : bool or int
        Print nothing when false.
    file : file-like, default=None
        Where to print; None: ``sys.stderr``.
    """

    def __init__(self, name, total, verbose=True, file=None):
        self.name, self.total, self.verbose = name, total, verbose
        self.file = file
        self.every, self.next, self.start = max(1, total // 10), 0, time.perf_counter()

    def __call__(self, done):
        """Report that `done` images of the pass are finished."""
        if self.verbose and (done >= self.next or done == self.total):
            self.next = done + self.every
            seconds = time.perf_counter() - self.start
            print(
                f"[{self.name}] {done}/{self.total} images  {seconds:.1f} s  "
                f"{done / max(seconds, 1e-9):.1f} images/s",
                file=self.file or sys.stderr,
                flush=True,
            )
