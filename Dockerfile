# warning run against an external PostgreSQL (the embedded server is for one-machine use).
#   docker build -t warning .
#   docker run -p 8080:8080 -e WARNING_DATABASE_URL=postgresql://user:pass@db:5432/warning \
#              -v /etc/warning/site.toml:/etc/warning/site.toml:ro warning
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 WARNING_CONFIG_DIR=/app/config
WORKDIR /app
COPY pyproject.toml README.md ./
COPY warning ./warning
COPY detectors ./detectors
COPY simulators ./simulators
COPY config ./config
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 warning
USER warning

EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
# WARNING_DATABASE_URL must be set: without it warning run would start an embedded server.
CMD ["sh", "-c", "test -n \"$WARNING_DATABASE_URL\" || { echo 'set WARNING_DATABASE_URL' >&2; exit 2; }; exec warning run --host 0.0.0.0 --port 8080 --site /etc/warning/site.toml"]
