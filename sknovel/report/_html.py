"""The report as HTML: a whole page for the report folder, a fragment for Jupyter.

The writer gets every image address from the caller (a relative file name in the folder, or
a ``data:`` URI inline), so the same markup serves both. Every string that comes from the
user's data (file, class and item names, the command line) is escaped: control characters
written as escape sequences, then HTML-escaped.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import html

from sknovel.utils.text import escape_controls

from ._figures import heat_colour_bar_svg, heat_top, novel_grey_bar_svg

#: Column titles of a pick's pictures, in the order they are shown, with what each shows.
PICTURES = {
    "selection": ("Selection", "the picked image, as the features saw it"),
    "inverted": ("Inverted", "the pick's own features, decoded back into an image"),
    "expected": ("Expected", "what the model of the earlier picks expected"),
    "novel": ("Novel", "what was new: the part the model did not expect"),
    "where": ("Where", "where in the image the novelty lies (brighter = more; see its colour bar)"),
}

#: What the colours of the Where pictures mean: of NoveltyMap's occlusion maps, and of the
#: squared residuals drawn with pixel features (lines of the colour bar's label).
HEAT_MEANING = (
    "share of the pick's novelty score removed",
    "when this region is hidden (1 = all of it)",
)
PIXEL_HEAT_MEANING = (
    "each pixel's part of the novelty score:",
    "its squared difference from Expected",
)

#: Rows of the compact list of picks after the explained ones.
LISTED_PICKS = 20

STYLE = """
.sknovel-report{font-family:system-ui,sans-serif;color:#222;max-width:80em;margin:0 auto;
 line-height:1.4}
.sknovel-report h1{font-size:1.6em;margin:.4em 0}
.sknovel-report h2{font-size:1.25em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
.sknovel-report .lead{font-size:1.1em;margin:.3em 0 .8em}
.sknovel-report .first-screen{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.sknovel-report table{border-collapse:collapse}
.sknovel-report td,.sknovel-report th{padding:.25em .7em;text-align:left;vertical-align:top}
.sknovel-report .summary td.num{text-align:right;font-variant-numeric:tabular-nums}
.sknovel-report .summary tr.demud{font-weight:bold}
.sknovel-report .summary th,.sknovel-report .list th{border-bottom:1px solid #999}
.sknovel-report tr.pick{border-top:1px solid #ddd}
.sknovel-report figure{margin:0;text-align:center}
.sknovel-report figcaption{font-size:.85em;color:#333;line-height:1.2}
.sknovel-report figcaption .scale{font-size:.9em;color:#555;font-variant-numeric:tabular-nums}
.sknovel-report .legend{display:flex;flex-wrap:wrap;gap:.2em 2em;margin:.2em 0 .6em}
.sknovel-report .legend p{margin:.1em 0;max-width:36em}
.sknovel-report img.picture{width:112px;height:112px;object-fit:contain;
 image-rendering:pixelated;background:#f3f3f3}
.sknovel-report .name{font-family:ui-monospace,monospace;word-break:break-all;max-width:18em}
.sknovel-report .new{display:inline-block;background:#1e8449;color:#fff;border-radius:.3em;
 padding:0 .4em;font-size:.85em}
.sknovel-report .note{background:#fdf6e3;border-left:4px solid #e0b000;padding:.3em .8em}
.sknovel-report pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;word-break:break-all}
"""


def text(value):
    """A user string for the page: control characters escaped, then HTML-escaped."""
    return html.escape(escape_controls(value), quote=True)


def page(report, source, link):
    """The whole HTML document of `report`.

    Parameters
    ----------
    report : DiscoveryReport
    source : callable
        ``source(pick, kind)``: the address of a pick's picture ("thumbnail" or a key of
        :data:`PICTURES`).
    link : callable
        ``link(pick)``: the address of the pick's full-size image, or None.

    Returns
    -------
    page : str
    """
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{text(report.title)}</title>\n<style>{STYLE}</style></head>\n"
        f"<body>\n{fragment(report, source, link, style=False, files=True)}\n</body></html>\n"
    )


def fragment(report, source, link, *, style=True, files=False):
    """The report as one ``<div>`` (with its own style sheet when `style`; with links to the
    files of the report folder when `files`)."""
    sections = [
        f"<h1>{text(report.title)}</h1>",
        f'<p class="lead">{lead(report)}</p>',
        *[f'<p class="note">{text(note)}</p>' for note in report.notes],
        first_screen(report),
        how_to_read(report),
        picks_section(report, source, link, files),
        details(report),
    ]
    css = f"<style>{STYLE}</style>\n" if style else ""
    return f'{css}<div class="sknovel-report">\n' + "\n".join(sections) + "\n</div>"


def lead(report):
    """One sentence: the data, and what DEMUD found compared with random selection."""
    data = f"Data: {text(report.description)}." if report.description else ""
    table = report.summary_table()
    if table is None:
        return f"{data} No labels, so no discovery curves: the picks are below.".strip()
    early = table.t_early
    demud = next(row for row in table.rows if row.method == "DEMUD")
    random = next(row for row in table.rows if row.method == "Random (exact expectation)")
    found = (
        f"{data} In its first {early} picks DEMUD found {demud.found_early} of "
        f"{table.n_classes} classes; random selection finds {random.found_early:.1f} on "
        f"average (nAUC<sub>{early}</sub> {demud.nauc_early:.1f} vs "
        f"{random.nauc_early:.1f}; 100 is the best possible order)."
    )
    if table.t_all > early:
        found += (
            f" In all {table.t_all} picks: {demud.found_all} classes against "
            f"{random.found_all:.1f} (nAUC<sub>{table.t_all}</sub> {demud.nauc_all:.1f} vs "
            f"{random.nauc_all:.1f})."
        )
    return found.strip()


def first_screen(report):
    """The discovery curve and the summary table, side by side."""
    table = report.summary_table()
    if table is None:
        return ""
    rows = "\n".join(
        f'<tr class="{"demud" if row.method == "DEMUD" else ""}"><td>{text(row.method)}</td>'
        f'<td class="num">{row.nauc_early:.1f}</td><td class="num">{row.nauc_all:.1f}</td>'
        f'<td class="num">{_found(row.found_all)}</td></tr>'
        for row in table.rows
    )
    return f"""<h2>Discovery: DEMUD against static SVD and random selection</h2>
<div class="first-screen">
<div class="curve">{report.curve_svg()}</div>
<table class="summary">
<tr><th>method</th><th>nAUC,<br>first {table.t_early} picks</th>
<th>nAUC,<br>all {table.t_all} picks</th><th>classes<br>found</th></tr>
{rows}
</table>
</div>"""


def _found(found):
    return f"{found:.2f}" if isinstance(found, float) else f"{found}"


def how_to_read(report):
    """A short paragraph on how to read the curve, the table and the pictures."""
    parts = [
        "DEMUD picks one item at a time: the one that a model of everything picked so far "
        "explains worst. Its score is that reconstruction error, so every pick is novel with "
        "respect to the picks before it. Static SVD ranks all items once by their error under "
        "a model of the whole collection; random selection is the baseline."
    ]
    if report.labels is not None:
        parts.append(
            "The curve counts the classes found after each pick (the labels are used only "
            "to score the rankings, never to make them): higher and earlier is better. "
            "nAUC (Lee, Wagstaff et al. 2018, eq. 3) is the area under a curve as a "
            "percentage of the best possible order's (Oracle); Random (exact expectation) is "
            "the average over all random orders, computed exactly."
        )
    kinds = set().union(*(pick.pictures for pick in report.picks)) if report.picks else set()
    if kinds:
        shown = [f"<i>{PICTURES[k][0]}</i>: {PICTURES[k][1]}" for k in PICTURES if k in kinds]
        parts.append(
            "In each row of pictures, " + "; ".join(shown) + ". A green <i>new class</i> mark "
            "flags the first pick of its class."
        )
        if "expected" not in kinds:
            parts.append(
                "CNN features are not images: what was expected and what was new can only "
                "be drawn by a decoder trained on the collection (the command's --invert)."
            )
    return "<h2>How to read this</h2>\n<p>" + " ".join(parts) + "</p>" + legends(kinds)


def drawn_from_pixels(kinds):
    """Whether a pick's pictures are pixel features' own: Expected without a decoder."""
    return "expected" in kinds and "inverted" not in kinds


def legends(kinds):
    """The legends of the Where and Novel pictures (those present in `kinds`), as HTML."""
    blocks = []
    if "where" in kinds:
        pixels = drawn_from_pixels(kinds)
        meaning = (
            "its part of the pick's novelty score, its squared difference from Expected "
            "(summed over colour channels)"
            if pixels
            else "the share of the pick's novelty score removed when the region around it is "
            "hidden (the largest for a window a quarter of the image wide that covers it, "
            "replaced by a blur of itself; 1 would be all of the novelty)"
        )
        blocks.append(
            '<div class="legend-where">'
            + heat_colour_bar_svg(PIXEL_HEAT_MEANING if pixels else HEAT_MEANING)
            + f"<p><i>Where</i>: the colour of a pixel is {meaning}. Dark: none of it (or "
            "less than none); each picture runs from 0 to its own largest value, written "
            "under it, and is drawn half-transparent over a grey copy of the pick.</p></div>"
        )
    if "novel" in kinds:
        blocks.append(novel_legend(kinds))
    return f'\n<div class="legend">{"".join(blocks)}</div>' if blocks else ""


def novel_legend(kinds):
    """How to read the Novel pictures: a residual around mid-grey, or a decoder's drawing."""
    if drawn_from_pixels(kinds):
        lines = ("mid-grey (0): as expected; brighter or", "darker: more or less than expected")
        return (
            '<div class="legend-novel">'
            + novel_grey_bar_svg(lines)
            + "<p><i>Novel</i>: the pick minus Expected, drawn around mid-grey: mid-grey is "
            "0 (the pixel is as expected), brighter means more than expected and darker less, "
            "per colour channel (a tint: more of that colour), scaled to the largest "
            "difference among the pictured picks.</p></div>"
        )
    return (
        '<div class="legend-novel"><p><i>Novel</i>: the decoder\'s drawing of the '
        "collection's average features plus the pick's novel part (its features minus the "
        "expected ones). It is not centred on grey: it is the average image changed by what "
        "was new, so what differs from the collection's average look is the novelty.</p></div>"
    )


def picks_section(report, source, link, files):
    """One row per explained pick, then a compact list of the next picks."""
    rows = "\n".join(pick_row(report, pick, source, link) for pick in report.picks)
    explained = ""
    if rows:
        explained = f'<table class="picks">\n{rows}\n</table>'
    listed = pick_list(report, len(report.picks), files)
    return f"<h2>DEMUD's first picks</h2>\n{explained}\n{listed}"


def pick_row(report, pick, source, link):
    """The row of one explained pick: thumbnail, name, class, score, and its pictures."""
    thumbnail = (
        f'<img class="picture" src="{text(source(pick, "thumbnail"))}" '
        f'alt="pick {pick.rank}: {text(pick.name)}">'
    )
    href = link(pick)
    if href is not None:
        thumbnail = f'<a href="{text(href)}" title="full size">{thumbnail}</a>'
    figures = "".join(
        f'<td><figure><img class="picture" src="{text(source(pick, kind))}" '
        f'alt="{PICTURES[kind][0]} of pick {pick.rank}"><figcaption>{PICTURES[kind][0]}'
        f"{_scale(pick, kind)}</figcaption></figure></td>"
        for kind in PICTURES
        if kind in pick.pictures
    )
    return (
        f'<tr class="pick" id="pick-{pick.rank}"><td>{pick.rank}</td><td>{thumbnail}</td>'
        f"<td>{_item(report, pick)}</td>{figures}</tr>"
    )


def _scale(pick, kind):
    """Under a Where picture: the values its colours run between (see the colour bar)."""
    if kind != "where":
        return ""
    return f'<br><span class="scale">0 to {heat_top(pick.pictures[kind]):.2g}</span>'


def _item(report, pick):
    lines = [f'<div class="name">{text(pick.name)}</div>']
    if pick.class_name is not None:
        lines.append(f"<div>class: {text(pick.class_name)}</div>")
    lines.append(f"<div>score: {pick.score:.4g}</div>")
    if pick.new_class:
        lines.append('<div><span class="new">new class</span></div>')
    return "".join(lines)


def pick_list(report, start, files):
    """The picks from `start` on (at most :data:`LISTED_PICKS`), without pictures."""
    picks = report.pick_records(start, start + LISTED_PICKS)
    if not picks:
        return ""
    labelled = report.labels is not None
    rows = "\n".join(
        f'<tr><td>{pick.rank}</td><td class="name">{text(pick.name)}</td>'
        + (f"<td>{text(pick.class_name)}</td>" if labelled else "")
        + f"<td>{pick.score:.4g}</td>"
        + ('<td><span class="new">new class</span></td>' if pick.new_class else "<td></td>")
        + "</tr>"
        for pick in picks
    )
    header = "<tr><th>pick</th><th>item</th>" + ("<th>class</th>" if labelled else "")
    header += "<th>score</th><th></th></tr>"
    intro = "The next picks" if start else "The picks"
    csv = ' (all rankings: <a href="rankings.csv">rankings.csv</a>)' if files else ""
    return (
        f"<p>{intro}, with each one's score when it was picked{csv}:</p>\n"
        f'<table class="list">\n{header}\n{rows}\n</table>'
    )


def details(report):
    """The data, its attribution, the parameters, the command, the stage times, skipped
    files."""
    parts = ["<h2>How this report was made</h2>"]
    if report.command:
        parts.append(f"<p>Command:</p>\n<pre><code>{text(report.command)}</code></pre>")
    rows = "".join(
        f"<tr><th>{text(name)}</th><td>{text(value)}</td></tr>"
        for name, value in report.parameters.items()
    )
    parts.append(f'<table class="parameters">{rows}</table>')
    if report.timings:
        times = "".join(
            f'<tr><td>{text(stage)}</td><td class="num">{duration_text(seconds)}</td></tr>'
            for stage, seconds in report.timings.items()
        )
        total = sum(report.timings.values())
        parts.append(
            "<p>How long each stage took:</p>\n"
            f'<table class="timings">{times}<tr><th>total</th>'
            f'<th class="num">{duration_text(total)}</th></tr></table>'
        )
    if report.attribution:
        lines = "\n".join(text(line) for line in report.attribution.splitlines())
        parts.append(f"<h2>About the data</h2>\n<pre>{lines}</pre>")
    if report.skipped:
        items = "\n".join(
            f"<li><code>{text(path)}</code>: {text(why)}</li>" for path, why in report.skipped
        )
        parts.append(
            "<h2>Skipped files</h2>\n"
            f"<p>{len(report.skipped)} file(s) could not be read and were left out of the "
            f"ranking:</p>\n<ul>\n{items}\n</ul>"
        )
    return "\n".join(parts)


def duration_text(seconds):
    """``"4.2 s"`` or ``"2 min 5 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
