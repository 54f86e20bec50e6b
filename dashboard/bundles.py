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
* WebGL only if a plot draws with it (ours draw on a canvas);
* the ES-module shims (``es-module-shims``: loaded, run, and then scanning
  the page on its load event, about 50 ms of a first render) only if a
  Panel ES-module component (``ReactiveESM``) is on the page.

Each check looks at every model on the page: Panel hands the bundle only the
page's roots, and a template's content sits below them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = [
    "install",
    "models_under",
    "page_needs_mathjax",
    "page_needs_module_shims",
    "share_stylesheets",
    "unused_bundles",
]

_MODULE_SHIMS = "es-module-shims"


def models_under(roots: Any) -> list[Any]:
    """Every model under ``roots``, not just the roots (Panel passes a page's roots only).

    From the document's own index when all roots share one (free: it is kept
    up to date anyway); otherwise by walking each root's references.
    """
    roots = list(roots)
    docs = {id(root.document) for root in roots}
    document = roots[0].document if roots else None
    if document is not None and len(docs) == 1:
        return list(document.models)
    return list({model.id: model for root in roots for model in root.references()}.values())


def page_needs_mathjax(roots: Any) -> bool:
    """Whether any Panel HTML model under ``roots`` holds TeX."""
    from bokeh.embed.util import contains_tex_string
    from panel.models.markup import HTML

    def needs(obj: Any) -> bool:
        text = getattr(obj, "text", None)
        return isinstance(obj, HTML) and isinstance(text, str) and contains_tex_string(text)

    return any(needs(model) for model in models_under(roots))


def unused_bundles(roots: Any) -> set[str]:
    """The optional BokehJS bundles nothing under ``roots`` uses (``bokeh-gl`` without a WebGL plot)."""
    from bokeh.embed.bundle import _use_gl

    return set() if _use_gl(set(models_under(roots))) else {"bokeh-gl"}


def page_needs_module_shims(roots: Any) -> bool:
    """Whether any model under ``roots`` is one of Panel's ES-module components (``ReactiveESM``)."""
    from panel.models.esm import ReactiveESM

    return any(isinstance(model, ReactiveESM) for model in models_under(roots))


def share_stylesheets(models: Any) -> int:
    """Make every model under ``models`` use one stylesheet model per URL; the number of duplicates dropped.

    Panel gives each component its own ``ImportedStyleSheet`` models when a
    template applies its design (no document is there yet to share them):
    the dashboard's page held 71 of them for 8 URLs, a quarter of the page's
    ~300 models, each one built, sent and set up in the browser.  A
    stylesheet model is a URL and nothing else, so sharing one changes
    nothing on the page.
    """
    from bokeh.models import ImportedStyleSheet

    shared: dict[str, Any] = {}
    dropped = 0
    for model in list(models):
        sheets = getattr(model, "stylesheets", None)
        if not sheets:
            continue
        kept = []
        changed = False
        for sheet in sheets:
            use = shared.setdefault(sheet.url, sheet) if isinstance(sheet, ImportedStyleSheet) else sheet
            if use is not sheet:
                changed = True
                dropped += 1
            kept.append(use)
        if changed:
            model.stylesheets = kept
    return dropped


def _only_used(bundle_resources: Callable[..., Any]) -> Callable[..., Any]:
    def bundle(roots: Any, resources: Any, *args: Any, **kwargs: Any) -> Any:
        components = getattr(resources, "components", None)
        if roots and components is not None and hasattr(resources, "clone"):
            unused = unused_bundles(roots)
            if unused & set(components):
                resources = resources.clone(components=[c for c in components if c not in unused])
        bundled = bundle_resources(roots, resources, *args, **kwargs)
        if roots and not page_needs_module_shims(roots):
            bundled.js_files = [url for url in bundled.js_files if _MODULE_SHIMS not in str(url)]
        return bundled

    return bundle


@functools.cache  # once per process
def install() -> None:
    """Patch Panel's server pages to list only the bundles a page uses (idempotent)."""
    from panel.io import resources, server

    resources._panel_use_mathjax = page_needs_mathjax  # type: ignore[attr-defined]
    server.bundle_resources = _only_used(server.bundle_resources)  # type: ignore[attr-defined]
