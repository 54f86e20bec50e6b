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

The page's HTML is also cheaper to render: the MathJax check looks for TeX's
delimiters before it runs BokehJS' pattern over a text (the incident table's
HTML is large), and Panel's stylesheet URL patch takes the page's stylesheet
models from the document's index instead of walking the page once per root
(nine walks; 20-30 ms of every page, measured in-process).
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
    "patch_page_css",
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
        if not (isinstance(obj, HTML) and isinstance(text, str)):
            return False
        return _has_tex_delimiters(text) and contains_tex_string(text)

    return any(needs(model) for model in models_under(roots))


def _has_tex_delimiters(text: str) -> bool:
    """What BokehJS' TeX pattern needs before it can match: an opening ``$$``, ``\\[`` or ``\\(``."""
    return "$$" in text or "\\[" in text or "\\(" in text


def patch_page_css(root: Any, dist_url: str) -> None:
    """Panel's ``patch_model_css`` (point the stylesheets at the server's static files), with the
    stylesheet models taken from the document's index rather than a walk below ``root``.

    Panel calls it once per root of the page; every call patches all of the document's
    stylesheet models, which is what the calls do together.  The URL changes are not sent to
    the browser (the page is not loaded yet), exactly as in Panel's own.
    """
    from bokeh.models import ImportedStyleSheet
    from panel.io.resources import patch_stylesheet
    from panel.io.state import state

    doc = root.document
    if doc is None:
        for sheet in root.select({"type": ImportedStyleSheet}):
            patch_stylesheet(sheet, dist_url)
        return
    held = doc.callbacks.hold_value
    events = list(doc.callbacks._held_events)  # Panel's own handling of the held events (private)
    doc.hold()
    for model in list(doc.models):
        if isinstance(model, ImportedStyleSheet):
            patch_stylesheet(model, dist_url)
    doc.callbacks._held_events = events
    if held or not state._loaded.get(doc):
        doc.callbacks._hold = held
    else:
        doc.unhold()


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
    server.patch_model_css = patch_page_css  # type: ignore[attr-defined]
