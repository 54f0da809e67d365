"""Label classes: the value painted into a label map, its name, and the colour it is drawn in.

Colours come from the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies, and calm on a
grey scan); classes beyond its seven colours get hues spaced by the golden angle.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
MAX_CLASSES = 255  # label maps are uint8 and 0 is background
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class LabelClass:
    """A foreground class. value: 1..255 in the uint8 label map; color: "#RRGGBB"."""

    value: int
    name: str
    color: str


def class_color(index: int) -> str:
    """The colour of the ``index``-th class (0-based): Okabe–Ito first, then golden-angle hues."""
    if index < len(OKABE_ITO):
        return OKABE_ITO[index]
    r, g, b = colorsys.hls_to_rgb((index * 0.618033988749895) % 1.0, 0.55, 0.65)
    return "#{:02X}{:02X}{:02X}".format(round(r * 255), round(g * 255), round(b * 255))


def named_classes(names: list[str]) -> list[LabelClass]:
    """Classes 1..N with the given names and palette colours."""
    return [LabelClass(i + 1, name, class_color(i)) for i, name in enumerate(names)]


def generic_classes(n: int) -> list[LabelClass]:
    """``n`` classes named "class 1" .. "class n"."""
    return named_classes([f"class {i + 1}" for i in range(n)])


# ACDC cardiac labels: 1 right ventricle, 2 myocardium, 3 left ventricle.
DEFAULT_CLASSES = named_classes(["RV", "Myo", "LV"])


def class_problem(classes: list[LabelClass]) -> str | None:
    """Why ``classes`` cannot label a uint8 map (values must be 1..N in order, names non-empty), or None if fine."""
    if not 1 <= len(classes) <= MAX_CLASSES:
        return f"a project needs 1 to {MAX_CLASSES} classes, got {len(classes)}"
    for i, cls in enumerate(classes):
        if cls.value != i + 1:
            return f"class values must be 1..{len(classes)} in order; class {cls.name!r} has value {cls.value}"
        if not isinstance(cls.name, str) or not cls.name.strip():
            return f"class {cls.value} has no name"
        if not isinstance(cls.color, str) or not _COLOR.match(cls.color):
            return f"class {cls.name!r} has colour {cls.color!r}; expected #RRGGBB"
    names = [cls.name for cls in classes]
    if len(set(names)) != len(names):
        return f"class names must be unique, got {names}"
    return None
