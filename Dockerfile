# syntax=docker/dockerfile:1
# One image for every crimestream service; the command picks the service.
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
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
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 crimestream \
    && mkdir -p /data && chown crimestream /data
WORKDIR /app
COPY --from=build --chown=crimestream /app /app
ENV PATH="/app/.venv/bin:$PATH" DATA_DIR=/data PYTHONUNBUFFERED=1
USER crimestream
VOLUME ["/data"]
ENTRYPOINT ["crimestream"]
CMD ["--help"]
