"""Progress of long work (``verbose`` parameters): one tqdm bar on stderr for every loop.

Featurizers (images), rankers (picks) and trainers (epochs) all show their progress through
:func:`progress_bar`, so that a user sees one kind of display with a remaining-time
estimate, and the HTML report shows the estimators' own bars instead of hooking into them.
"""

import sys


def progress_bar(total, description, *, unit, verbose=True, leave=True):
    """A tqdm progress bar over `total` `unit`s on stderr, shown only when `verbose`.

    Parameters
    ----------
    total : int
        Units of work in the loop (images, picks, epochs).
    description : str
        Shown before the bar, e.g. ``"UCInverter.fit"``.
    unit : str
        Name of one unit, e.g. ``"image"``.
    verbose : bool or int, default=True
        Show the bar when true; when false the bar is disabled and costs nothing.
    leave : bool, default=True
        Keep the finished bar on the screen.

    Returns
    -------
    bar : tqdm.tqdm
        Call ``bar.update(n)`` after n units, ``bar.set_postfix(...)`` to show values such
        as a loss, and ``bar.close()`` (or use it as a context manager) at the end.
    """
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=not verbose,
        dynamic_ncols=True,
        leave=leave,
    )
