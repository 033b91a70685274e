# One image for the three Journeyline services; docker-compose.yml picks the service by its command:
#   uvicorn services.<name>.main:app --host 0.0.0.0 --port 800N
# (ingest, with several workers: python -m shared.serve services.ingest.main:app ... --workers N)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JOURNEYLINE_ENV=production \
    CLASSIFY_MODEL_DIR=/var/lib/journeyline/models

WORKDIR /app

# Dependencies first (installed from pyproject.toml with empty packages), so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p shared services && touch shared/__init__.py services/__init__.py \
    && pip install '.[postgres]' && pip uninstall -y journeyline \
    && useradd --system --uid 10001 --home-dir /app journeyline \
    && mkdir -p /var/lib/journeyline/models && chown -R journeyline /var/lib/journeyline
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps '.[postgres]'

USER journeyline

# Overridden per service in docker-compose.yml.
EXPOSE 8001 8002 8003
CMD ["uvicorn", "services.ingest.main:app", "--host", "0.0.0.0", "--port", "8001", "--no-access-log"]
