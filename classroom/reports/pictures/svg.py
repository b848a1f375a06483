"""What every picture shares: an accessible `<svg>` root, number formatting, linear scales,
clock-time ticks, text width estimates and a palette with enough contrast.

Everything is ElementTree: text and attribute values are escaped when the tree is written,
so a name like ``<script>`` is drawn as those characters.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

SVG_NS = "http://www.w3.org/2000/svg"

#: Categorical colours from Okabe–Ito's and Paul Tol's colour-blind-safe sets, darkened
#: where needed so that each is at least 4.5:1 against white: shapes in them stand out
#: (WCAG 1.4.11 asks 3:1) and white text on them reads (1.4.3).
PALETTE = (
    *("#0072B2", "#B35900", "#00856A", "#A0527F", "#8C6D00"),
    *("#332288", "#AA4499", "#117733", "#882255", "#76761F"),
)
#: Bars, axis and text colours (all at least 4.5:1 on white but the track).
BAR = "#2f6fdf"
TRACK = "#e3e8f0"
INK = "#1f2937"
MUTED = "#5b6472"
#: The font size of labels; an average character is about CHAR_EM of it wide.
FONT = 12.0
CHAR_EM = 0.58
#: Space between a label and what it labels.
PAD = 8.0


class Say(Protocol):
    """A string catalogue: ``t("key", name=value)`` (the report pages' `ReportStrings`),
    with the same language's number and date forms."""

    def __call__(self, key: str, **params: object) -> str: ...

    def number(self, value: float | int, digits: int = 0) -> str: ...

    def percent(self, value: float | int) -> str: ...

    def day(self, value: datetime | date | str, tz_name: str | None = None) -> str: ...


#: Characters XML 1.0 cannot hold at all (ElementTree would write them as they are and
#: make the picture unreadable): C0 controls but tab and newlines, lone surrogates, U+FFFE/F.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """`text` without the characters XML cannot hold (names are user input)."""
    return NOT_XML.sub("", text)


def num(x: float) -> str:
    """A coordinate as short text: at most one decimal, no trailing zeros."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def root(picture_id: str, width: float, height: float, title: str, desc: str) -> ET.Element:
    """An `<svg>` a screen reader announces as one image, named by its `<title>` and
    described by its `<desc>`; it scales down to the page's width (reports.css)."""
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "id": picture_id,
            "class": "report-picture",
            "viewBox": f"0 0 {num(width)} {num(height)}",
            "width": num(width),
            "height": num(height),
            "role": "img",
            "aria-labelledby": f"{picture_id}-title {picture_id}-desc",
            "font-size": num(FONT),
        },
    )
    ET.SubElement(svg, "title", {"id": f"{picture_id}-title"}).text = clean(title)
    ET.SubElement(svg, "desc", {"id": f"{picture_id}-desc"}).text = clean(desc)
    return svg


def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str | float) -> ET.Element:
    """A child element; numbers become short text, ``class_`` the class attribute and other
    underscores hyphens (``stroke_width`` → ``stroke-width``)."""
    values = {
        "class" if k == "class_" else k.replace("_", "-"): (
            num(v) if isinstance(v, float) else clean(str(v))
        )
        for k, v in attrs.items()
    }
    element = ET.SubElement(parent, tag, values)
    if text is not None:
        element.text = clean(text)
    return element


def tooltip(parent: ET.Element, text: str) -> None:
    """A `<title>` child: what a pointer hovering the shape shows."""
    ET.SubElement(parent, "title").text = clean(text)


def to_text(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode", short_empty_elements=True)


def text_width(text: str, size: float = FONT) -> float:
    """About how wide `text` is drawn (no font metrics on the server; generous)."""
    return len(text) * CHAR_EM * size


def clip(text: str, width: float, size: float = FONT) -> str:
    """`text` cut with an ellipsis to fit about `width` (the full text goes in a title)."""
    fits = max(1, int(width / (CHAR_EM * size)))
    return text if len(text) <= fits else text[: max(1, fits - 1)].rstrip() + "…"


@dataclass(frozen=True)
class Scale:
    """A linear map from the data range [lo, hi] to the drawing range [a, b]."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return self.a
        return self.a + (value - self.lo) / (self.hi - self.lo) * (self.b - self.a)


#: Clock-tick steps to choose from, in minutes.
TICK_STEPS_MIN = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440)


def clock_ticks(start: float, end: float, offset_s: float = 0.0, most: int = 8) -> list[float]:
    """Unix times of round local clock times (every 5, 10, 15, 30 min, …) within
    [start, end], at most `most` of them; `offset_s` is the time zone's offset from UTC
    (a session lasts hours: a change of offset within it is not worth a tick)."""
    span = max(end - start, 60.0)
    step = TICK_STEPS_MIN[-1] * 60.0
    for step_min in TICK_STEPS_MIN:
        if span / (step_min * 60.0) <= most:
            step = step_min * 60.0
            break
    t = math.ceil((start + offset_s) / step) * step - offset_s
    ticks = []
    while t <= end + 1e-6:
        ticks.append(t)
        t += step
    return ticks


def relative_luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours (#rrggbb)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: str, b: str, share: float) -> str:
    """The colour `share` of the way from `a` to `b`."""
    ca = [int(a.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]
    cb = [int(b.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(ca, cb, strict=True))


def ink_on(fill: str) -> str:
    """Black or white text, whichever reads better on `fill`: one of them always reaches
    4.5:1 (the worst case, a fill of luminance 0.18, has 4.58:1 with either)."""
    return "#000000" if contrast("#000000", fill) >= contrast("#ffffff", fill) else "#ffffff"


def colour(index: int, palette: Sequence[str] = PALETTE) -> str:
    return palette[index % len(palette)]


# -- legends -----------------------------------------------------------------------------------

#: A legend row's height, and the size of a sample square.
KEY_H = 20.0
SWATCH = 12.0


@dataclass(frozen=True)
class Key:
    """One legend entry: a square in `fill` (outlined in `stroke`), or a line sample
    `line_w` wide (dashed or not) in `stroke`, or nothing; then its label."""

    label: str
    fill: str = ""
    stroke: str = ""
    line_w: float = 0.0
    dashed: bool = False

    @property
    def sample_w(self) -> float:
        return 28.0 if self.line_w else SWATCH if self.fill else 0.0

    @property
    def width(self) -> float:
        return self.sample_w + (6.0 if self.sample_w else 0.0) + text_width(self.label)


def place_legend(keys: Sequence[Key], left: float, right: float) -> list[tuple[float, float]]:
    """Where each key goes: (x, row top), rows wrapping before `right`."""
    places = []
    x, y = left, 0.0
    for key in keys:
        if x > left and x + key.width > right:
            x, y = left, y + KEY_H
        places.append((x, y))
        x += key.width + 2 * PAD
    return places


def legend_height(places: Sequence[tuple[float, float]]) -> float:
    return (max(y for _, y in places) + KEY_H) if places else 0.0


def draw_legend(
    parent: ET.Element, keys: Sequence[Key], places: Sequence[tuple[float, float]], top: float
) -> None:
    g = add(parent, "g", class_="legend")
    for key, (x, y) in zip(keys, places, strict=True):
        middle = top + y + KEY_H / 2
        if key.line_w:
            add(
                g,
                "line",
                x1=x,
                y1=middle,
                x2=x + key.sample_w,
                y2=middle,
                stroke=key.stroke,
                stroke_width=key.line_w,
                stroke_dasharray="4 3" if key.dashed else "none",
            )
        elif key.fill:
            add(
                g,
                "rect",
                x=x,
                y=middle - SWATCH / 2,
                width=SWATCH,
                height=SWATCH,
                fill=key.fill,
                stroke=key.stroke or key.fill,
            )
        label_x = x + key.sample_w + (6.0 if key.sample_w else 0.0)
        add(g, "text", key.label, x=label_x, y=middle + FONT / 3, fill=INK)
