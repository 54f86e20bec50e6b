"""The KPI cards and the period line above the charts, as one piece of HTML.

One pane for all of it: the browser builds one element for the row of cards
instead of five components (each with its own shadow root and stylesheets),
and a filter change replaces one text.  Every user-chosen text is escaped.
"""

from __future__ import annotations

import html

from dashboard.aggregates import Kpis
from dashboard.filters import Filters

__all__ = ["KPI_CLASS", "kpi_cards_html"]

KPI_CLASS = "kpi"
GREEN, RED = "#2e7d32", "#c62828"
_STYLE = (
    "<style>.kpis{display:flex;gap:24px;flex-wrap:wrap;margin:0 0 4px 0}"
    f".{KPI_CLASS}{{min-width:180px}}.{KPI_CLASS}-label{{font-size:12pt}}"
    f".{KPI_CLASS}-value{{font-size:30pt;line-height:1.2}}.period{{font-size:0.95em}}</style>"
)


def _card(label: str, value: str, color: str = "currentcolor") -> str:
    return (
        f'<div class="{KPI_CLASS}"><div class="{KPI_CLASS}-label" style="color:{color}">{label}</div>'
        f'<div class="{KPI_CLASS}-value" style="color:{color}">{value}</div></div>'
    )


def _percent(share: float | None) -> str:
    return f"{100 * (share or 0.0):.1f}%"


def kpi_cards_html(figures: Kpis, filters: Filters) -> str:
    """Incidents, arrest rate, domestic share, change versus the previous period; then the period line."""
    change = figures.change
    if change is None:
        change_card = _card("vs previous period", "n/a")
    else:
        change_card = _card("vs previous period", f"{100 * change:+.1f}%", GREEN if change <= 0 else RED)
    days = filters.days
    kinds = html.escape(", ".join(filters.primary_types)) if filters.primary_types else "all crime types"
    previous = filters.previous()
    prev_text = (
        f"{figures.previous_incidents:,} in {previous.start:%d %b %Y} – {previous.end:%d %b %Y}"
        if figures.previous_covered
        else "the previous period is before the lake's first day"
    )
    period = (
        f"<b>{filters.start:%a %d %b %Y} – {filters.end:%a %d %b %Y}</b><br>"
        f"{days:,} day{'s' if days != 1 else ''} · {kinds} · "
        f"{figures.incidents / days:,.1f} per day · previous period: {prev_text}"
    )
    cards = (
        _card("Incidents", f"{figures.incidents:,}")
        + _card("Arrest rate", _percent(figures.arrest_rate))
        + _card("Domestic share", _percent(figures.domestic_share))
        + change_card
    )
    return f'{_STYLE}<div class="kpis">{cards}</div><div class="period">{period}</div>'
