# The service image, for hosts with Docker (docker compose up). Tests do not use it.
FROM python:3.11-slim
WORKDIR /app
# The whole tree once; .dockerignore keeps caches, tests' output and the venv out.
COPY . .
RUN pip install --no-cache-dir ./events . && useradd --create-home app && mkdir -p /app/.cache && chown app /app/.cache
USER app
# Inside a container the port must be reachable from outside it; the host decides who
# reaches the container (docker-compose.yml publishes it on loopback only).
ENV WEB_BIND=0.0.0.0
# One JSON object per log line for the log collector (make run keeps text).
ENV LOG_FORMAT=json
EXPOSE 6066
# Readiness, as orchestrators without their own probe see it (compose does too).
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/readyz', timeout=3)"]
CMD ["users-service", "worker"]
