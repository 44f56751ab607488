# The service image, for hosts with Docker (docker compose up). Tests do not use it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY streamapp ./streamapp
COPY models ./models
COPY web ./web
COPY agents ./agents
COPY users ./users
COPY storage ./storage
COPY outbox ./outbox
COPY messaging ./messaging
COPY contracts ./contracts
COPY bootstrap.py ./
RUN pip install --no-cache-dir . && useradd --create-home app && mkdir -p /app/.cache && chown app /app/.cache
USER app
EXPOSE 6066
CMD ["faust", "-A", "streamapp.app", "worker", "--loglevel=info"]
