"""Serialize a page's models without computing the defaults that are never sent.

Bokeh sends each model with only the properties set on it
(``properties_with_values(include_defaults=False)``), yet to pick them it
computes the value of *every* property first, defaults included: each
default is copied, themed and validated, then dropped (Bokeh's own comment
in ``HasProps.query_properties_with_values``: "this should happen before
get_value()").  For the dashboard's ~240 models that is ~26,000 defaults
per serialization: 110-200 ms of every page's document pull, measured in the
served process, while the browser waits for the reply.

:func:`install` makes that query skip the defaults it will not return.  It
still computes every default whose computing does something:

* a default that is ``Undefined`` (a required property left unset): the
  query raises ``UnsetValueError`` as before;
* an unstable default (a fresh model or container made on first access):
  made and remembered by the model, as before, so later serializations
  include it exactly when they did.

So the query returns the same properties with the same values, and leaves
each model as Bokeh's own does; a test compares the two on the built page.
Only the default query is changed (``include_defaults=False``,
``include_undefined=False``); every other call goes to Bokeh's own code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

__all__ = ["install", "installed", "properties_to_send"]

_BOKEH_QUERY = HasProps.query_properties_with_values


def installed() -> bool:
    """Whether :func:`install` has replaced Bokeh's query."""
    return HasProps.query_properties_with_values is not _BOKEH_QUERY


def install() -> None:
    """Make Bokeh's serialization skip the defaults it does not send (idempotent)."""
    HasProps.query_properties_with_values = _query  # type: ignore[method-assign]


@functools.cache
def _evaluated_anyway(cls: type[HasProps]) -> frozenset[str]:
    """Properties of ``cls`` whose default must be computed even when it is not sent.

    A class's defaults do not change once it is defined (themes are per
    instance, and a themed property is always sent).
    """
    overridden = cls._overridden_defaults()
    keys: set[str] = set()
    for name in cls.properties(_with_props=True):
        descriptor = cls.lookup(name)
        if not hasattr(descriptor, "is_unstable"):  # an alias of another property: computed, as by Bokeh
            keys.add(name)
            continue
        default = overridden.get(name, descriptor.property._default)
        unstable = descriptor.property._may_have_unstable_default() or descriptor.is_unstable(
            cls.__overridden_defaults__.get(name, None)
        )
        if default is Undefined or unstable:
            keys.add(name)
    return frozenset(keys)


def _query(
    self: HasProps,
    query: Callable[[PropertyDescriptor[Any]], bool],
    *,
    include_defaults: bool = True,
    include_undefined: bool = False,
) -> dict[str, Any]:
    if include_defaults or include_undefined:
        return _BOKEH_QUERY(self, query, include_defaults=include_defaults, include_undefined=include_undefined)
    return properties_to_send(self, query)


def properties_to_send(model: HasProps, query: Callable[[PropertyDescriptor[Any]], bool]) -> dict[str, Any]:
    """``model``'s properties matching ``query`` that differ from their defaults, as Bokeh selects them."""
    themed = model.themed_values()
    themed_keys = set(themed) if themed is not None else set()
    selected = model._property_values.keys() | model._unstable_default_values.keys() | themed_keys
    anyway = _evaluated_anyway(type(model))
    result: dict[str, Any] = {}
    for key in model.properties(_with_props=True):
        descriptor = model.lookup(key)
        if not query(descriptor):
            continue
        if key not in selected:
            if key in anyway:
                descriptor.get_value(model)  # raises if unset; makes an unstable default, as Bokeh does
            continue
        value = descriptor.get_value(model)
        if (
            key not in themed_keys
            and isinstance(value, PropertyValueContainer)
            and key in model._unstable_default_values
        ):
            continue
        result[key] = value
    return result
