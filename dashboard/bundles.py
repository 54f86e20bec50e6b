"""Serve a page only the BokehJS bundles it uses.

Panel's server page lists BokehJS' optional bundles whether or not the page
needs them: MathJax (1.8 MB) for any page holding one of Panel's HTML models,
and the WebGL bundle (0.2 MB) always.  The browser downloads,
parses and runs each before it draws anything; on this page they were a third
of the script time of a first render.  (Bokeh's table bundle stays: Panel's
own bundle builds on it.)  :func:`install` makes Panel ask what
Bokeh's own embedding asks:

* MathJax only if a text actually holds TeX (``$$...$$``, ``\\[...\\]``,
  ``\\(...\\)``, as BokehJS itself checks); the dashboard's texts never do;
* WebGL only if a plot draws with it (ours draw on a canvas).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["install", "page_needs_mathjax", "unused_bundles"]


def page_needs_mathjax(roots: Any) -> bool:
    """Whether any Panel HTML model under ``roots`` holds TeX."""
    from bokeh.embed.bundle import _any
    from bokeh.embed.util import contains_tex_string
    from panel.models.markup import HTML

    def needs(obj: Any) -> bool:
        text = getattr(obj, "text", None)
        return isinstance(obj, HTML) and isinstance(text, str) and contains_tex_string(text)

    return bool(_any(roots, needs))


def unused_bundles(roots: Any) -> set[str]:
    """The optional BokehJS bundles nothing under ``roots`` uses (``bokeh-gl`` without a WebGL plot)."""
    from bokeh.embed.bundle import _use_gl

    return set() if _use_gl(roots) else {"bokeh-gl"}


def _only_used(bundle_resources: Callable[..., Any]) -> Callable[..., Any]:
    def bundle(roots: Any, resources: Any, *args: Any, **kwargs: Any) -> Any:
        components = getattr(resources, "components", None)
        if roots and components is not None and hasattr(resources, "clone"):
            unused = unused_bundles(roots)
            if unused & set(components):
                resources = resources.clone(components=[c for c in components if c not in unused])
        return bundle_resources(roots, resources, *args, **kwargs)

    return bundle


@functools.cache  # once per process
def install() -> None:
    """Patch Panel's server pages to list only the bundles a page uses (idempotent)."""
    from panel.io import resources, server

    resources._panel_use_mathjax = page_needs_mathjax  # type: ignore[attr-defined]
    server.bundle_resources = _only_used(server.bundle_resources)  # type: ignore[attr-defined]
