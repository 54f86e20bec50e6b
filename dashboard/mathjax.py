"""Serve the 1.8 MB MathJax bundle only to pages that show TeX.

Panel adds BokehJS' MathJax bundle to every page holding one of its HTML models
(Markdown, HTML, indicators), whether or not any text needs it: on this page
that is the biggest single download and about a fifth of the first render's
script time.  :func:`load_only_when_needed` makes Panel ask the question that
matters, whether any such model's text contains TeX (``$$...$$``, ``\\[...\\]``,
``\\(...\\)``, as BokehJS itself checks).  The dashboard's texts never do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_only_when_needed", "page_needs_mathjax"]


def page_needs_mathjax(roots: Any) -> bool:
    """Whether any Panel HTML model under ``roots`` holds TeX."""
    from bokeh.embed.bundle import _any
    from bokeh.embed.util import contains_tex_string
    from panel.models.markup import HTML

    def needs(obj: Any) -> bool:
        text = getattr(obj, "text", None)
        return isinstance(obj, HTML) and isinstance(text, str) and contains_tex_string(text)

    return bool(_any(roots, needs))


def load_only_when_needed() -> None:
    """Replace Panel's "any HTML model at all" test by :func:`page_needs_mathjax` (idempotent)."""
    from panel.io import resources

    resources._panel_use_mathjax = page_needs_mathjax  # type: ignore[attr-defined]
