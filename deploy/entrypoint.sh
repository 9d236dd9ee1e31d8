#!/usr/bin/env bash
# The image's entrypoint: the first argument picks the role, the rest is appended to its
# command. Each role replaces this shell (exec), so the process gets SIGTERM directly from
# tini: gunicorn stops gracefully, a Celery worker shuts down warm (it finishes the job it
# runs, within the grace period, and takes no new one).
#
#   web               gunicorn -c python:imprimatur.gunicorn imprimatur.wsgi  (PORT, WEB_CONCURRENCY, GUNICORN_THREADS)
#   worker-gpu        celery worker on queue "gpu", one job at a time (one container per GPU)
#   worker-default    celery worker on queue "default" (re-checks, publishing, upkeep)
#   beat              celery beat: periodic upkeep; run exactly one
#   migrate           manage.py migrate --no-input (a one-shot before web and workers roll)
#   manage ARGS...    python manage.py ARGS, e.g. `manage audit_verify`
#   healthcheck       the probe of the role this container was started with (Docker HEALTHCHECK)
#   anything else     run as given, e.g. `bash` or `python manage.py shell`
set -euo pipefail

# The source tree: /app in the image (this script is /app/deploy/entrypoint.sh).
cd "$(dirname "$(readlink -f "$0")")/.."
ROLE_FILE="${TMPDIR:-/tmp}/imprimatur-role"

remember_role() {
    printf '%s\n' "$1" >"$ROLE_FILE" 2>/dev/null || true
}

healthcheck() {
    local role
    role="$(cat "$ROLE_FILE" 2>/dev/null || echo unknown)"
    case "$role" in
        web)
            # Host: an allowed host (Django answers 400 to others); X-Forwarded-Proto: the
            # probe comes over plain HTTP from inside, which SECURE_SSL_REDIRECT would redirect.
            exec python - <<'EOF'
import os, sys, urllib.request
hosts = [h.strip().lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "").split(",")]
host = next((h for h in hosts if h and h != "*"), "127.0.0.1")
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz",
    headers={"Host": host, "X-Forwarded-Proto": "https"},
)
try:
    with urllib.request.urlopen(request, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:
    print(f"healthz: {error}", file=sys.stderr)
    sys.exit(1)
EOF
            ;;
        worker-gpu | worker-default)
            exec python manage.py worker_ready
            ;;
        *)
            # beat, one-shots and other commands: running is healthy.
            exit 0
            ;;
    esac
}

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        remember_role web
        if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
            # Metrics files of an earlier life of this container would be counted again.
            mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
            find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -maxdepth 1 -name '*.db' -delete
        fi
        exec gunicorn -c python:imprimatur.gunicorn imprimatur.wsgi "$@"
        ;;
    worker-gpu)
        remember_role worker-gpu
        exec celery -A imprimatur worker -Q gpu --concurrency 1 --hostname 'gpu@%h' \
            --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    worker-default)
        remember_role worker-default
        exec celery -A imprimatur worker -Q default --hostname 'default@%h' \
            --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        remember_role beat
        exec celery -A imprimatur beat --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    migrate)
        remember_role migrate
        exec python manage.py migrate --no-input "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    healthcheck)
        healthcheck
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
