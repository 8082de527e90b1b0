# syntax=docker/dockerfile:1
# The Yui site node (`yui run`) and its Celery worker (`yui jobs worker`): one image.
#
# The base image is pinned by digest. That digest was NOT verified where this file was
# written (no container registry could be reached): it is one seen pinned for
# python:3.11-slim-bookworm in other public Dockerfiles. Before the first build, check it —
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# — and replace it with the index digest you see (docs/deploy.md, step 1). A wrong digest
# fails the pull; it never pulls something else. The two FROM lines name the same image
# (written out, not through an ARG, so that scanners see the pin).

# --------------------------------------------------------------------------- build
# Every dependency has a wheel for linux/amd64 and arm64 (psycopg[binary], argon2, grpcio):
# no compiler is installed, here or below.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/yui
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY yui ./yui
COPY assembly ./assembly
COPY services ./services
COPY replication ./replication
COPY failover ./failover
COPY console ./console
RUN /opt/yui/bin/pip install --no-compile . && /opt/yui/bin/python -m compileall -q /opt/yui

# --------------------------------------------------------------------------- run
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
RUN groupadd --system --gid 10001 yui \
    && useradd --system --uid 10001 --gid yui --home-dir /var/lib/yui --no-create-home \
        --shell /usr/sbin/nologin yui \
    && install -d -o yui -g yui -m 0700 /var/lib/yui \
    && install -d -m 0755 /etc/yui
COPY --from=build /opt/yui /opt/yui
ENV PATH=/opt/yui/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    YUI_HOST=0.0.0.0 \
    YUI_PORT=8400 \
    YUI_DATA_DIR=/var/lib/yui
USER 10001:10001
WORKDIR /var/lib/yui
EXPOSE 8400
# Ready, not only alive: /readyz answers 200 once the database and coordination are usable.
# HTTPS (verified against YUI_TLS_CA_FILE) when the node serves it; localhost is in the
# certificates `yui deploy secrets` makes.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request as r; ca = os.environ.get('YUI_TLS_CA_FILE'); r.urlopen(('https' if ca else 'http') + '://localhost:' + os.environ.get('YUI_PORT', '8400') + '/readyz', timeout=4, context=ssl.create_default_context(cafile=ca) if ca else None)"]
ENTRYPOINT ["yui"]
CMD ["run"]
