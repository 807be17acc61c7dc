"""Generated folders of real-world image files, from listing to report: nothing crashes.

Each example writes a folder with two class sub-folders of image files of random sizes, modes,
bit depths and formats, broken files (truncated JPEGs, garbage with an image suffix, empty
files) and odd file names, then runs ``sknovel discover`` on it. It must finish, name every
broken file in its log and report, and rank every good file exactly once.
"""

import csv
import io
import os
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sknovel.cli import main

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

#: Pillow modes and the formats that can store each of them.
FORMATS_OF_MODE = {
    "1": ("png", "bmp", "tiff"),
    "L": ("png", "jpeg", "bmp", "tiff", "gif"),
    "LA": ("png",),
    "P": ("png", "gif"),
    "RGB": ("png", "jpeg", "bmp", "tiff", "webp"),
    "RGBA": ("png", "tiff", "webp"),
    "CMYK": ("jpeg", "tiff"),
    "I;16": ("png", "tiff"),
    "I": ("tiff",),
    "F": ("tiff",),
}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp", "tiff": ".tif", "gif": ".gif"}
SUFFIX["webp"] = ".webp"

#: Characters of generated file names: letters, spaces, shell and TeX specials, accents,
#: a terminal escape sequence.
NAME_ALPHABET = string.ascii_letters + string.digits + " $\\_%&#{}^~'-éü中" + "\x1b"


def image_bytes(mode, height, width, fmt, seed):
    """An image of `mode` and size encoded as `fmt`, with random content."""
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    elif mode == "I":
        image = Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.int32))
    elif mode == "F":
        image = Image.fromarray(rng.random((height, width), dtype=np.float32))
    else:
        rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        image = rgb.convert(mode) if mode != "P" else rgb.quantize(8)
        if mode == "P":
            image.info["transparency"] = 0
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


good_files = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(sorted(FORMATS_OF_MODE)),
        "height": st.integers(1, 48),
        "width": st.integers(1, 48),
        "format_index": st.integers(0, 4),
        "seed": st.integers(0, 2**16),
    }
)
broken_kinds = st.sampled_from(["truncated jpeg", "garbage", "empty"])
names = st.text(NAME_ALPHABET, min_size=1, max_size=12)


def write_good(folder, name, spec):
    formats = FORMATS_OF_MODE[spec["mode"]]
    fmt = formats[spec["format_index"] % len(formats)]
    data = image_bytes(spec["mode"], spec["height"], spec["width"], fmt, spec["seed"])
    path = folder / (name + SUFFIX[fmt])
    path.write_bytes(data)
    return path


def write_broken(folder, name, kind):
    if kind == "truncated jpeg":
        data = image_bytes("RGB", 40, 40, "jpeg", 0)
        path, data = folder / (name + ".jpg"), data[: len(data) // 2]
    elif kind == "garbage":
        path, data = folder / (name + ".png"), b"not an image at all"
    else:
        path, data = folder / (name + ".png"), b""
    path.write_bytes(data)
    return path


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    good=st.lists(
        st.tuples(st.sampled_from(["a", "b$\\x$"]), names, good_files), min_size=2, max_size=8
    ),
    broken=st.lists(st.tuples(st.sampled_from(["a", "b$\\x$"]), names, broken_kinds), max_size=3),
    non_utf8_name=st.booleans(),
)
def test_generated_folders_rank_every_good_file_and_name_every_broken_one(
    tmp_path_factory, capsys, good, broken, non_utf8_name
):
    root = tmp_path_factory.mktemp("folder")
    images = root / "images"
    good_paths, broken_paths = set(), set()
    for index, (label, name, spec) in enumerate(good):
        (images / label).mkdir(parents=True, exist_ok=True)
        good_paths.add(str(write_good(images / label, f"{index}{name}", spec)))
    for index, (label, name, kind) in enumerate(broken):
        (images / label).mkdir(parents=True, exist_ok=True)
        broken_paths.add(str(write_broken(images / label, f"x{index}{name}", kind)))
    if non_utf8_name:
        spec = dict(mode="RGB", height=9, width=13, format_index=0, seed=1)
        (images / "a").mkdir(parents=True, exist_ok=True)
        good_paths.add(str(write_good(images / "a", os.fsdecode(b"caf\xe9"), spec)))

    out = root / "report"
    argv = ["discover", "--images", str(images), "--features", "pixels", "--output", str(out)]
    assert main(argv + ["--explain", "2"]) == 0
    log = capsys.readouterr()
    report = (out / "report.html").read_text(encoding="utf-8", errors="surrogateescape")

    with open(out / "rankings.csv", newline="", errors="surrogateescape") as handle:
        ranked = [row["item"] for row in csv.DictReader(handle) if row["method"] == "DEMUD"]
    assert sorted(ranked) == sorted(good_paths)
    for path in broken_paths:
        name = os.path.basename(path)
        shown = name.encode("unicode_escape", "backslashreplace").decode("ascii")
        assert shown in log.out + log.err or name in log.out + log.err
        assert "\x1b" not in log.out + log.err
        assert html_escaped(name) in report


def html_escaped(text):
    import html

    return html.escape(text.replace("\x1b", "\\x1b"))
