"""Settings, read from the environment (and an optional `.env` file at the repo root).

Every setting has a default that runs the embedded platform on one machine: SQLite and
kombu's filesystem broker under `var/`. Production sets `DATABASE_URL`,
`CELERY_BROKER_URL`, `SECRET_KEY`, `DEBUG=0` and `ALLOWED_HOSTS`. The README's
configuration table lists every variable.
"""

import ipaddress
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from imprimatur.storage import storage_backend

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# All local state (database, broker folders, media, models, keys) lives under one folder.
VAR_DIR = Path(env.str("IMPRIMATUR_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)


def _secret_key() -> str:
    """The configured key; with DEBUG on, one generated once and kept under var/."""
    configured = env.str("SECRET_KEY", default="")
    if configured:
        return configured
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "imprimatur.tenancy",
    "imprimatur.ratelimit",
    "imprimatur.accounts",
    "imprimatur.identity",
    "imprimatur.web",
    "imprimatur.scim",  # SCIM 2.0 provisioning (issue 17)
    "governance.audit",
    "governance.policies",
    "governance.reviews",
    "generation.jobs",
    "generation.styles",
    "imprimatur.webhooks",
]

MIDDLEWARE = [
    # Content-Security-Policy (below) on every response, the probes' and /metrics' too.
    "csp.middleware.CSPMiddleware",
    # Operations (imprimatur/health.py): count every request; answer probes and /metrics
    # before the host and HTTPS checks below.
    "imprimatur.health.HttpMetricsMiddleware",
    "imprimatur.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.audit.middleware.AuditRequestIdMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A project slug that several of the user's organisations use: a page to choose one.
    "imprimatur.web.middleware.AmbiguousProjectMiddleware",
    # The site's 404 page (not Django's list of URL patterns) also with DEBUG on.
    "imprimatur.web.middleware.BrandedNotFoundMiddleware",
]

ROOT_URLCONF = "imprimatur.urls"
WSGI_APPLICATION = "imprimatur.wsgi.application"
ASGI_APPLICATION = "imprimatur.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "imprimatur.web.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'imprimatur.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that worker processes started by tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # WAL and a busy timeout let the web process and the worker write without "database is
    # locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Password logins (imprimatur/accounts/): failed logins are counted per client address and per
# username (normalised) in fixed windows of this many seconds, shared by the login page and
# the API's token endpoint; over a limit a login is refused before its password is checked.
IMPRIMATUR_LOGIN_WINDOW_SECONDS = env.int("IMPRIMATUR_LOGIN_WINDOW_SECONDS", default=900)
# Failed logins from one address (an IPv6 client's /64) per window; 0: no limit.
IMPRIMATUR_LOGIN_FAILURES_PER_ADDRESS = env.int("IMPRIMATUR_LOGIN_FAILURES_PER_ADDRESS", default=30)
# Failed logins for one username per window; the one that reaches it locks the account. 0: none.
IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT = env.int("IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT", default=10)
# How long a lock lasts (an admin may lift it sooner); 0: until an admin unlocks it.
IMPRIMATUR_LOGIN_LOCKOUT_SECONDS = env.int("IMPRIMATUR_LOGIN_LOCKOUT_SECONDS", default=3600)
# Passwords are checked first, then whether the user's organisations still allow them;
# the second backend signs in through an organisation's OpenID provider (imprimatur/identity/).
AUTHENTICATION_BACKENDS = [
    "imprimatur.identity.backends.PasswordPolicyBackend",
    "imprimatur.identity.backends.OrganizationOIDCBackend",
]
# Seconds single sign-on waits for a provider (discovery, token, keys, userinfo).
IMPRIMATUR_SSO_TIMEOUT = env.float("IMPRIMATUR_SSO_TIMEOUT", default=10.0)
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Client addresses, the cache and rate counters (imprimatur/ratelimit/) --------------------
# The proxies in front of the web processes (addresses or CIDR networks, comma-separated):
# only a request whose socket peer is one of them has its X-Forwarded-For believed, read from
# the right. Empty (the default): no header is believed, the peer is the client.
IMPRIMATUR_TRUSTED_PROXIES = env.list("IMPRIMATUR_TRUSTED_PROXIES", default=[])
for _proxy in IMPRIMATUR_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"IMPRIMATUR_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network "
            "(such as 10.0.0.0/8 or 2001:db8::1)."
        ) from None
# The cache (django-environ: redis://host:6379/1, locmemcache://). Rate counters (logins,
# token and verify throttles) count in it when it is Redis or Memcached (atomic, shared by
# every process); otherwise in the database, so the default is correct with any number of
# web processes on one database.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Media is never served directly: asset files go through views that check permissions.
MEDIA_URL = "/media-not-served/"
# Every file the platform keeps (images, published copies, uploads, brand references) goes
# through the default storage: MEDIA_ROOT, or an S3 bucket (STORAGE_URL, imprimatur/storage.py).
STORAGE_URL = env.str("STORAGE_URL", default="")
STORAGES = {
    "default": storage_backend(STORAGE_URL, env=os.environ),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Security (strict when DEBUG is off; `manage.py check --deploy` passes) ------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp) on every response: scripts, styles, images and requests
# from this origin only, so an injected <script> or onclick= does not run. Every script is a
# static file (templates/ have no inline scripts or handlers; the API docs use drf-spectacular's
# split view). Styles allow 'unsafe-inline' for the style="" attributes that carry data (palette
# swatches, chart bars): with img-src and font-src limited to this origin an injected style can
# load nothing from elsewhere. IMPRIMATUR_CSP_REPORT_URI: where browsers report violations.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if env.str("IMPRIMATUR_CSP_REPORT_URI", default=""):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [env.str("IMPRIMATUR_CSP_REPORT_URI")]

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested past imprimatur.parsers.MAX_JSON_DEPTH levels is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "imprimatur.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "imprimatur.api.Pagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "imprimatur.api.exception_handler",
    # DRF's scoped throttle, on the real client address and an atomic counter.
    "DEFAULT_THROTTLE_CLASSES": ["imprimatur.ratelimit.throttles.AddressRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("TOKEN_THROTTLE_RATE", default="20/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Imprimatur API",
    "DESCRIPTION": "Governed image generation: projects, generation requests and assets.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PolicyOutcomeEnum": "governance.policies.api.OUTCOME_CHOICES",
        "RoleEnum": "imprimatur.tenancy.permissions.Role",  # members API and review stages
        "WebhookDeliveryStatusEnum": "imprimatur.webhooks.models.Delivery.Status",
        "AssetPushStatusEnum": "generation.jobs.models.AssetPush.Status",
    },
}

# --- Celery ---------------------------------------------------------------------------
# The broker carries job ids only; the database holds all job state, so there is no
# result backend.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
# A worker reserves no job beyond the one it runs: with late acks and Celery's default of four,
# one machine would hold jobs that another, idle, could run (bench/scale_out.py measures it).
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for in and out: producer and consumer share this machine's disk.
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # Seconds between looks at the queue folder: the latency a job waits at most.
        "polling_interval": 0.05,
    }
else:
    # Redelivery of an unacknowledged job must wait until the task could have finished.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int(
            "CELERY_VISIBILITY_TIMEOUT", default=2 * CELERY_TASK_TIME_LIMIT
        ),
    }

# --- Generation -----------------------------------------------------------------------
# Models are registered in the catalog (ModelProfile). The demo model pack ships in the repo
# (trained here by `manage.py train_demo_models`); `make run` registers its pipeline.
IMPRIMATUR_DEMO_MODELS_DIR = BASE_DIR / "generation" / "demo_models"
IMPRIMATUR_DEMO_PIPELINE_PATH = IMPRIMATUR_DEMO_MODELS_DIR / "tiny-sd"
# The tiny random-weight pipeline (noise images) that tests build with make_tiny_pipeline.
IMPRIMATUR_MODELS_DIR = Path(env.str("IMPRIMATUR_MODELS_DIR", default=str(VAR_DIR / "models")))
IMPRIMATUR_TINY_MODEL_PATH = Path(
    env.str("IMPRIMATUR_TINY_MODEL_PATH", default=str(IMPRIMATUR_MODELS_DIR / "tiny-sd"))
)
# The open_clip model of the brand and safety checks: an open_clip architecture name, a local
# checkpoint file and, for an architecture open_clip does not ship, its config JSON (named after
# it). Default: the demo pack's tiny CLIP. For ViT-B-32, say, set the config to "".
IMPRIMATUR_CLIP_ARCHITECTURE = env.str("IMPRIMATUR_CLIP_ARCHITECTURE", "imprimatur-demo-clip")
IMPRIMATUR_CLIP_CHECKPOINT = Path(
    env.str(
        "IMPRIMATUR_CLIP_CHECKPOINT",
        default=str(IMPRIMATUR_DEMO_MODELS_DIR / "tiny-clip" / "open_clip_model.safetensors"),
    )
)
IMPRIMATUR_CLIP_CONFIG = env.str(
    "IMPRIMATUR_CLIP_CONFIG",
    default=str(IMPRIMATUR_DEMO_MODELS_DIR / "tiny-clip" / "imprimatur-demo-clip.json"),
)
# The upscaler (an ESRGAN-family file spandrel loads) of "Enlarge" and "Upscale"; "": neither.
IMPRIMATUR_UPSCALER_PATH = env.str(
    "IMPRIMATUR_UPSCALER_PATH",
    default=str(IMPRIMATUR_DEMO_MODELS_DIR / "upscaler" / "upscaler-x4.safetensors"),
)
# The longest side an enlarged image may have.
IMPRIMATUR_UPSCALE_MAX_SIDE = env.int("IMPRIMATUR_UPSCALE_MAX_SIDE", default=4096)
# Brand styles (generation/styles/): where a worker keeps a style's training checkpoints (a
# task sent again resumes from them) and its local copies of approved styles' weights.
IMPRIMATUR_STYLE_WORK_DIR = Path(
    env.str("IMPRIMATUR_STYLE_WORK_DIR", default=str(VAR_DIR / "style-training"))
)
IMPRIMATUR_STYLE_CACHE_DIR = Path(
    env.str("IMPRIMATUR_STYLE_CACHE_DIR", default=str(VAR_DIR / "style-cache"))
)
# A style's training set: at least this many images, each with its rights attestation; this
# many of them are held out of training to evaluate the style.
IMPRIMATUR_STYLE_MIN_IMAGES = env.int("IMPRIMATUR_STYLE_MIN_IMAGES", default=10)
IMPRIMATUR_STYLE_HELD_OUT = env.int("IMPRIMATUR_STYLE_HELD_OUT", default=2)
# Images made with and without a trained style to measure it (CMMD) against the brand's.
IMPRIMATUR_STYLE_EVALUATION_IMAGES = env.int("IMPRIMATUR_STYLE_EVALUATION_IMAGES", default=8)
# Pipelines one worker process keeps loaded (least recently used dropped first).
IMPRIMATUR_MAX_LOADED_MODELS = env.int("IMPRIMATUR_MAX_LOADED_MODELS", default=2)
# torch.compile the UNet of loaded models (GPU workers; compiled at worker start).
IMPRIMATUR_COMPILE_UNET = env.bool("IMPRIMATUR_COMPILE_UNET", default=False)
# A job whose worker dies this many times (killed, out of memory) fails instead of looping.
IMPRIMATUR_MAX_JOB_ATTEMPTS = env.int("IMPRIMATUR_MAX_JOB_ATTEMPTS", default=3)
# A running job shows it is alive at least this often (each progress write); a job silent for
# longer is taken over by another worker. Keep it above the slowest denoising step.
IMPRIMATUR_JOB_LEASE_SECONDS = env.int("IMPRIMATUR_JOB_LEASE_SECONDS", default=60)
# Fair-share dispatch (generation/jobs/fairness.py): each message on a GPU queue runs the next
# fair job of that queue rather than the job it names. Off: jobs run in the order of messages.
IMPRIMATUR_FAIR_DISPATCH = env.bool("IMPRIMATUR_FAIR_DISPATCH", default=True)
# The most queued (not yet started) jobs one user may have in an organisation, by role; a
# user's cap is the largest of their roles' (0: no cap). Submitting past it is refused.
IMPRIMATUR_QUEUE_CAPS = {
    "creator": env.int("IMPRIMATUR_QUEUE_CAP_CREATOR", default=50),
    "admin": env.int("IMPRIMATUR_QUEUE_CAP_ADMIN", default=200),
}
# Cross-request batching on GPU workers (worker.py): up to this many compatible queued jobs
# (same model, size, steps, scheduler, guidance, mode, styles) generated in one batch (1: off),
# waiting at most IMPRIMATUR_BATCH_WAIT_MS for company. Off by default: on a CPU it does not pay.
IMPRIMATUR_BATCH_MAX = env.int("IMPRIMATUR_BATCH_MAX", default=1)
IMPRIMATUR_BATCH_WAIT_MS = env.int("IMPRIMATUR_BATCH_WAIT_MS", default=20)
# Check, sign and store a batch in a thread while the next batch generates (GPU workers: the GPU
# never waits for the checks). Off: one job after the other, the checks in the same thread.
IMPRIMATUR_FINISH_IN_BACKGROUND = env.bool("IMPRIMATUR_FINISH_IN_BACKGROUND", default=False)
# A batch holds fewer images at sizes where IMPRIMATUR_BATCH_MAX would not fit this many pixels.
IMPRIMATUR_BATCH_MAX_PIXELS = env.int("IMPRIMATUR_BATCH_MAX_PIXELS", default=4 * 512 * 512)
# The audit log's checkpoints (governance/audit/CHAIN.md). The Ed25519 key that signs them: a
# file outside the database (made on first use with mode 0600; give every process the same).
IMPRIMATUR_AUDIT_KEY = env.str("IMPRIMATUR_AUDIT_KEY", default=str(VAR_DIR / "audit_key.pem"))
# A checkpoint is signed every this many seconds (beat) and after the commit of every this
# many-th event, whichever comes first (0: no count trigger). Events newer than the last
# checkpoint are what someone with database access could still rewrite.
IMPRIMATUR_AUDIT_CHECKPOINT_SECONDS = env.int("IMPRIMATUR_AUDIT_CHECKPOINT_SECONDS", default=60)
IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS = env.int("IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS", default=100)
# Where every checkpoint is also written, outside the database, and verified against: an
# append-only file (a path or file:///path) or s3://BUCKET/PREFIX?endpoint=…&region=…
# (one object each, under S3 Object Lock retention when the bucket has it; witness.py).
IMPRIMATUR_AUDIT_WITNESS = env.str(
    "IMPRIMATUR_AUDIT_WITNESS", default=str(VAR_DIR / "audit-witness" / "checkpoints.jsonl")
)
# Celery beat (embedded in the `make run` worker; `celery -A imprimatur beat` in production).
CELERY_BEAT_SCHEDULE = {
    "recover-stale-jobs": {
        "task": "generation.recover_stale_jobs",
        "schedule": float(IMPRIMATUR_JOB_LEASE_SECONDS),
    },
    "review-reminders": {
        "task": "reviews.remind_overdue",
        "schedule": float(env.int("IMPRIMATUR_REVIEW_REMINDER_SECONDS", default=300)),
    },
    "audit-checkpoint": {
        "task": "governance.audit.checkpoint",
        "schedule": float(IMPRIMATUR_AUDIT_CHECKPOINT_SECONDS),
    },
    "audit-seal": {"task": "governance.audit.seal", "schedule": 60.0},
    # Webhook deliveries whose message was lost, or whose endpoint was enabled again.
    "webhooks-sweep": {"task": "webhooks.sweep", "schedule": 60.0},
    "push-sweep": {"task": "generation.push_sweep", "schedule": 60.0},
}
# Webhooks (imprimatur/webhooks/, Standard Webhooks). Seconds before each try of a delivery:
# the first at once, then the retries; after the last one fails the delivery has failed.
IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [
    float(seconds)
    for seconds in env.list(
        "IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE",
        default=["0", "5", "300", "1800", "7200", "18000", "36000", "36000"],
    )
]
# An endpoint whose every try failed for this long (no success in between) is disabled and
# its organisation's admins are emailed (default: 5 days).
IMPRIMATUR_WEBHOOK_DISABLE_AFTER_SECONDS = env.int(
    "IMPRIMATUR_WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 24 * 3600
)
# After a secret's rotation the previous secret also signs for this long (both signatures).
IMPRIMATUR_WEBHOOK_SECRET_OVERLAP_SECONDS = env.int(
    "IMPRIMATUR_WEBHOOK_SECRET_OVERLAP_SECONDS", default=24 * 3600
)
# The longest one try may take (connect and answer), in seconds.
IMPRIMATUR_WEBHOOK_TIMEOUT_SECONDS = env.float("IMPRIMATUR_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Push to a destination (generation/jobs/destinations.py): the folder under which projects'
# folder destinations must lie (empty: no folder destinations), and the buckets they may
# name, as storage URLs (s3://BUCKET?endpoint=…&region=…; credentials from AWS_*).
IMPRIMATUR_PUSH_FOLDER_ROOT = env.str("IMPRIMATUR_PUSH_FOLDER_ROOT", default=str(VAR_DIR / "push"))
IMPRIMATUR_PUSH_S3_BUCKETS = env.list("IMPRIMATUR_PUSH_S3_BUCKETS", default=[])
# Send to loopback, private and reserved addresses too (off: no SSRF into your network).
IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = env.bool("IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE", default=False)
# C2PA signing. The organisation's certificate chain and key (PEM files the operator controls;
# the key is never served or logged), and the roots local verification trusts. Unset while
# IMPRIMATUR_DEV_SIGNER is on (default: DEBUG): a development CA and signer are made under
# var/provenance/ (`manage.py provenance_init`).
IMPRIMATUR_SIGNER_CHAIN = env.str("IMPRIMATUR_SIGNER_CHAIN", default="")
IMPRIMATUR_SIGNER_KEY = env.str("IMPRIMATUR_SIGNER_KEY", default="")
IMPRIMATUR_TRUST_ANCHORS = env.str("IMPRIMATUR_TRUST_ANCHORS", default="")
IMPRIMATUR_DEV_SIGNER = env.bool("IMPRIMATUR_DEV_SIGNER", default=DEBUG)
# The label of our assertion in manifests (reverse-domain, your organisation's choice).
IMPRIMATUR_C2PA_LABEL = env.str("IMPRIMATUR_C2PA_LABEL", default="org.imprimatur.generation")
# The verify page and API for people without an account, and its rate per client address.
IMPRIMATUR_PUBLIC_VERIFY = env.bool("IMPRIMATUR_PUBLIC_VERIFY", default=False)
IMPRIMATUR_VERIFY_PER_MINUTE = env.int("IMPRIMATUR_VERIFY_PER_MINUTE", default=20)
# Share links (generation/jobs/sharing.py; off per organisation until an admin turns them on):
# the longest a link may be valid, in hours.
IMPRIMATUR_SHARE_LINK_MAX_HOURS = env.int("IMPRIMATUR_SHARE_LINK_MAX_HOURS", default=168)
# Share-link downloads (and guesses) a minute from one client address; each use is audited.
IMPRIMATUR_SHARE_PER_MINUTE = env.int("IMPRIMATUR_SHARE_PER_MINUTE", default=60)
# Review notifications go by email too. Development prints them on the console; set
# EMAIL_URL (django-environ, e.g. smtp://user:pass@mail.example.com:587) in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="imprimatur@localhost")
# Where links in emails point.
IMPRIMATUR_BASE_URL = env.str("IMPRIMATUR_BASE_URL", default="http://127.0.0.1:8000")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
IMPRIMATUR_DEMO_PASSWORD = env.str("IMPRIMATUR_DEMO_PASSWORD", default="")

# --- Operations: probes and metrics (imprimatur/health.py, imprimatur/metrics.py) -----------
# Seconds each readiness check (and the scrape-time queue depth) may take.
IMPRIMATUR_READYZ_TIMEOUT = env.float("IMPRIMATUR_READYZ_TIMEOUT", default=2.0)
# When set, /metrics answers only `Authorization: Bearer <token>`.
IMPRIMATUR_METRICS_TOKEN = env.str("IMPRIMATUR_METRICS_TOKEN", default="")
# A worker's main process serves its metrics on this port (unset: not served).
IMPRIMATUR_WORKER_METRICS_PORT = env.int("IMPRIMATUR_WORKER_METRICS_PORT", default=0)
# prometheus_client's multiprocess folder: read from the environment when prometheus_client is
# imported, so it is set here, before anything imports it; child processes inherit it.
PROMETHEUS_MULTIPROC_DIR = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
)
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
