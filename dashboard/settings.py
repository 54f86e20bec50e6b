"""The dashboard's one settings object, read from the environment and ``.env``.

=============================  =====================  ==========================================
Environment variable           Default                Meaning
=============================  =====================  ==========================================
``DATA_DIR``                   ``./data``             Root of the lake (read from ``lake/``).
``DASHBOARD_HOST``             ``127.0.0.1``          Address the server binds to.
``DASHBOARD_PORT``             ``5006``               TCP port of the server.
``DASHBOARD_REFRESH_SECONDS``  ``10``                 How often an open page checks the lake for
                                                      new data; ``0`` turns live refresh off.
``DASHBOARD_DEFAULT_DAYS``     ``30``                 Length of the default date window, ending
                                                      on the newest day in the lake.
``DASHBOARD_EXTRA_ORIGINS``    ``[]``                 JSON list of extra ``host[:port]`` origins
                                                      allowed to open the page's websocket (e.g.
                                                      when bound to ``0.0.0.0`` behind a name).
=============================  =====================  ==========================================
"""

from __future__ import annotations

from pydantic import Field

from crimestream.settings import BaseServiceSettings

__all__ = ["DashboardSettings"]


class DashboardSettings(BaseServiceSettings):
    """Everything the analyst dashboard needs; ``lake_dir`` comes from ``DATA_DIR``."""

    dashboard_host: str = Field(default="127.0.0.1", description="Bind address; localhost unless told otherwise.")
    dashboard_port: int = Field(default=5006, ge=1, le=65535)
    dashboard_refresh_seconds: float = Field(
        default=10.0, ge=0, description="Live refresh period of an open page; 0 disables it."
    )
    dashboard_default_days: int = Field(
        default=30, ge=1, description="Days in the default window, ending on the newest day."
    )
    dashboard_extra_origins: list[str] = Field(
        default_factory=list,
        description="Extra host[:port] origins allowed to open the websocket.",
    )

    @property
    def dashboard_url(self) -> str:
        """Where a browser on this machine reaches the app."""
        host = self.dashboard_host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - recognised, not bound
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.dashboard_port}/"
