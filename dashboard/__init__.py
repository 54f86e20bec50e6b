"""The analyst dashboard: Panel and Bokeh over the parquet lake, read through DuckDB.

Modules, one job each: ``settings`` (DashboardSettings), ``lake`` (what files the
lake holds, from the file system), ``queries`` (DuckDB queries), ``selection``
(which days to show), ``figures`` (Bokeh charts fed in place; datashader for the
density map), ``bundles`` (a page loads only the BokehJS bundles it uses), ``app`` (the page)
and ``server`` (serving it: ``crimestream dashboard``).  It reads the lake only.
"""

__all__: list[str] = []
