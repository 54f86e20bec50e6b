"""Charts that stay on the page: drawn once, then fed each new selection's data in place.

Giving a HoloViews pane a new element for every selection costs a whole new
Bokeh figure: the server builds and serialises a few hundred models (and
re-indexes the document for each), the browser builds a view for each.  A
:class:`LiveChart` draws its pane once, as ``DynamicMap``\\ s fed by one
``Pipe``, and afterwards only sends the new data: HoloViews updates the
existing figure's data sources and ranges in place, which the browser applies
as a small patch.

A chart is drawn anew only when its *layout* changes, named by a key the page
passes (the map's tiles; the number of bars, see ``dashboard.app``).  One
``Pipe`` per chart, even when the chart overlays several layers fed by
different frames (the map): the layers read their part of the same value, so a
new selection is one refresh of the figure, never a half-updated one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import holoviews as hv
import panel as pn
from holoviews.streams import Pipe

__all__ = ["LiveChart", "dynamic"]

_NOTHING = object()


def dynamic(pipe: Pipe, build: Callable[[Any], Any]) -> hv.DynamicMap:
    """A DynamicMap drawing ``build(data)`` for each value sent through ``pipe``."""

    def callback(data: Any) -> Any:  # a Pipe passes its value as ``data=``
        return build(data)

    return hv.DynamicMap(callback, streams=[pipe])


class LiveChart:
    """A HoloViews pane whose figure is kept and updated in place.

    ``draw(pipe, key)`` makes the pane's object from a fresh ``Pipe`` (typically
    :func:`dynamic` of a chart function) for the layout ``key``.  ``drawn`` and ``updated`` count how
    often the figure was made anew and how often fed in place.
    """

    def __init__(self, pane: pn.pane.HoloViews, draw: Callable[[Pipe, Any], Any]) -> None:
        self.pane = pane
        self._draw = draw
        self._pipe: Pipe | None = None
        self._key: Hashable = _NOTHING
        self.drawn = 0
        self.updated = 0

    def show(self, data: Any, key: Hashable = None) -> None:
        """Show ``data``: in place when the layout ``key`` is the one drawn, else on a new figure."""
        if self._pipe is not None and key == self._key:
            self._pipe.send(data)
            self.updated += 1
            return
        self._pipe = Pipe(data=data)
        self._key = key
        self.pane.object = self._draw(self._pipe, key)
        self.drawn += 1

    def reset(self) -> None:
        """Forget the figure: the next :meth:`show` draws a new one."""
        self._pipe = None
        self._key = _NOTHING
