"""The report folder: what it holds, when it may be written, and writing it.

A report folder is self-contained: ``report.html`` refers to its pictures, the discovery
curve and ``rankings.csv`` by relative links only, so the folder can be moved, zipped and
sent. A folder that holds anything is written only with ``overwrite=True``, and then only the
report's own files are replaced (a stale one from an earlier run is removed); other files
are left alone.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import csv
import os
import re
from pathlib import Path

#: Files a report writes at the top of its folder.
REPORT_FILES = ("report.html", "rankings.csv", "discovery_curve.svg")
#: Files the command wrote before the report became an object (still an earlier report's).
EARLIER_FILES = ("discovery_curves.png", "explanations.png")
#: Sub-folder of the pictures of the picks.
PICTURES_FOLDER = "picks"
#: Names of the files the report writes in :data:`PICTURES_FOLDER`.
PICTURE_NAME = re.compile(r"pick-\d+(-[a-z]+)?\.[a-z]+")


def earlier_report_files(folder):
    """Names of the files of a report (this or an earlier version) present in `folder`."""
    folder = Path(folder)
    names = [name for name in REPORT_FILES + EARLIER_FILES if (folder / name).exists()]
    if (folder / PICTURES_FOLDER).is_dir():
        names.append(PICTURES_FOLDER + "/")
    return names


def check_folder(folder, *, overwrite=False):
    """Refuse a report folder that is a file, or that holds files unless `overwrite`.

    Parameters
    ----------
    folder : path-like
    overwrite : bool, default=False

    Raises
    ------
    NotADirectoryError
        `folder` is a file.
    FileExistsError
        `folder` holds files and `overwrite` is false; the message says which report files
        it holds, if any.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder.")
    if overwrite or not folder.is_dir():
        return
    earlier = earlier_report_files(folder)
    if earlier:
        raise FileExistsError(
            f"{folder} already holds {', '.join(earlier)} of an earlier report; choose "
            "another folder, or overwrite it (overwrite=True, or the command's --overwrite)."
        )
    contents = sorted(os.listdir(folder))
    if contents:
        raise FileExistsError(
            f"{folder} is not empty (it holds {contents[0]!r}"
            f"{f' and {len(contents) - 1} more' if len(contents) > 1 else ''}); choose a new "
            "or empty folder, or overwrite (overwrite=True, or the command's --overwrite), "
            "which replaces only the report's own files."
        )


def remove_earlier_report(folder):
    """Remove the report files of an earlier run from `folder` (other files stay)."""
    folder = Path(folder)
    for name in REPORT_FILES + EARLIER_FILES:
        path = folder / name
        if path.is_file() or path.is_symlink():
            path.unlink()
    pictures = folder / PICTURES_FOLDER
    if pictures.is_dir() and not pictures.is_symlink():
        for path in pictures.iterdir():
            if PICTURE_NAME.fullmatch(path.name) and (path.is_file() or path.is_symlink()):
                path.unlink()
        if not any(pictures.iterdir()):
            pictures.rmdir()


def write_rankings(path, report):
    """One CSV row per (method, rank): item index and name, label, class name and score.

    Item names (file paths) are written as they are, undecodable bytes included.
    """
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "rank", "index", "item", "label", "class_name", "score"])
        for method, ranker in report.rankers.items():
            for rank, (index, score) in enumerate(zip(ranker.ranking_, ranker.scores_), 1):
                label = class_name = ""
                if report.labels is not None:
                    label = report.labels[index]
                    class_name = report.class_names[label.item()]
                item = report.item_names[index]
                writer.writerow([method, rank, int(index), item, label, class_name, f"{score:.6g}"])
