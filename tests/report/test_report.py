"""The discovery report as an object: its rows, marks, escaping, folder and Jupyter display."""

import base64
import io
import os
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from sknovel import Demud, DiscoveryReport, make_pipeline
from sknovel.features import PixelFeaturizer


def tiny_images(n_per_class=(8, 6, 2), size=6, seed=0):
    """Grey images whose classes differ in brightness; (images, labels)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class)
    images = rng.random((len(labels), size, size)) * 0.2 + 0.35 * labels[:, None, None]
    return images.clip(0, 1), labels


@pytest.fixture(scope="module")
def report():
    images, labels = tiny_images()
    return DiscoveryReport.from_images(
        images,
        labels,
        class_names=["dark", "mid", "bright"],
        n_components=2,
        n_selections=10,
        n_explain=4,
        description="tiny test set",
    )


def img_sources(page):
    return re.findall(r'<img [^>]*src="([^"]+)"', page)


def test_one_row_per_explained_pick(report, tmp_path):
    page = report.save(tmp_path / "out").read_text(encoding="utf-8")
    assert [pick.rank for pick in report.picks] == [1, 2, 3, 4]
    assert page.count('<tr class="pick"') == 4
    for rank in range(1, 5):
        assert f'href="picks/pick-{rank:03d}.png"' in page  # thumbnail -> full size
        for kind in ("thumbnail", "selection", "expected", "novel", "where"):
            assert f'src="picks/pick-{rank:03d}-{kind}.png"' in page
    for source in img_sources(page):
        assert not source.startswith(("/", "data:", "file:"))  # relative links only
        with Image.open(tmp_path / "out" / source) as picture:
            assert picture.width > 0
    assert (tmp_path / "out" / "rankings.csv").exists()


def test_new_class_marks_the_first_pick_of_each_class():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [0.0, 0.1], [0.0, 3.0]])
    demud = Demud(n_components=1, n_selections=3).fit(X)
    assert demud.ranking_.tolist() == [4, 2, 1]
    labels = np.array([0, 0, 1, 0, 1])  # picks: class 1 (new), class 1 again, class 0 (new)
    report = DiscoveryReport({"DEMUD": demud}, labels=labels)
    records = report.pick_records(0, 3)
    assert [record.new_class for record in records] == [True, False, True]
    page = report._repr_html_()
    assert page.count('<span class="new">new class</span>') == 2


def test_new_class_marks_follow_the_ranking(report):
    ranking = report.rankers["DEMUD"].ranking_
    seen, expected = set(), []
    for index in ranking[:4]:
        expected.append(report.labels[index] not in seen)
        seen.add(report.labels[index])
    assert [pick.new_class for pick in report.picks] == expected


NASTY = "<script>alert(\"x\")</script> & \x1b[31m'q'\u202e.png"


def test_user_strings_are_escaped(tmp_path):
    images, labels = tiny_images()
    names = [f"{NASTY}{i}" for i in range(len(images))]
    report = DiscoveryReport.from_images(
        images,
        labels,
        class_names=["<b>dark</b>", "a$\\x$ & co", '"quoted"'],
        item_names=names,
        n_components=2,
        n_selections=6,
        n_explain=3,
        description=NASTY,
        command=f"sknovel discover --images '{NASTY}'",
        skipped=[(NASTY, "not an image <really>")],
    )
    for page in (report.save(tmp_path / "out").read_text(encoding="utf-8"), report._repr_html_()):
        assert "<script>" not in page and "<b>dark" not in page
        assert "\x1b" not in page and "\u202e" not in page
        assert (
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \\x1b[31m&#x27;q&#x27;" in page
        )
        assert "\\u202e" in page
        assert "&lt;b&gt;dark&lt;/b&gt;" in page or "a$\\x$ &amp; co" in page
        assert "not an image &lt;really&gt;" in page


def test_a_folder_with_files_is_refused_unless_overwrite(report, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        report.save(out)
    assert os.listdir(out) == ["notes.txt"]
    report.save(out, overwrite=True)
    with pytest.raises(FileExistsError, match="earlier report"):
        report.save(out)
    (out / "picks" / "pick-099-where.png").write_bytes(b"stale")  # of a longer earlier run
    (out / "picks" / "my-own.png").write_bytes(b"mine")
    report.save(out, overwrite=True)
    assert not (out / "picks" / "pick-099-where.png").exists()
    assert (out / "picks" / "my-own.png").read_bytes() == b"mine"
    assert (out / "notes.txt").read_text() == "mine"


def test_a_file_is_not_a_report_folder(report, tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(NotADirectoryError, match="is a file"):
        report.save(tmp_path / "f", overwrite=True)


def test_repr_html_is_self_contained(report):
    page = report._repr_html_()
    sources = img_sources(page)
    assert len(sources) == 4 * 5  # thumbnail, selection, expected, novel, where per pick
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        data = base64.b64decode(source.split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as picture:
            assert picture.width > 0
    assert "href=" not in page  # no links to files that are not there
    assert "<svg" in page and "<style>" in page


def test_stage_durations_are_recorded_and_shown(report, tmp_path):
    assert {"featurizing", "ranking", "explaining the picks"} <= set(report.timings)
    assert all(seconds >= 0 for seconds in report.timings.values())
    page = report.save(tmp_path / "out").read_text(encoding="utf-8")
    assert "How long each stage took" in page and "featurizing" in page


def test_the_first_screen_compares_demud_with_random(report):
    page = report._repr_html_()
    assert page.index("<svg") < page.index('<tr class="pick"')
    assert page.index('class="summary"') < page.index('<tr class="pick"')
    methods = [row.method for row in report.summary_table().rows]
    assert methods == ["DEMUD", "SVD", "Random", "Random (exact expectation)"]
    ElementTree.fromstring(report.curve_svg())  # well-formed SVG


def test_progress_bars_on_stderr_only_when_verbose(capsys):
    images, labels = tiny_images()
    kwargs = dict(n_components=2, n_selections=5, n_explain=1)
    DiscoveryReport.from_images(images, labels, **kwargs)
    assert capsys.readouterr().err == ""
    DiscoveryReport.from_images(images, labels, verbose=True, **kwargs)
    captured = capsys.readouterr()
    # the featurizing stage's bar, then DEMUD's own bar over its picks (its verbose)
    assert "featurizing" in captured.err and "image/s" in captured.err
    assert "Demud.fit" in captured.err and "5/5" in captured.err
    assert "Demud" not in captured.out


def test_the_decoder_stage_trains_an_inverter_of_demuds_picks(
    capsys, monkeypatch, one_torch_thread
):
    pytest.importorskip("torch")
    from sklearn.utils import Bunch

    from sknovel.explain import UCInverter
    from sknovel.features import CNNFeaturizer
    from sknovel.report import _stages

    # What is tested is the wiring of the stages, not the decoder: 2 epochs, a tiny network.
    monkeypatch.setattr(_stages, "DECODER_EPOCHS", (2, 2))
    images = (np.random.default_rng(0).random((10, 20, 20, 3)) * 255).astype(np.uint8)
    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16)
    stages = _stages.Stages(progress=True)
    cnn, X = _stages.featurize(images, cnn, stages)
    demud = _stages.rank(X, n_components=2, n_selections=4, random_state=0, stages=stages)
    demud = demud["DEMUD"]
    inverter = _stages.train_decoder(images, cnn, X, demud, random_state=0, stages=stages)
    err = capsys.readouterr().err
    # one bar per stage: the report's over the images, DEMUD's and the inverter's own
    assert "featurizing" in err and "Demud.fit" in err
    assert "UCInverter.fit" in err and "2/2" in err and "loss=" in err
    assert inverter.ranker is demud and inverter.featurizer_ is cnn
    assert _stages.INVERTING in stages.durations

    pictures = [Bunch(), Bunch()]
    _stages._add_inverted(pictures, inverter, images, X, [0, 1])
    # the decoder of fitting on the images, whose features the stage did not compute again
    again = UCInverter(cnn, demud, image_size=64, epochs=2, random_state=0).fit(images)
    expected = again.explain(images, [0, 1], features=X)
    for i, picture in enumerate(pictures):
        np.testing.assert_array_equal(picture.inverted, expected.selections[i])
        np.testing.assert_array_equal(picture.novel, expected.novel[i])
        assert picture.expected.shape == (_stages.DECODER_SIZE, _stages.DECODER_SIZE, 3)


def test_from_pipeline(tmp_path):
    images, labels = tiny_images()
    pipeline = make_pipeline(PixelFeaturizer(), Demud(2, n_selections=8)).fit(images)
    report = DiscoveryReport.from_pipeline(pipeline, images, labels, n_explain=2)
    assert set(report.rankers) == {"DEMUD", "SVD", "Random"}
    assert len(report.rankers["SVD"].ranking_) == 8
    assert [pick.rank for pick in report.picks] == [1, 2]


def test_image_files_link_to_their_full_size_file(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i, suffix in enumerate([".png", ".tif", ".jpg", ".png"]):
        path = folder / f"{i}{suffix}"
        Image.fromarray(rng.integers(0, 256, (30 + i, 20, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    report = DiscoveryReport.from_images(
        paths, features="pixels", n_components=1, n_selections=4, n_explain=4
    )
    page = report.save(tmp_path / "out").read_text(encoding="utf-8")
    full = sorted(re.findall(r'href="(picks/pick-\d+\.\w+)"', page))
    assert len(full) == 4 and not any(name.endswith(".tif") for name in full)
    for name in full:
        with Image.open(tmp_path / "out" / name) as picture:
            assert picture.width == 20  # the original size, not the featurizer's 64 x 64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_selections": 0}, "n_selections"),
        ({"n_selections": 50}, "n_selections"),
        ({"n_explain": -1}, "n_explain"),
        ({"features": "sift"}, "features"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    images, labels = tiny_images()
    with pytest.raises(ValueError, match=match):
        DiscoveryReport.from_images(images, labels, **kwargs)


def test_labels_of_another_length_are_refused():
    images, labels = tiny_images()
    with pytest.raises(ValueError, match="15 labels for 16 items"):
        DiscoveryReport.from_images(images, labels[:-1], n_selections=5)


def test_a_feature_matrix_is_ranked_without_pictures():
    rng = np.random.default_rng(0)
    report = DiscoveryReport.from_images(
        rng.random((20, 4)), np.arange(20) % 3, n_components=2, n_selections=6
    )
    assert report.picks == []
    page = report._repr_html_()
    assert "<img" not in page and page.count("item ") >= 6
