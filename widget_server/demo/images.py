"""Product pictures, drawn here as SVG: the silhouette of the product's category in
the product's colour, so that the demo needs no image files and downloads none."""

from __future__ import annotations

import html
from collections.abc import Callable

from widget_server.demo.products import Product


def _mix(colour: str, other: str, share: float) -> str:
    """`colour` moved `share` of the way to `other` (both #rrggbb)."""
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def _pattern(variant: int, light: str) -> str:
    """What tells two products of one category apart: a band, dots, or plain."""
    if variant == 0:
        return f'<rect x="0" y="52" width="100" height="7" fill="{light}" opacity=".7"/>'
    if variant == 1:
        dots = "".join(
            f'<circle cx="{x}" cy="{y}" r="1.6" fill="{light}" opacity=".8"/>'
            for x in range(20, 84, 8)
            for y in range(36 + x % 16 // 8 * 4, 84, 8)
        )
        return dots
    return ""


def _mug(main: str, dark: str, light: str, variant: int) -> str:
    height = (40, 46, 34)[variant]
    top = 76 - height
    return (
        f'<path d="M66 {top + 10} h5 a11 11 0 0 1 0 22 h-5" fill="none" stroke="{dark}" '
        'stroke-width="6"/>'
        f'<clipPath id="s"><rect x="28" y="{top}" width="40" height="{height}" rx="6"/></clipPath>'
        f'<rect x="28" y="{top}" width="40" height="{height}" rx="6" fill="{main}"/>'
        f'<g clip-path="url(#s)">{_pattern(variant, light)}</g>'
        f'<ellipse cx="48" cy="{top + 1}" rx="20" ry="3" fill="{dark}"/>'
    )


def _tee(main: str, dark: str, light: str, variant: int) -> str:
    shape = (
        "M34 24 L43 20 Q50 27 57 20 L66 24 L82 38 L73 48 L67 43 L67 82 L33 82 L33 43 "
        "L27 48 L18 38 Z"
    )
    pocket = '<rect x="54" y="38" width="8" height="9" rx="1" fill="none" stroke="#0003"/>'
    return (
        f'<clipPath id="s"><path d="{shape}"/></clipPath>'
        f'<path d="{shape}" fill="{main}"/>'
        f'<g clip-path="url(#s)">{_pattern(variant, light)}</g>'
        f'<path d="M43 20 Q50 27 57 20" fill="none" stroke="{dark}" stroke-width="2.5"/>'
        + (pocket if variant == 2 else "")
    )


def _lamp(main: str, dark: str, light: str, variant: int) -> str:
    shade = (
        "M34 22 L66 22 L76 46 L24 46 Z",
        "M28 46 Q50 8 72 46 Z",
        "M38 20 L62 20 L66 46 L34 46 Z",
    )[variant]
    return (
        f'<path d="{shade}" fill="{main}"/>'
        f'<rect x="48.5" y="46" width="3" height="30" fill="{dark}"/>'
        f'<ellipse cx="50" cy="79" rx="15" ry="4" fill="{dark}"/>'
        f'<ellipse cx="50" cy="47" rx="7" ry="2" fill="{light}"/>'
    )


def _candle(main: str, dark: str, light: str, variant: int) -> str:
    top = (36, 44, 30)[variant]
    return (
        f'<path d="M50 {top - 14} q5 6 0 11 q-5 -5 0 -11" fill="#f4a340"/>'
        f'<rect x="49.2" y="{top - 4}" width="1.6" height="6" fill="#333"/>'
        f'<rect x="32" y="{top}" width="36" height="{82 - top}" rx="5" fill="{main}"/>'
        f'<rect x="37" y="{top + (82 - top) // 3}" width="26" height="14" rx="2" fill="{light}"/>'
        f'<rect x="32" y="{top}" width="36" height="5" rx="2" fill="{dark}"/>'
    )


def _bag(main: str, dark: str, light: str, variant: int) -> str:
    body = "M26 40 L74 40 L78 84 L22 84 Z"
    return (
        f'<path d="M38 42 V32 a12 12 0 0 1 24 0 V42" fill="none" stroke="{dark}" stroke-width="4"/>'
        f'<clipPath id="s"><path d="{body}"/></clipPath>'
        f'<path d="{body}" fill="{main}"/>'
        f'<g clip-path="url(#s)">{_pattern(variant, light)}</g>'
    )


def _plant(main: str, dark: str, light: str, variant: int) -> str:
    leaves = "".join(
        f'<ellipse cx="{50 + dx}" cy="{44 + dy}" rx="7" ry="17" fill="{green}" '
        f'transform="rotate({angle} {50 + dx} {44 + dy})"/>'
        for dx, dy, angle, green in (
            (-13, 4, -35, "#4f8a4b"),
            (13, 4, 35, "#4f8a4b"),
            (-5, -4, -10, "#67a35f"),
            (6, -6, 12, "#5d9a55"),
        )[: 2 + variant]
    )
    return (
        leaves + f'<path d="M33 58 L67 58 L62 84 L38 84 Z" fill="{main}"/>'
        f'<rect x="31" y="56" width="38" height="6" rx="2" fill="{dark}"/>'
        f'<rect x="36" y="68" width="28" height="3" fill="{light}" opacity=".6"/>'
    )


SHAPES: dict[str, Callable[[str, str, str, int], str]] = {
    "mug": _mug,
    "tee": _tee,
    "lamp": _lamp,
    "candle": _candle,
    "bag": _bag,
    "plant": _plant,
}


def product_svg(product: Product) -> str:
    main = product.colour
    dark = _mix(main, "#000000", 0.3)
    light = _mix(main, "#ffffff", 0.55)
    background = _mix(main, "#ffffff", 0.86)
    drawing = SHAPES[product.category.shape](main, dark, light, product.variant)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="600" '
        f'height="600" role="img"><title>{html.escape(product.name)}</title>'
        f'<rect width="100" height="100" fill="{background}"/>'
        '<ellipse cx="50" cy="86" rx="26" ry="3.5" fill="#0000001a"/>'
        f"{drawing}</svg>"
    )
