"""User strings (class names, file names) shown literally: in pictures, terminals and pages.

A class folder named ``a$\\x$`` is math text to matplotlib (and crashes its parser), and a file
name holding ``ESC[31m`` recolours a terminal. The helpers here turn such strings into text
that shows every character as it is, escaping only what would otherwise be interpreted.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import sys
import unicodedata

#: Invisible characters that reorder the text around them (bidirectional overrides).
_BIDI_CONTROLS = frozenset(
    map(chr, [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
)

#: What TeX (``text.usetex``) would interpret, as the TeX that prints it.
_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\textasciitilde{}",
    "$": r"\$",
}


def is_unsafe(character):
    """Whether `character` would act instead of being seen.

    Unsafe are control characters, bidirectional overrides, lone surrogates (undecodable
    bytes of a file name) and line or paragraph separators.
    """
    if character in _BIDI_CONTROLS:
        return True
    return unicodedata.category(character) in ("Cc", "Cs", "Zl", "Zp")


def escape_controls(text):
    """`text` with each unsafe character written as an escape sequence, the rest unchanged.

    Control characters become ``\\xNN`` (``"\\x1b[31m"`` → ``"\\\\x1b[31m"``), an undecodable
    byte of a file name (a lone surrogate from ``os.fsdecode``) becomes ``\\xNN`` of that
    byte, and other unsafe characters ``\\uNNNN``.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sknovel.utils.text import escape_controls
    >>> print(escape_controls("\\x1b[31mred.png"))
    \\x1b[31mred.png
    """
    return "".join(_escaped(c) if is_unsafe(c) else c for c in str(text))


def _escaped(character):
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text):
    """`text` as a matplotlib string that draws exactly these characters.

    ``$`` is escaped so that no part of the string is taken for math text, unsafe characters
    are written as escape sequences (see :func:`escape_controls`), and, when ``text.usetex``
    is on, TeX's special characters are escaped too. Use it for every label that comes from
    the user's data: class names, file names, curve names.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sknovel.utils.text import literal
    >>> literal("a$\\\\x$")
    'a\\\\$\\\\x\\\\$'
    """
    text = escape_controls(text)
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None and matplotlib.rcParams.get("text.usetex", False):
        return text.translate(str.maketrans(_TEX_ESCAPES))
    # Outside usetex, matplotlib reads "\$" as a literal dollar sign and never as math.
    return text.replace("$", "\\$")


def terminal_text(text):
    """`text` as a terminal shows it safely: unchanged, or all escaped if any character is
    unsafe (then backslashes are doubled and non-ASCII is escaped, so the line is
    unambiguous, as Python's ``unicode_escape`` codec writes it).

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sknovel.utils.text import terminal_text
    >>> print(terminal_text("été.png"), terminal_text("\\x1b[31mété.png"))
    été.png \\x1b[31m\\xe9t\\xe9.png
    """
    text = str(text)
    if not any(is_unsafe(c) for c in text):
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")
