"""Featurizing at scale with Dask: images in partitions, features computed where the images are.

The featurizers' ``fit`` and ``transform`` accept, besides arrays and lists of paths,

* a :class:`dask.bag.Bag` of image file paths (str or os.PathLike), one partition per task;
* a :class:`dask.array.Array` of images, (n, H, W) or (n, H, W, C), chunked along rows only.

``transform`` then returns a row-chunked :class:`dask.array.Array` of features, one block per
partition (or chunk), in the bag's order. Each block is the featurizer's in-memory
``transform`` of that partition, run in the task that holds the partition: on a
``dask.distributed`` cluster the images are read and featurized on the workers and only feature
blocks travel. The graph holds the paths (or the upstream array's tasks) and one small copy of
the fitted featurizer, never pixels.

Shapes without computing: the number of columns is the fitted ``n_features_out_``. The rows per
block of a dask array are its chunks; those of a bag are unknown to Dask, so ``transform``
counts the items of every partition in one pass (only integers come back; for a bag built by
``dask.bag.from_sequence`` that pass reads no file) and the result has known chunk sizes.

Networks: a ``CNNFeaturizer`` pickles as its parameters and a key naming its weights (a few
hundred bytes); each worker process builds the network from that key once and keeps it in the
module-level cache of ``_cnn`` for all later partitions.
"""

import contextlib
import copy
import os
import sys
from numbers import Integral

import numpy as np
from sklearn.utils import Bunch

from sknovel.utils.images import files_mode, image_file_problem, load_image_folder

from ._activation_cache import ActivationStore

#: Dask settings of the LocalCluster that ``dask_client("processes")`` starts. Dask's nanny
#: starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold:
#: every large torch buffer is then mapped and unmapped, and CNN inference ran 2-3x slower on
#: the workers (measured); None leaves glibc's adaptive default. MALLOC_ARENA_MAX=1 makes
#: the worker's task thread allocate from the main heap, where heap_slack (held by the
#: workers, see _worker_heap) can keep a batch's activations: a thread's own arena grows in
#: heaps of at most 64 MiB and maps every larger block afresh (100 files at 224 px on one
#: worker: 4.2-5.2 s and 0.7-0.9 million page faults with thread arenas, 3.1-3.3 s and
#: 0.05-0.16 million with one arena). The workers' statistical
#: profiler (a stack sample every 10 ms, for the dashboard's profile page) cost 0.02 CPU
#: seconds per second and worker even when idle.
_LOCAL_CLUSTER_SETTINGS = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": "1",
    "distributed.worker.profile.enabled": False,
}
#: How many child samples one merge task of the SIFT descriptor reduction combines.
_SPLIT_EVERY = 8


def is_dask_images(X):
    """Whether `X` is a dask bag or dask array (without importing dask when it is not loaded).

    Parameters
    ----------
    X : object

    Returns
    -------
    is_dask : bool
    """
    module = type(X).__module__ or ""
    if not module.startswith("dask.") or "dask" not in sys.modules:
        return False
    return _is_bag(X) or _is_array(X)


def _is_bag(X):
    import dask.bag

    return isinstance(X, dask.bag.Bag)


def _is_array(X):
    import dask.array

    return isinstance(X, dask.array.Array)


def check_dask_images(X, *, name="X"):
    """Check what can be checked of a dask bag or array of images without computing it.

    Parameters
    ----------
    X : dask.bag.Bag or dask.array.Array
    name : str, default="X"

    Returns
    -------
    X : dask.bag.Bag or dask.array.Array
        `X` itself.

    Raises
    ------
    ValueError
        If a dask array is not (n, H, W) or (n, H, W, C), has no rows, or is chunked along
        any axis but the first.
    TypeError
        If a dask array's dtype is neither uint8 nor float.
    """
    if _is_bag(X):
        return X
    if X.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be a dask array of images of shape (n, H, W) or (n, H, W, C); got "
            f"shape {X.shape}."
        )
    split = [axis for axis in range(1, X.ndim) if len(X.chunks[axis]) != 1]
    if split:
        raise ValueError(
            f"{name} is a dask array chunked along axis {split[0]} (chunks {X.chunks}); a "
            "featurizer needs whole images in every chunk. Chunk it along rows only, e.g. "
            f"{name}.rechunk({{{', '.join(f'{a}: -1' for a in range(1, X.ndim))}}})."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {X.shape}).")
    if X.dtype != np.uint8 and X.dtype.kind != "f":
        raise TypeError(
            f"{name} must be uint8 in [0, 255] or float in [0, 1]; got dtype {X.dtype}."
        )
    if X.ndim == 4 and X.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{name} must have 1, 3 or 4 channels in its last axis; got shape {X.shape}."
        )
    return X


def _partitions(X):
    """The partitions of a bag (or blocks of an array) as a list of Delayed, in row order."""
    check_dask_images(X)
    if _is_bag(X):
        return list(X.to_delayed())
    return list(X.to_delayed().ravel())


def _partition_lengths(X, parts):
    """Rows in each partition: an array's chunks, or one counting pass over a bag."""
    import dask

    if not _is_bag(X):
        lengths = X.chunks[0]
        if not any(np.isnan(lengths)):
            return [int(n) for n in lengths]
    counts = [dask.delayed(_count_partition, pure=True)(part) for part in parts]
    return [int(n) for n in dask.compute(*counts)]


def _count_partition(part):
    return len(_partition_images(part))


def _partition_images(part):
    """A computed partition as the in-memory featurizers take it: an array or a list of paths."""
    if isinstance(part, np.ndarray):
        return part
    items = list(part)
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                "X is a dask bag whose items must be image file paths (str or os.PathLike); "
                f"got an item of type {type(item).__name__}: {item!r:.80}. Pass images held "
                "in memory as a dask array of shape (n, H, W) or (n, H, W, C)."
            )
    return items


def worker_copy(featurizer):
    """The copy of a fitted featurizer that tasks carry: quiet, and without an activation store.

    A ``CNNFeaturizer`` with an :class:`ActivationStore` would carry it to every task (it is
    unpickled empty there) and keep every partition's activations in the worker for a reuse
    that a one-pass job never has, after hashing every file; workers run it with
    ``memory=None``. A disk cache (a folder or ``joblib.Memory``) is kept.
    """
    clone = copy.copy(featurizer)
    if "memory" in clone.__dict__ and isinstance(clone.memory, ActivationStore):
        clone.memory = None
    if "verbose" in clone.__dict__:
        clone.verbose = 0
    return clone


def _features_of_partition(featurizer, part, n_features, dtype):
    images = _partition_images(part)
    if len(images) == 0:
        return np.empty((0, n_features), dtype=dtype)
    features = np.asarray(featurizer.transform(images))
    if features.dtype != dtype or features.shape[1:] != (n_features,):
        raise RuntimeError(  # pragma: no cover - a featurizer broke its own contract
            f"{type(featurizer).__name__}.transform gave {features.dtype} features of shape "
            f"{features.shape}; expected {dtype} with {n_features} columns."
        )
    return features


def dask_transform(featurizer, X, *, dtype):
    """The features of a dask bag or array of images, as a lazy row-chunked dask array.

    Parameters
    ----------
    featurizer : fitted featurizer
        Its in-memory ``transform`` is applied to every partition, in the task that computes
        the partition; it must have ``n_features_out_``.
    X : dask.bag.Bag of paths or dask.array.Array of images
    dtype : numpy dtype
        The dtype of the featurizer's output.

    Returns
    -------
    features : dask.array.Array of shape (n, ``n_features_out_``)
        One block per partition of `X` (known sizes; a bag's are counted in one pass over
        its partitions), in `X`'s order.
    """
    import dask
    import dask.array as da

    parts = _partitions(X)
    lengths = _partition_lengths(X, parts)
    if sum(lengths) == 0:
        raise ValueError("X is an empty dask bag of image files.")
    n_features, dtype = int(featurizer.n_features_out_), np.dtype(dtype)
    carried = dask.delayed(worker_copy(featurizer), pure=True)
    blocks = [
        da.from_delayed(
            dask.delayed(_features_of_partition, pure=True)(carried, part, n_features, dtype),
            shape=(length, n_features),
            dtype=dtype,
        )
        for part, length in zip(parts, lengths)
    ]
    return da.concatenate(blocks, axis=0)


# --- fit ---------------------------------------------------------------------------------------


def pixel_input_shape(featurizer, X):
    """``input_shape_`` that ``PixelFeaturizer.fit`` records for a dask bag or array.

    A dask array's shape and dtype say it without computing. For a bag of files one pass on
    the workers reads file headers (colour or grey, as :func:`files_mode` decides for a list)
    and one task reads the first image; only the shape comes back.
    """
    import dask

    check_dask_images(X)
    if not _is_bag(X):
        stand_in = np.zeros((1, *X.shape[1:]), dtype=X.dtype)
        return type(featurizer)(**featurizer.get_params()).fit(stand_in).input_shape_
    parts = _partitions(X)
    heads = [dask.delayed(_partition_head, pure=True)(part, featurizer.grayscale) for part in parts]
    shape = dask.delayed(_first_image_shape, pure=True)(worker_copy(featurizer), heads)
    return dask.compute(shape)[0]


def _partition_head(part, grayscale):
    """(mode of the partition's files, its first path or None)."""
    paths = _partition_images(part)
    mode = "L" if grayscale or not paths else files_mode(paths)
    return mode, (paths[0] if paths else None)


def _first_image_shape(featurizer, heads):
    firsts = [first for _, first in heads if first is not None]
    if not firsts:
        raise ValueError("X is an empty dask bag of image files.")
    mode = "RGB" if any(mode == "RGB" for mode, _ in heads) else "L"
    return tuple(int(v) for v in next(featurizer._batches([firsts[0]], mode)).shape[1:])


def sift_descriptor_sample(featurizer, X, random_state):
    """Sample SIFT descriptors of a dask bag or array on the workers, for the vocabulary.

    Every partition keeps a uniform sample of at most ``max_descriptors`` of its descriptors
    (reservoir sampling as in memory); samples are merged in a tree on the workers, at most
    ``_SPLIT_EVERY`` at a time, each merge again a uniform sample of at most
    ``max_descriptors`` rows of the union. Only the final sample (at most ``max_descriptors``
    x 128 float32) and counts come to the client. When all descriptors fit in the sample it
    holds them all in image order, exactly as the in-memory ``fit`` does, and the vocabulary
    is the same; beyond that it is another uniform sample than the in-memory one.

    Parameters
    ----------
    featurizer : SIFTBoWFeaturizer
    X : dask.bag.Bag or dask.array.Array
    random_state : numpy.random.RandomState
        Not advanced here: the partition seeds come from a copy of it.

    Returns
    -------
    result : Bunch
        ``rows`` (the sample), ``n_seen`` (descriptors found), ``n_images``,
        ``n_without`` (images without keypoints).
    """
    import dask

    parts = _partitions(X)
    base_seed = int(copy.deepcopy(random_state).randint(np.iinfo(np.int32).max))
    carried = dask.delayed(worker_copy(featurizer), pure=True)
    level = [
        dask.delayed(_partition_sample, pure=True)(carried, part, index, base_seed)
        for index, part in enumerate(parts)
    ]
    while len(level) > 1:
        level = [
            dask.delayed(_merge_samples, pure=True)(
                level[start : start + _SPLIT_EVERY], featurizer.max_descriptors, base_seed
            )
            for start in range(0, len(level), _SPLIT_EVERY)
        ]
    return Bunch(**dask.compute(level[0])[0])


def _partition_sample(featurizer, part, index, base_seed):
    from ._sift import _Reservoir

    images = _partition_images(part)
    reservoir = _Reservoir(featurizer.max_descriptors, np.random.RandomState([base_seed, index]))
    n_without = 0
    if len(images):
        for batch in featurizer._descriptors(images, "fit"):
            for descriptors in batch:
                reservoir.add(descriptors)
                n_without += len(descriptors) == 0
    return {
        "rows": reservoir.sample(),
        "n_seen": reservoir.n_seen,
        "n_images": len(images),
        "n_without": n_without,
        "span": (index, index),
    }


def _merge_samples(children, capacity, base_seed):
    """One uniform sample of at most `capacity` rows of the union of the children's streams.

    Each child holds a uniform sample of min(capacity, n_seen) of its n_seen rows; how many
    rows each child gives is drawn from the multivariate hypergeometric law of the counts,
    and those rows are drawn uniformly from the child's sample. Below `capacity` the rows
    are concatenated in order, with no randomness.
    """
    seen = np.array([child["n_seen"] for child in children], dtype=np.int64)
    span = (children[0]["span"][0], children[-1]["span"][1])
    merged = {
        "n_seen": int(seen.sum()),
        "n_images": sum(child["n_images"] for child in children),
        "n_without": sum(child["n_without"] for child in children),
        "span": span,
    }
    if capacity is None or merged["n_seen"] <= capacity:
        merged["rows"] = np.concatenate([child["rows"] for child in children])
        return merged
    rng = np.random.default_rng([base_seed, *span, 1])
    takes = rng.multivariate_hypergeometric(seen, capacity, method="marginals")
    merged["rows"] = np.concatenate(
        [
            child["rows"][np.sort(rng.permutation(len(child["rows"]))[:take])]
            for child, take in zip(children, takes)
        ]
    )
    return merged


# --- a job over a folder --------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(scheduler, *, n_workers=None):
    """Connect to (or start) the Dask scheduler that a featurizing job should use.

    Parameters
    ----------
    scheduler : str
        ``"processes"``: start a ``distributed.LocalCluster`` of `n_workers` worker processes
        with one thread each (and one BLAS/torch thread each, Dask's default for worker
        processes) on the loopback interface, closed on exit. Its workers start without
        Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` (which made CNN inference 2-3x slower) and
        with ``MALLOC_ARENA_MAX=1`` (one heap for all threads), hold
        :func:`~sknovel.utils.heap.heap_slack` for their whole life (a worker plugin), and
        run without Dask's statistical profiler.
        ``"threads"`` or ``"synchronous"``: Dask's local schedulers, no client.
        Anything else is a scheduler address (``"tcp://host:8786"``), connected to and
        disconnected from on exit (the cluster keeps running).
    n_workers : int or None, default=None
        Worker processes for ``"processes"``; None: one per CPU core.

    Yields
    ------
    client : distributed.Client or None
        The client, set as Dask's default while the block runs (None for the local
        schedulers, which are set with ``dask.config`` instead).
    """
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(
            f"scheduler must be 'processes', 'threads', 'synchronous' or a scheduler address "
            f"such as 'tcp://host:8786'; got {scheduler!r}."
        )
    if n_workers is not None and (not isinstance(n_workers, Integral) or n_workers < 1):
        raise ValueError(f"n_workers must be a positive int or None; got {n_workers!r}.")
    import dask

    if scheduler in ("threads", "synchronous", "sync"):
        with dask.config.set(scheduler=scheduler):
            yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ImportError(
            f'scheduler={scheduler!r} needs dask.distributed: pip install "sknovel[dask]".'
        ) from error
    if scheduler == "processes":
        with (
            dask.config.set(_LOCAL_CLUSTER_SETTINGS),
            LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            from ._worker_heap import HeapSlackPlugin

            client.register_plugin(HeapSlackPlugin())
            yield client
        return
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(
            f"Cannot connect to the Dask scheduler at scheduler={scheduler!r}: {error}. Pass "
            "'processes', 'threads', 'synchronous' or a running scheduler's address."
        ) from error
    with client:
        yield client


def featurize_with_dask(
    featurizer,
    images,
    *,
    fit=True,
    partition_size=None,
    on_error="raise",
    labels_from_subfolders=False,
):
    """Featurize a folder or list of image files in Dask partitions, on the current scheduler.

    The job that ``sknovel discover --images DIR --scheduler ...`` runs inside
    :func:`dask_client`. Files are listed on the client (names only); checking, reading and
    featurizing them happens in the partition tasks (on a cluster: on the workers).

    Parameters
    ----------
    featurizer : PixelFeaturizer, SIFTBoWFeaturizer or CNNFeaturizer
    images : str, os.PathLike, list of paths or dask.bag.Bag of paths
        A folder (listed recursively as :func:`load_image_folder` does), the files, or a bag.
    fit : bool, default=True
        Fit the featurizer on the images first (on the workers, see the featurizers' ``fit``);
        False: it must be fitted already.
    partition_size : int or None, default=None
        Files per partition (task) for a folder or list; None: four of the featurizer's
        batches. Ignored for a bag, which keeps its partitions.
    on_error : {"raise", "skip"}, default="raise"
        A file Pillow cannot read: an error naming it (raised when its partition is read),
        or, as :func:`load_image_folder` does, left out and reported in ``skipped`` with the
        reason in ``skip_reasons`` (one decode of every file on the workers first).
    labels_from_subfolders : bool, default=False
        For a folder: label files by their top-level sub-folder (see
        :func:`load_image_folder`).

    Returns
    -------
    result : Bunch
        ``features`` (lazy row-chunked dask array of shape (n kept, ``n_features_out_``); call
        ``.persist()`` to keep it on the workers), ``featurizer`` (the fitted featurizer),
        ``paths`` (the kept files, in feature order; None for a bag), ``labels``,
        ``class_names``, ``kept_indices``, ``skipped``, ``skip_reasons``.
    """
    import dask.bag as db

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    if partition_size is not None and (
        not isinstance(partition_size, Integral) or partition_size < 1
    ):
        raise ValueError(f"partition_size must be a positive int or None; got {partition_size!r}.")
    listing = _listing(images, labels_from_subfolders)
    size = partition_size or 4 * featurizer.batch_size
    bag = images if _is_bag(images) else db.from_sequence(listing.paths, partition_size=size)
    if on_error == "skip":
        bag, listing = _drop_problem_files(bag, listing, size)
    if fit:
        featurizer.fit(bag)
    return Bunch(features=featurizer.transform(bag), featurizer=featurizer, **listing)


def _listing(images, labels_from_subfolders):
    empty = {"labels": None, "class_names": None, "skipped": [], "skip_reasons": []}
    if isinstance(images, (str, os.PathLike)):
        found = load_image_folder(images, labels_from_subfolders=labels_from_subfolders)
        return Bunch(**found)
    if labels_from_subfolders:
        raise ValueError("labels_from_subfolders=True needs a folder as images.")
    if _is_bag(images):
        return Bunch(paths=None, kept_indices=None, **empty)
    paths = list(images)
    if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise TypeError(
            "images must be a folder, a non-empty list of image file paths or a dask bag of "
            f"paths; got {type(images).__name__}."
        )
    return Bunch(paths=paths, kept_indices=np.arange(len(paths)), **empty)


def _drop_problem_files(bag, listing, partition_size):
    """Check every file on the workers; keep the readable ones, report the others."""
    import dask
    import dask.bag as db

    parts = dask.compute(*bag.map(_problem_of).to_delayed())
    problems = [problem for part in parts for problem in part]
    paths = [path for path, problem in problems if problem is None]
    if not paths:
        raise ValueError(f"No readable image file among the {len(problems)} given.")
    kept = np.array([i for i, (_, problem) in enumerate(problems) if problem is None], np.intp)
    listing = Bunch(**listing)
    listing.skipped = [os.fspath(path) for path, problem in problems if problem is not None]
    listing.skip_reasons = [problem for _, problem in problems if problem is not None]
    if listing.paths is not None:
        listing.paths = [listing.paths[i] for i in kept]
        listing.kept_indices = listing.kept_indices[kept]
        if listing.labels is not None:
            listing.labels = listing.labels[kept]
    else:
        listing.kept_indices = kept
    return db.from_sequence(paths, partition_size=partition_size), listing


def _problem_of(path):
    _partition_images([path])
    return path, image_file_problem(path)
