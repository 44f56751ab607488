# The service image, for hosts with Docker (docker compose up). Tests do not use it.
FROM python:3.11-slim
WORKDIR /app
# The whole tree once; .dockerignore keeps caches, tests' output and the venv out.
COPY . .
RUN pip install --no-cache-dir . && useradd --create-home app && mkdir -p /app/.cache && chown app /app/.cache
USER app
EXPOSE 6066
CMD ["users-service", "worker", "--loglevel=info"]
