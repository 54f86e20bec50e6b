"""``dashboard.serialization``: the page serializes exactly as with Bokeh's own property query."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from bokeh.core.has_props import HasProps
from bokeh.core.properties import Instance, Int, List, Required
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.document import Document
from bokeh.models import Selection
from dashboard_lake_builder import SampleLake, settings_for

from dashboard import serialization
from dashboard.app import create_app


@pytest.fixture
def bokehs_query() -> Iterator[None]:
    """Bokeh's own query during the test, whatever was installed before (restored after)."""
    query = HasProps.query_properties_with_values
    HasProps.query_properties_with_values = serialization._BOKEH_QUERY  # type: ignore[method-assign]
    yield
    HasProps.query_properties_with_values = query  # type: ignore[method-assign]


def _swap(install: bool) -> None:
    if install:
        serialization.install()
    else:
        HasProps.query_properties_with_values = serialization._BOKEH_QUERY  # type: ignore[method-assign]


def _sent(doc: Document) -> str:
    """The document as the browser receives it, buffers by content (their ids are fresh each time)."""
    serialized = doc.to_json()
    buffers = {buffer.id: hashlib.sha1(buffer.to_bytes()).hexdigest() for buffer in serialized.buffers}
    return json.dumps(serialized.content, sort_keys=True, default=lambda buffer: buffers[buffer.id])


def _remembered(doc: Document) -> dict[str, set[str]]:
    """Each model's defaults made and kept so far (Bokeh's unstable defaults)."""
    return {model.id: set(model._unstable_default_values) for model in doc.models}


def test_the_page_is_sent_exactly_as_bokeh_sends_it(sample_lake: SampleLake, bokehs_query: None) -> None:
    doc = Document()
    create_app(settings_for(sample_lake.data_dir)).server_doc(doc)
    _swap(install=True)
    assert serialization.installed()
    ours = _sent(doc)  # first: so it alone makes whatever defaults a serialization makes
    remembered = _remembered(doc)
    _swap(install=False)
    assert not serialization.installed()
    assert _sent(doc) == ours
    assert _remembered(doc) == remembered  # Bokeh's query made no default that ours had not made
    _swap(install=True)
    assert _sent(doc) == ours
    assert len(doc.models) > 200


class _Part(HasProps):
    needed = Required(Int)
    count = Int(3)
    items = List(Int)
    selection = Instance(Selection, default=Selection)


@pytest.mark.parametrize("installed", [False, True])
def test_the_query_selects_raises_and_remembers_as_bokehs(installed: bool, bokehs_query: None) -> None:
    _swap(installed)

    def sent(part: _Part) -> dict[str, Any]:
        return part.properties_with_values(include_defaults=False)

    with pytest.raises(UnsetValueError):
        sent(_Part())  # a required property left unset
    part = _Part(needed=1)
    first = sent(part)
    assert set(first) == {"needed", "selection"} and first["selection"] is part.selection  # a model: sent
    assert "items" in part._unstable_default_values  # an unchanged container default: not sent
    assert sent(part) == first
    part.items.append(4)  # a container default changed in place is sent
    part.count = 5
    assert sent(part) == {"needed": 1, "count": 5, "items": [4], "selection": part.selection}
    assert set(part.properties_with_values(include_defaults=True)) >= {"needed", "count", "items", "selection"}
