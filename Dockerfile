# ventwatch image: every `ventwatch` service of docker-compose.yml runs from it.
FROM python:3.11.9-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=1 \
    OMP_NUM_THREADS=1

RUN groupadd --system --gid 10001 ventwatch \
 && useradd --system --uid 10001 --gid ventwatch --create-home --home-dir /home/ventwatch ventwatch

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt when they change,
# not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the code (and nothing the dependencies did not already bring).
COPY README.md ./
COPY app ./app
COPY control_panel ./control_panel
RUN pip install --no-deps .

# Where the volumes go; created here so new named volumes belong to the ventwatch user.
RUN mkdir -p /data/models /data/logs /data/evidently /data/run \
 && chown -R ventwatch:ventwatch /data
ENV VENTWATCH_MODEL_DIR=/data/models/ventilation \
    VENTWATCH_LOG_DIR=/data/logs \
    VENTWATCH_WORKSPACE_DIR=/data/evidently/workspace \
    VENTWATCH_REPORTS_DIR=/data/evidently/reports \
    VENTWATCH_RUN_DIR=/data/run
WORKDIR /data

USER ventwatch
EXPOSE 8000 8001 8002 8003 8501
CMD ["ventwatch", "--help"]
