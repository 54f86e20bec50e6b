# syntax=docker/dockerfile:1
# One image for every crimestream service; the command picks the service (see docker-compose.yml).
# Linted by tests/test_compose.py (hadolint, and the project's own rules).

# --- build: the locked dependencies first (cached while uv.lock is unchanged), then the project ---
FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY crimestream crimestream
COPY localkafka localkafka
COPY emulator emulator
COPY producers producers
COPY stream_processors stream_processors
COPY sinks sinks
COPY dashboard dashboard
COPY schemas schemas
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: no uv, no build cache, an unprivileged user ---
FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group crimestream \
    && mkdir -p /data/lake /data/state \
    && chown -R 10001:10001 /data
WORKDIR /app
COPY --from=build --chown=10001:10001 /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" DATA_DIR=/data PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["crimestream"]
CMD ["--help"]
