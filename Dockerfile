# silab images. Two targets share one base:
#   api    — FastAPI + migrations, no torch (the API never imports it)
#   worker — Celery worker with torch 2.13.0 (PyPI's Linux wheel is the CUDA build; the GPU is
#            reserved per container in docker-compose.yml)
# The commands below are the ones the test suite runs as plain processes (tests/e2e).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SILAB_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY trainer ./trainer
COPY db ./db
COPY api ./api
COPY client ./client
COPY worker ./worker
COPY migrations ./migrations
COPY alembic.ini ./
RUN useradd --create-home --uid 1000 silab && mkdir -p /data && chown silab /data

FROM base AS api
RUN pip install ".[server]"
USER silab
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
RUN pip install "torch==2.13.0" && pip install ".[trainer,server]"
USER silab
# One process per GPU on the run queue: concurrency 1, a fresh child per task (no CUDA state
# carried over). The maintenance worker (docker-compose.yml) overrides this command.
CMD ["celery", "-A", "worker.app", "worker", "-Q", "celery", "-c", "1", "--loglevel", "INFO"]
