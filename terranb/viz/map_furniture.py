"""Map furniture for result maps: legend, graticule, north arrow, labelled layers.

A map a surveyor files states what each colour means (with units), where it is
(a labelled latitude/longitude graticule) and which way is north. Everything
here is plain Leaflet/HTML added to a ``folium.Map``: no plugin, no network.

* :func:`add_legend` -- a box listing every layer's symbol, and a colour bar
  with units for a colour-coded layer (the point-density map: points/m²).
* :func:`add_graticule` -- latitude/longitude lines at a round interval, with
  degree labels on the south and west edges, as a switchable layer.
* :func:`add_north_arrow` -- north is up in Web Mercator, so a fixed arrow.
* :func:`add_labelled_points` -- named points (photo centres, check points) as
  a switchable layer with their names.
* :func:`refit_when_sized` -- fit the bounds again once a map that was fitted
  while it had no size (a frame not laid out yet) gets one.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["LegendItem", "add_graticule", "add_labelled_points", "add_legend",
           "add_north_arrow", "density_legend", "extend_legend", "furnish", "graticule_step",
           "refit_when_sized"]

LegendItem = tuple[str, str, str]  # (label, colour, "line" | "fill" | "dot")

_BOX = ("background:rgba(255,255,255,.92);"
        "border:1px solid #888;border-radius:4px;padding:6px 8px;"
        "font:12px/1.35 Helvetica,Arial,sans-serif;color:#222")


def _add_html(m: Any, fragment: str, name: str, position: str = "bottomright") -> None:
    """``fragment`` as a Leaflet control, so it sits inside the map whatever the page size."""
    import json

    from branca.element import MacroElement
    from jinja2 import Template

    el = MacroElement()
    el._name = "TerranbControl"
    el._template = Template(
        "{% macro script(this, kwargs) %}"
        "(function(){var c = L.control({position: " + json.dumps(position) + "});"
        "c.onAdd = function(){var d = L.DomUtil.create('div');"
        "d.innerHTML = " + json.dumps(fragment) + ";"
        "L.DomEvent.disableClickPropagation(d); return d;};"
        "c.addTo({{ this._parent.get_name() }});})();"
        "{% endmacro %}")
    m.add_child(el, name=name)


def density_legend(max_count: int, cell_m: float, per_point: float = 1.0,
                   ramp: str = "inferno") -> str:
    """HTML of the density colour bar: colours are log(1 + count) of a cell, in points/m²."""
    from terranb.viz._png import ramp_css

    area = max(cell_m, 1e-9) ** 2
    top = math.log1p(max(max_count, 1))
    ticks = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        count = math.expm1(t * top)
        ticks.append(f"{count * per_point / area:.3g}")
    labels = "".join(f"<span style='position:absolute;left:{i * 25}%;transform:translateX(-50%)'>"
                     f"{v}</span>" for i, v in enumerate(ticks))
    return (f"<div><b>Point density</b> (points/m², log scale; cell {cell_m:.2f} m)</div>"
            f"<div style='width:180px;height:10px;margin:3px 8px 0;background:{ramp_css(ramp)}'>"
            f"</div><div style='position:relative;width:180px;height:14px;margin:0 8px'>"
            f"{labels}</div>")


def add_legend(m: Any, items: Sequence[LegendItem], extra_html: str = "",
               title: str = "Legend") -> None:
    """A legend box (bottom left) with one row per layer symbol, then ``extra_html``."""
    rows = []
    for label, colour, kind in items:
        c = html.escape(colour)
        if kind == "dot":
            sym = f"<span style='display:inline-block;width:9px;height:9px;border-radius:50%;" \
                  f"background:{c};border:1px solid #333'></span>"
        elif kind == "fill":
            sym = f"<span style='display:inline-block;width:14px;height:10px;" \
                  f"background:{c};opacity:.6;border:1px solid {c}'></span>"
        else:
            sym = f"<span style='display:inline-block;width:14px;height:0;" \
                  f"border-top:2px solid {c};vertical-align:middle'></span>"
        rows.append(f"<div>{sym} {html.escape(label)}</div>")
    m.terranb_legend = (list(items), extra_html, title)  # kept for extend_legend
    if not rows and not extra_html:
        return
    _add_html(m, f"<div class='terranb-legend' style='{_BOX}'><div><b>{html.escape(title)}"
              f"</b></div>{''.join(rows)}{extra_html}</div>", "terranb_legend", "bottomright")


def extend_legend(m: Any, items: Sequence[LegendItem]) -> None:
    """Add rows to the legend :func:`add_legend` made (or make one)."""
    old, extra, title = getattr(m, "terranb_legend", ([], "", "Legend"))
    add_legend(m, [*old, *items], extra, title)


def add_north_arrow(m: Any) -> None:
    """A north arrow (top left, under the zoom buttons); Web Mercator maps are north-up."""
    svg = ("<svg width='26' height='40' viewBox='0 0 26 40' aria-label='north arrow'>"
           "<text x='13' y='11' text-anchor='middle' font-size='12' font-weight='bold'>N</text>"
           "<polygon points='13,13 21,37 13,31 5,37' fill='#222'/></svg>")
    _add_html(m, f"<div class='terranb-north' style='{_BOX};padding:2px 4px'>{svg}</div>",
              "terranb_north", "topleft")


_STEPS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2,
          0.5, 1.0, 2.0, 5.0, 10.0)


def graticule_step(span_deg: float, lines: int = 4) -> float:
    """A round degree interval giving about ``lines`` lines across ``span_deg``."""
    want = max(span_deg, 1e-7) / lines
    return next((s for s in _STEPS if s >= want), _STEPS[-1])


def _fmt_deg(v: float, step: float, pos: str, neg: str) -> str:
    nd = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{abs(v):.{nd}f}° {pos if v >= 0 else neg}"


def _edge_label(group: Any, lat: float, lon: float, text: str, shift: str) -> None:
    """A graticule label at (lat, lon), moved by the CSS ``translate(shift)`` off its line."""
    import folium

    folium.Marker([lat, lon], icon=folium.DivIcon(
        html=f"<div style='font:10px Arial;color:#222;background:rgba(255,255,255,.75);"
             f"white-space:nowrap;transform:translate({shift});display:inline-block'>"
             f"{text}</div>")).add_to(group)


def add_graticule(m: Any, bounds: tuple[float, float, float, float], lines: int = 4) -> None:
    """Latitude/longitude lines over ``bounds`` (W, S, E, N degrees), labelled on the edges."""
    import folium

    w, s, e, n = bounds
    step = graticule_step(max(e - w, n - s), lines)
    pad = step
    group = folium.FeatureGroup(name=f"graticule ({step:g}° lines)", show=True)
    lon = math.floor((w - pad) / step) * step
    while lon <= e + pad:
        folium.PolyLine([[s - pad, lon], [n + pad, lon]], color="#555", weight=0.7,
                        opacity=0.7, dash_array="4 4").add_to(group)
        if w <= lon <= e:
            _edge_label(group, s, lon, _fmt_deg(lon, step, "E", "W"), "-50%,2px")
        lon += step
    lat = math.floor((s - pad) / step) * step
    while lat <= n + pad:
        folium.PolyLine([[lat, w - pad], [lat, e + pad]], color="#555", weight=0.7,
                        opacity=0.7, dash_array="4 4").add_to(group)
        if s <= lat <= n:
            _edge_label(group, lat, w, _fmt_deg(lat, step, "N", "S"), "2px,-50%")
        lat += step
    group.add_to(m)


def add_labelled_points(m: Any, name: str, points: Iterable[tuple[str, float, float]],
                        colour: str, *, permanent: bool = False, radius: int = 4) -> int:
    """Named (label, lon, lat) points as one switchable layer; returns how many were added."""
    import folium

    group = folium.FeatureGroup(name=name, show=True)
    k = 0
    for label, lon, lat in points:
        folium.CircleMarker([lat, lon], radius=radius, color="#222", weight=1, fill=True,
                            fill_color=colour, fill_opacity=0.9,
                            tooltip=folium.Tooltip(html.escape(label), permanent=permanent)
                            ).add_to(group)
        k += 1
    if k:
        group.add_to(m)
        _layer_control_last(m)
    return k


def _layer_control_last(m: Any) -> None:
    """Move the layer control after layers added late (it renders the layers defined before it)."""
    for key, child in list(m._children.items()):
        if type(child).__name__ == "LayerControl":
            m._children.move_to_end(key)


def furnish(m: Any, bounds: tuple[float, float, float, float], ortho: bool, density: Any,
            footprints: bool, extents: bool, per_point: float = 1.0) -> None:
    """Legend (for the layers :func:`terranb.viz.maps.result_map` drew), graticule, north arrow.

    ``density`` is the density :class:`~terranb.viz.maps.Overlay` (or ``None``).
    """
    items: list[LegendItem] = []
    if ortho:
        items.append(("orthomosaic (true colour)", "#888888", "fill"))
    if footprints:
        items.append(("photo footprints", "#1f78b4", "fill"))
    if extents:
        items.append(("product extents", "#e31a1c", "line"))
    extra = density_legend(density.max_count, density.cell_m, per_point) if density else ""
    add_legend(m, items, extra)
    add_graticule(m, bounds)
    add_north_arrow(m)


def refit_when_sized(m: Any, bounds: Sequence[Sequence[float]]) -> None:
    """Fit ``bounds`` ([[south, west], [north, east]]) again when the map gets a size.

    Leaflet fits bounds to the container's size at that moment. A map whose frame is
    not laid out yet (a report ``<iframe srcdoc>`` that headless Chromium prints
    before its first layout, a notebook map in a hidden tab) has size 0 and lands at
    the whole world (seen: a PDF whose maps showed 5000 km scale bars). The refit runs
    only for such a map, so a view the user zoomed is never reset.
    """
    import json

    from branca.element import MacroElement
    from jinja2 import Template

    el = MacroElement()
    el._name = "TerranbRefit"
    el._template = Template(
        "{% macro script(this, kwargs) %}"
        "(function(map, b){var el = map.getContainer();"
        "function sized(){return el.clientWidth > 0 && el.clientHeight > 0;}"
        "if (sized()) return;"
        "var done = false;"
        "function refit(){if (done || !sized()) return; done = true;"
        "map.invalidateSize(false); map.fitBounds(b);}"
        "if (window.ResizeObserver) new ResizeObserver(refit).observe(el);"
        "window.addEventListener('load', refit);"
        "window.addEventListener('beforeprint', refit);"
        "})({{ this._parent.get_name() }}, " + json.dumps([list(p) for p in bounds]) + ");"
        "{% endmacro %}")
    m.add_child(el, name="terranb_refit")
