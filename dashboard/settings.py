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
``DASHBOARD_MAP_TILES``        ``CartoLight``         Map background tiles (``CartoLight``,
                                                      ``CartoDark``, ``OSM``) or ``none``; fetched
                                                      by the browser, the map reads without them.
``DASHBOARD_MAP_POINTS_MAX``   ``20000``              Most incidents drawn one by one; above it, or
                                                      beyond ``DASHBOARD_MAP_POINTS_DAYS`` days, the
                                                      map is a rasterised density.
``DASHBOARD_MAP_POINTS_DAYS``  ``31``                 Longest range drawn as points.
``DASHBOARD_EXPORT_MAX_ROWS``  ``200000``             Cap of a CSV download (newest rows first).
``DASHBOARD_TABLE_PAGE_SIZE``  ``50``                 Rows per table page.
``POLL_INTERVAL_SECONDS``      ``300``                The poller's period: a service silent for
                                                      3 periods is shown as idle or stopped.
``DASHBOARD_COOKIE_SECRET``    random per start       Signs the login cookie (secret); set it to
                                                      keep logins across restarts.
``METRICS_HOST``               ``127.0.0.1``          Address of ``/metrics``, ``/health``,
                                                      ``/ready``.
``METRICS_PORT``               ``9103``               Their port; ``0`` turns them off.
=============================  =====================  ==========================================

Login: with ``DASHBOARD_BASIC_AUTH_PASSWORD`` set (a secret, never logged) the
page asks for a login (Panel's basic auth) as ``DASHBOARD_BASIC_AUTH_USERNAME``
(default ``analyst``); unset, the page is open, so keep ``DASHBOARD_HOST`` on
``127.0.0.1`` (the default) unless a login or a proxy guards it.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

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

    dashboard_map_tiles: str = Field(default="CartoLight", pattern=r"^(CartoLight|CartoDark|OSM|none)$")
    dashboard_map_points_max: int = Field(default=20_000, ge=1)
    dashboard_map_points_days: int = Field(default=31, ge=1)
    dashboard_export_max_rows: int = Field(default=200_000, ge=1)
    dashboard_table_page_size: int = Field(default=50, ge=1, le=1000)
    poll_interval_seconds: float = Field(default=300.0, gt=0)

    dashboard_basic_auth_password: SecretStr | None = Field(
        default=None, description="When set, the page asks for a login (Panel's basic auth)."
    )
    dashboard_basic_auth_username: str = Field(default="analyst", min_length=1)
    dashboard_cookie_secret: SecretStr | None = Field(
        default=None, description="Signs the login cookie; random per start when unset."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of /metrics, /health and /ready.")
    metrics_port: int = Field(default=9103, ge=0, le=65535, description="Port of /metrics, /health, /ready; 0: off.")

    @property
    def login_required(self) -> bool:
        return self.dashboard_basic_auth_password is not None and bool(
            self.dashboard_basic_auth_password.get_secret_value()
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
