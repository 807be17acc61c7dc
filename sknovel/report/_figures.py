"""The report's pictures, drawn without matplotlib: PNG files of images and heatmaps, and the
discovery curve and the legends of the pictures as SVG.

Images are encoded with Pillow (a core dependency); the curve is written as SVG text, so a
report needs neither matplotlib nor a display.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import base64
import html
import io

import numpy as np

#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIDE = 160

#: Anchors of the heatmap colour map, dark to bright (after matplotlib's "inferno").
_HEAT_COLOURS = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
     [250, 193, 39], [252, 255, 164]],
    dtype=np.float64,
)  # fmt: skip

#: Opacity of a heatmap drawn over its image.
HEAT_ALPHA = 0.55


def to_uint8(image):
    """An image as uint8 (H, W) or (H, W, 3): floats in [0, 1] scaled, one channel squeezed.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8 or float in [0, 1]

    Returns
    -------
    image : ndarray of uint8
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.round(np.clip(np.nan_to_num(image.astype(np.float64)), 0, 1) * 255)
        image = image.astype(np.uint8)
    return image


def png_bytes(image, *, max_side=None):
    """PNG file content of an image, shrunk (aspect kept, antialiased) to `max_side` if larger.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8 or float in [0, 1]
    max_side : int or None, default=None

    Returns
    -------
    data : bytes
    """
    from PIL import Image

    picture = Image.fromarray(to_uint8(image))
    if max_side is not None and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data, mime="image/png"):
    """A ``data:`` URI of file content, for pages that must hold their images."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def unit_range(values):
    """`values` scaled to [0, 1] (all zeros when constant)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    low, high = values.min(), values.max()
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def heat_colours(values):
    """RGB floats in [0, 1] of heat `values` in [0, 1] (shape (..., 3))."""
    position = np.clip(values, 0, 1) * (len(_HEAT_COLOURS) - 1)
    low = np.minimum(np.floor(position).astype(int), len(_HEAT_COLOURS) - 2)
    frac = (position - low)[..., np.newaxis]
    return ((1 - frac) * _HEAT_COLOURS[low] + frac * _HEAT_COLOURS[low + 1]) / 255


def heat_top(heat):
    """The value drawn brightest in a heatmap's overlay: its largest value, at least 0."""
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64))
    return max(float(heat.max()), 0.0) if heat.size else 0.0


def heatmap_overlay(image, heat):
    """The heatmap drawn over a grey copy of the image, from 0 (dark) to its largest value.

    One sign convention for every map: larger = more of the novelty. Values at or below 0
    (hiding the region removes none of the novelty, or adds some) are drawn darkest, the
    map's largest value (:func:`heat_top`) brightest, so a colour bar from 0 to that value
    reads the picture.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), uint8 or float in [0, 1]
    heat : ndarray of shape (H, W)
        Larger = more of the novelty.

    Returns
    -------
    overlay : ndarray of shape (H, W, 3), float in [0, 1]
    """
    image = to_uint8(image) / 255.0
    grey = image if image.ndim == 2 else image @ np.array([0.299, 0.587, 0.114])
    if grey.shape != np.shape(heat):
        raise ValueError(f"heat has shape {np.shape(heat)} but the image {grey.shape}.")
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64))
    top = heat_top(heat)
    colours = heat_colours(heat / top if top > 0 else np.zeros_like(heat))
    return (1 - HEAT_ALPHA) * grey[..., np.newaxis] + HEAT_ALPHA * colours


# --- legends ------------------------------------------------------------------------------


def _ramp_svg(stops, *, width, label_lines, ticks, title, gradient_id):
    """A horizontal colour ramp with ticks below it and a label beside it, as SVG text.

    `stops` are (offset in [0, 1], CSS colour); `ticks` (offset in [0, 1], text);
    `gradient_id` names the gradient in the page (the same for every ramp of one kind, so
    that two copies on a page agree).
    """
    bar_w, bar_h, left, top = 150, 14, 8, 4
    gradient = "".join(
        f'<stop offset="{offset:.3f}" stop-color="{colour}"/>' for offset, colour in stops
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + bar_h + 38}" '
        f'role="img" font-family="sans-serif" font-size="12">',
        f"<title>{html.escape(title)}</title>",
        f'<defs><linearGradient id="{gradient_id}">{gradient}</linearGradient></defs>',
    ]
    parts.append(
        f'<rect x="{left}" y="{top}" width="{bar_w}" height="{bar_h}" '
        f'fill="url(#{gradient_id})" stroke="#444"/>'
    )
    for offset, tick in ticks:
        x = left + bar_w * offset
        anchor = "start" if offset == 0 else "end" if offset == 1 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + bar_h + 5}" '
            f'stroke="#222" stroke-width="1.5"/>'
            f'<text x="{x:.1f}" y="{top + bar_h + 18}" text-anchor="{anchor}">'
            f"{html.escape(tick)}</text>"
        )
    for row, line in enumerate(label_lines):
        parts.append(
            f'<text x="{left + bar_w + 12}" y="{top + 12 + 16 * row}">{html.escape(line)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def heat_colour_bar_svg(label_lines, *, low="0", high="largest", width=520):
    """The heatmaps' colour bar (as drawn by :func:`heatmap_overlay`), as SVG text.

    Parameters
    ----------
    label_lines : sequence of str
        What the colours mean, one line each, written beside the bar.
    low, high : str, default="0", "largest"
        Texts of the bar's two ends.
    width : int, default=520
        Width in CSS pixels.

    Returns
    -------
    svg : str
    """
    stops = [
        (i / (len(_HEAT_COLOURS) - 1), "#{:02x}{:02x}{:02x}".format(*map(int, colour)))
        for i, colour in enumerate(_HEAT_COLOURS)
    ]
    return _ramp_svg(
        stops,
        width=width,
        label_lines=label_lines,
        ticks=[(0.0, low), (1.0, high)],
        title="Colour bar of the Where pictures",
        gradient_id="sknovel-heat-ramp",
    )


def novel_grey_bar_svg(label_lines, *, width=520):
    """The legend of a residual drawn around mid-grey: black, mid-grey at 0, white.

    Parameters
    ----------
    label_lines : sequence of str
        What the greys mean, one line each, written beside the bar.
    width : int, default=520

    Returns
    -------
    svg : str
    """
    return _ramp_svg(
        [(0.0, "#000000"), (0.5, "#808080"), (1.0, "#ffffff")],
        width=width,
        label_lines=label_lines,
        ticks=[(0.0, "less"), (0.5, "0"), (1.0, "more")],
        title="Grey scale of the Novel pictures",
        gradient_id="sknovel-grey-ramp",
    )


# --- the discovery curve ----------------------------------------------------------------

#: (colour, dash pattern, width) of each curve, by name; others get the fallback.
CURVE_STYLES = {
    "Oracle": ("#9a9a9a", "2 3", 1.5),
    "Random (exact expectation)": ("#222222", "6 4", 1.8),
    "DEMUD": ("#c0392b", "", 2.6),
    "SVD": ("#2471a3", "", 1.8),
    "Random": ("#8e8e8e", "", 1.2),
}
_FALLBACK_STYLE = ("#7d3c98", "", 1.8)


def nice_ticks(upper, count=5):
    """About `count` round tick values from 0 to at least `upper` (a positive number)."""
    raw = max(upper, 1) / count
    magnitude = 10 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    top = step * np.ceil(max(upper, 1) / step)
    return [float(v) for v in np.arange(0, top + step / 2, step)]


def _tick_text(value):
    return f"{value:g}"


def discovery_svg(curves, *, n_classes, width=600, height=330, title="Discovery curves"):
    """The discovery curves as an SVG document (text).

    Parameters
    ----------
    curves : dict of str to array-like of float
        Classes found after 1, 2, ... picks, by method, drawn in this order (later on top).
    n_classes : int
        The number of classes; a grey line marks it.
    width, height : int, default=600, 330
        Size in CSS pixels.
    title : str, default="Discovery curves"
        The picture's accessible title.

    Returns
    -------
    svg : str
    """
    left, right, top, bottom = 48, 200, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n_picks = max(len(curve) for curve in curves.values())
    x_ticks = [v for v in nice_ticks(n_picks) if v >= 1] or [1.0]
    x_max = max(n_picks, x_ticks[-1])
    y_ticks = nice_ticks(n_classes)
    y_max = y_ticks[-1]

    def x_of(pick):
        return left + plot_w * (pick - 1) / max(x_max - 1, 1)

    def y_of(found):
        return top + plot_h * (1 - found / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>{html.escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#444"/>',
    ]
    for value in y_ticks:
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_text(value)}</text>'
        )
    for value in x_ticks:
        x = x_of(value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
            f'stroke="#444"/><text x="{x:.1f}" y="{top + plot_h + 17}" '
            f'text-anchor="middle">{_tick_text(value)}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        "items picked</text>"
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">classes found</text>'
    )
    for row, (name, curve) in enumerate(curves.items()):
        colour, dash, stroke = CURVE_STYLES.get(name, _FALLBACK_STYLE)
        curve = np.asarray(curve, dtype=np.float64)
        points = " ".join(f"{x_of(i + 1):.1f},{y_of(v):.1f}" for i, v in enumerate(curve))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="{stroke}"{dashes} '
            f'stroke-linejoin="round" points="{points}"/>'
        )
        y = top + 10 + 20 * row
        x = left + plot_w + 10
        parts.append(
            f'<line x1="{x}" x2="{x + 24}" y1="{y}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{stroke}"{dashes}/>'
            f'<text x="{x + 29}" y="{y + 4}" font-size="11">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
