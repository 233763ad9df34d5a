# webinar-worker in a container: one container (one replica) per series or library.
# Build: docker build -t webinar-worker .
# Run:   docker run -d --name webinar-kamis -v /srv/webinar/kamis:/data webinar-worker
#        (first time: docker run --rm -v /srv/webinar/kamis:/data webinar-worker init /data)
# /data holds settings.yaml, templates/, .env and state.db; it is the only place written to.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md settings.yaml ./
COPY templates ./templates
COPY worker ./worker
COPY integrations ./integrations
RUN pip install . && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin webinar \
    && mkdir -p /data && chown webinar:webinar /data

USER webinar
WORKDIR /data
VOLUME ["/data"]

# `status` exits 1 when no tick completed in worker.stale_after_ticks x worker.tick_seconds.
HEALTHCHECK --interval=2m --timeout=30s --start-period=5m --retries=3 \
    CMD ["webinar-worker", "status", "--json", "--settings", "/data/settings.yaml"]

ENTRYPOINT ["webinar-worker"]
CMD ["run", "--settings", "/data/settings.yaml", "--log-format", "json"]
