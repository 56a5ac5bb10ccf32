"""Validated configuration models (CRITICAL-2).

Each section is a pydantic-settings model that reads its own environment variables, so a
section can be validated alone in a test. `AppConfig` composes them and re-raises every
section's errors as one `ValidationError`, so an operator sees all bad fields at once rather
than fixing them one start-up at a time. Secrets have no defaults and are `SecretStr`, so they
never appear in a repr or a log line.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mythos.observability.redact import redact_text, redact_url

__all__ = [
    "AppConfig",
    "ClusterConfig",
    "DatabaseConfig",
    "LogFormat",
    "LoggingConfig",
    "LoggingEnvironment",
    "NATSConfig",
    "SecurityConfig",
    "ServerConfig",
]

# Minimum secret lengths. A JWT HMAC key shorter than the hash output (32 bytes for HS256)
# weakens the signature; production asks for more of everything.
MIN_ADMIN_PASSWORD = 12
MIN_JWT_SECRET = 32
PROD_MIN_ADMIN_PASSWORD = 16
PROD_MIN_JWT_SECRET = 48
# The web client pings over its WebSocket once per advertised heartbeat, but never more often than
# this (client/src/config.ts clamps the interval to 1-300 s).
CLIENT_MIN_PING_INTERVAL_S = 1.0
# Values that appear in templates and tutorials; refusing them stops a copied example from
# reaching production.
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "password", "secret", "admin", "test", "example", "mythos"}
)
_DB_SCHEMES = ("sqlite", "postgresql")
# Never echoed back in an error message.
SECRET_VARIABLES = frozenset({"MYTHOSMUD_ADMIN_PASSWORD", "MYTHOSMUD_JWT_SECRET", "admin_password", "jwt_secret"})
# URL-valued: shown with their userinfo (user:password@) masked, in errors as everywhere else.
URL_VARIABLES = frozenset({"DATABASE_URL", "NPC_DATABASE_URL", "NATS_URL", "url", "npc_url"})


def _env(name: str) -> Any:
    """Field alias: read exactly this variable, and accept the attribute name in code."""
    return AliasChoices(name, name.lower())


class _Section(BaseSettings):
    """Common settings behaviour: env vars only (files are chosen by `AppConfig.load`)."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        frozen=True,
    )


class LoggingEnvironment(StrEnum):
    LOCAL = "local"
    UNIT_TEST = "unit_test"
    E2E_TEST = "e2e_test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    COLORED = "colored"
    JSON = "json"


class ServerConfig(_Section):
    """Where the server listens and the real-time knobs players feel."""

    host: str = Field("127.0.0.1", validation_alias=_env("SERVER_HOST"))
    port: int = Field(..., ge=1024, le=65535, validation_alias=_env("SERVER_PORT"))
    heartbeat_interval: float = Field(5.0, gt=0, le=300, validation_alias=_env("HEARTBEAT_INTERVAL"))
    event_buffer_size: int = Field(500, ge=1, le=100_000, validation_alias=_env("EVENT_BUFFER_SIZE"))
    client_dist_dir: Path = Field(Path("client/dist"), validation_alias=_env("CLIENT_DIST_DIR"))
    data_dir: Path = Field(Path("data"), validation_alias=_env("DATA_DIR"))
    world_file: Path | None = Field(None, validation_alias=_env("WORLD_FILE"))
    # Names this instance's durable JetStream consumer; stable across restarts so chat sent while
    # the instance was down is replayed to it. Default: <hostname>-<port>.
    instance_id: str | None = Field(None, min_length=1, max_length=64, validation_alias=_env("MYTHOS_INSTANCE_ID"))
    # Per-WebSocket budgets for frames that are not commands (commands have the rate limiter):
    # pings beyond their bucket, and invalid frames, spend the bad-frame bucket; a connection that
    # empties it is closed with 1008 (docs/protocol.md).
    ws_ping_burst: int = Field(10, ge=1, le=10_000, validation_alias=_env("WS_PING_BURST"))
    ws_pings_per_second: float = Field(1.0, gt=0, le=1000, validation_alias=_env("WS_PINGS_PER_SECOND"))
    ws_bad_frame_burst: int = Field(10, ge=1, le=10_000, validation_alias=_env("WS_BAD_FRAME_BURST"))
    ws_bad_frames_per_minute: float = Field(6.0, gt=0, le=60_000, validation_alias=_env("WS_BAD_FRAMES_PER_MINUTE"))
    # A graceful stop (SIGTERM) waits this long for the commands in flight to finish and their
    # replies to be written before it closes the sockets (docs/deployment.md). Keep it at least
    # NATS_PUBLISH_DEADLINE, so a chat line's publish in flight ends (acknowledged or dead-lettered)
    # before the stop, and below the supervisor's kill timeout.
    shutdown_drain_seconds: float = Field(4.0, ge=0, le=120, validation_alias=_env("SHUTDOWN_DRAIN_SECONDS"))

    @field_validator("instance_id")
    @classmethod
    def _instance_id_token(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise PydanticCustomError("instance_id", "may only contain letters, digits, '-' and '_'")
        return value

    @model_validator(mode="after")
    def _heartbeat_within_ping_budget(self) -> Self:
        # The web client pings once per heartbeat. Pings that outrun the budget's refill end in
        # close 1008 once the bad-frame bucket is spent, after the link has carried traffic long
        # enough to count as stable: the client would reconnect and be closed again, forever.
        client_ping_interval = max(self.heartbeat_interval, CLIENT_MIN_PING_INTERVAL_S)
        if client_ping_interval * self.ws_pings_per_second < 1:
            raise PydanticCustomError(
                "heartbeat_outpaces_ping_budget",
                "HEARTBEAT_INTERVAL ({heartbeat} s) and WS_PINGS_PER_SECOND ({rate}) could loop: the web "
                "client pings once per heartbeat (at most once a second), faster than the budget refills, "
                "so every connection would be closed with 1008 and reconnect; raise WS_PINGS_PER_SECOND "
                "to at least {needed} or HEARTBEAT_INTERVAL to at least {interval} s",
                {
                    "heartbeat": self.heartbeat_interval,
                    "rate": self.ws_pings_per_second,
                    "needed": round(1 / client_ping_interval, 3),
                    "interval": round(1 / self.ws_pings_per_second, 3),
                },
            )
        return self

    @field_validator("host")
    @classmethod
    def _host_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank_host", "SERVER_HOST must not be blank")
        return value.strip()


class DatabaseConfig(_Section):
    """Player database and NPC database; SQLite files by default, PostgreSQL by URL."""

    url: str = Field(..., validation_alias=_env("DATABASE_URL"))
    npc_url: str = Field(..., validation_alias=_env("NPC_DATABASE_URL"))

    @field_validator("url", "npc_url")
    @classmethod
    def _supported_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme or scheme.split("+", 1)[0] not in _DB_SCHEMES:
            raise PydanticCustomError(
                "database_url_scheme",
                "must be a sqlite or postgresql URL (e.g. sqlite+aiosqlite:///data/mythos.db), got '{scheme}'",
                {"scheme": scheme or redact_url(value)[:40]},
            )
        if scheme.startswith("sqlite") and not value.split("://", 1)[1].lstrip("/"):
            raise PydanticCustomError("database_url_path", "a sqlite URL needs a file path")
        return value


class NATSConfig(_Section):
    """The NATS link. Ping settings default low so a blackholed link is noticed in seconds."""

    enabled: bool = Field(True, validation_alias=_env("NATS_ENABLED"))
    url: str = Field("nats://localhost:4222", validation_alias=_env("NATS_URL"))
    max_payload: int = Field(1_048_576, ge=1024, le=64 * 1_048_576, validation_alias=_env("NATS_MAX_PAYLOAD"))
    reconnect_time_wait: float = Field(1.0, ge=0, le=300, validation_alias=_env("NATS_RECONNECT_WAIT"))
    max_reconnect_attempts: int = Field(5, ge=-1, validation_alias=_env("NATS_MAX_RECONNECT_ATTEMPTS"))
    connect_timeout: float = Field(5.0, gt=0, le=120, validation_alias=_env("NATS_CONNECT_TIMEOUT"))
    ping_interval: float = Field(2.0, gt=0, le=600, validation_alias=_env("NATS_PING_INTERVAL"))
    max_outstanding_pings: int = Field(2, ge=1, le=100, validation_alias=_env("NATS_MAX_OUTSTANDING_PINGS"))
    reconnect_watchdog_seconds: float = Field(10.0, gt=0, validation_alias=_env("NATS_RECONNECT_WATCHDOG"))
    use_jetstream: bool = Field(True, validation_alias=_env("NATS_USE_JETSTREAM"))
    # Core NATS (use_jetstream false) has no retry, breaker or DLQ: only the harness's credibility
    # check runs it, to show that configuration failing (ADR-004).
    core_credibility_check: bool = Field(False, validation_alias=_env("NATS_CORE_CREDIBILITY_CHECK"))
    publish_retry_attempts: int = Field(3, ge=1, le=20, validation_alias=_env("NATS_PUBLISH_RETRY_ATTEMPTS"))
    publish_retry_base_delay: float = Field(0.05, ge=0, le=60, validation_alias=_env("NATS_PUBLISH_RETRY_BASE_DELAY"))
    publish_retry_max_delay: float = Field(1.0, ge=0, le=300, validation_alias=_env("NATS_PUBLISH_RETRY_MAX_DELAY"))
    # Bounds a whole publish (every retry included) so the sender hears back before a client gives
    # up (the web client and the harness wait 5 s); what misses it goes to the DLQ.
    publish_deadline_seconds: float = Field(3.0, gt=0, le=120, validation_alias=_env("NATS_PUBLISH_DEADLINE"))
    breaker_failure_threshold: int = Field(5, ge=1, validation_alias=_env("NATS_BREAKER_FAILURE_THRESHOLD"))
    breaker_timeout_seconds: float = Field(5.0, gt=0, validation_alias=_env("NATS_BREAKER_TIMEOUT"))
    breaker_success_threshold: int = Field(2, ge=1, validation_alias=_env("NATS_BREAKER_SUCCESS_THRESHOLD"))
    # A cluster: NATS_URL lists its nodes, comma-separated. nats-py shuffles that list (spreading
    # servers that share one list over the nodes) unless told to keep it, which a server that
    # lists its nearest node first wants.
    dont_randomize: bool = Field(False, validation_alias=_env("NATS_DONT_RANDOMIZE"))
    # Copies of the chat stream the cluster keeps (1 for a single node; 3 survives one node lost).
    stream_replicas: int = Field(1, ge=1, le=5, validation_alias=_env("NATS_STREAM_REPLICAS"))
    # Chat queued while NATS was away is sent again by its own server once NATS is back, unless
    # it is older than this (then it stays in the DLQ for operators and its sender is told); 0
    # turns the drain off. At most the stream's duplicate window (120 s), inside which JetStream
    # drops a copy of a line whose first publish reached the stream after all.
    chat_outbox_max_age_seconds: float = Field(
        120.0, ge=0, le=120, allow_inf_nan=False, validation_alias=_env("CHAT_OUTBOX_MAX_AGE")
    )

    @property
    def servers(self) -> list[str]:
        """Every server of NATS_URL, in the order given."""
        return [url.strip() for url in self.url.split(",")]

    @field_validator("url")
    @classmethod
    def _nats_scheme(cls, value: str) -> str:
        for url in value.split(","):
            if not re.fullmatch(r"(nats|tls|ws|wss)://[^\s/]+(:\d+)?/?", url.strip()):
                raise PydanticCustomError(
                    "nats_url",
                    "must be nats://host:port (comma-separated for a cluster), got '{url}'",
                    {"url": redact_url(url)},
                )
        return value

    @model_validator(mode="after")
    def _delays_ordered(self) -> Self:
        if self.publish_retry_base_delay > self.publish_retry_max_delay:
            raise PydanticCustomError(
                "retry_delays", "NATS_PUBLISH_RETRY_BASE_DELAY must not exceed NATS_PUBLISH_RETRY_MAX_DELAY"
            )
        if self.enabled and not self.use_jetstream and not self.core_credibility_check:
            raise PydanticCustomError(
                "core_nats_refused",
                "NATS_USE_JETSTREAM=false runs core NATS: at-most-once, with no retry, circuit breaker or "
                "dead-letter queue, so chat in flight is lost; it is only for the harness's credibility "
                "check (NATS_CORE_CREDIBILITY_CHECK=true)",
            )
        return self


class ClusterConfig(_Section):
    """Several servers as one world (docs/adr/ADR-006-cluster-sessions.md).

    Off by default: one server keeps its sessions, aliases and `who` in memory as before. On, a
    player holds one session across every server (a NATS KV registry), alias caches are dropped
    on every server when one changes them, and `who` merges every live server's players.
    """

    sessions: bool = Field(False, validation_alias=_env("CLUSTER_SESSIONS"))
    # A KV put that takes longer than this refuses the new session (it could not be checked).
    registry_timeout_seconds: float = Field(1.0, gt=0, le=30, validation_alias=_env("CLUSTER_REGISTRY_TIMEOUT_SECONDS"))
    # What a refused login is told to wait (Retry-After), while the registry cannot be reached.
    retry_after_seconds: float = Field(2.0, gt=0, le=300, validation_alias=_env("CLUSTER_RETRY_AFTER_SECONDS"))
    presence_refresh_seconds: float = Field(
        2.0, gt=0, le=300, validation_alias=_env("CLUSTER_PRESENCE_REFRESH_SECONDS")
    )
    # A server's players leave `who` this long after its last refresh (it died or lost NATS).
    presence_ttl_seconds: float = Field(6.0, gt=0, le=3600, validation_alias=_env("CLUSTER_PRESENCE_TTL_SECONDS"))

    @model_validator(mode="after")
    def _ttl_covers_refreshes(self) -> Self:
        # A TTL shorter than two refreshes would drop a live server's players between refreshes.
        if self.presence_ttl_seconds < 2 * self.presence_refresh_seconds:
            raise PydanticCustomError(
                "presence_ttl",
                "CLUSTER_PRESENCE_TTL_SECONDS must be at least twice CLUSTER_PRESENCE_REFRESH_SECONDS",
            )
        return self


class SecurityConfig(_Section):
    """Secrets and command-security limits. Secrets are required and have no defaults."""

    admin_password: SecretStr = Field(..., validation_alias=_env("MYTHOSMUD_ADMIN_PASSWORD"))
    jwt_secret: SecretStr = Field(..., validation_alias=_env("MYTHOSMUD_JWT_SECRET"))
    invite_codes_file: Path = Field(Path("invites.json"), validation_alias=_env("INVITE_CODES_FILE"))
    token_ttl_minutes: int = Field(60, ge=1, le=7 * 24 * 60, validation_alias=_env("ACCESS_TOKEN_TTL_MINUTES"))
    rate_limit_max_commands: int = Field(10, ge=1, le=1000, validation_alias=_env("RATE_LIMIT_MAX_COMMANDS"))
    rate_limit_window_seconds: float = Field(1.0, gt=0, le=3600, validation_alias=_env("RATE_LIMIT_WINDOW_SECONDS"))
    max_alias_expansion: int = Field(10, ge=1, le=1000, validation_alias=_env("MAX_ALIAS_EXPANSION"))
    max_alias_depth: int = Field(10, ge=1, le=100, validation_alias=_env("MAX_ALIAS_DEPTH"))
    max_expanded_command_length: int = Field(
        10_000, ge=100, le=1_000_000, validation_alias=_env("MAX_EXPANDED_COMMAND_LENGTH")
    )
    # The audit log's bounds (docs/audit-log.md): size-based rotation, and refusals of one player
    # collapsed per window after a burst written in full.
    audit_max_bytes: int = Field(10 * 1024 * 1024, ge=4096, le=1 << 40, validation_alias=_env("AUDIT_MAX_BYTES"))
    audit_backup_count: int = Field(20, ge=1, le=10_000, validation_alias=_env("AUDIT_BACKUP_COUNT"))
    audit_collapse_window_seconds: float = Field(
        60.0, ge=0, le=86_400, validation_alias=_env("AUDIT_COLLAPSE_WINDOW_SECONDS")
    )
    audit_refusal_burst: int = Field(5, ge=1, le=10_000, validation_alias=_env("AUDIT_REFUSAL_BURST"))

    # Login throttling (docs/protocol.md): failed logins per (account, address) and per address
    # before an exponential back-off, a ceiling per account over all addresses, and the bounded
    # queue for the two argon2 slots. The defaults give one address at most 11 guesses per
    # account per hour, and all addresses together at most 50 plus one per new address.
    login_free_failures: int = Field(5, ge=1, le=1000, validation_alias=_env("LOGIN_FREE_FAILURES"))
    login_address_free_failures: int = Field(20, ge=1, le=100_000, validation_alias=_env("LOGIN_ADDRESS_FREE_FAILURES"))
    login_backoff_base_seconds: float = Field(
        120.0, gt=0, le=86_400, validation_alias=_env("LOGIN_BACKOFF_BASE_SECONDS")
    )
    login_backoff_max_seconds: float = Field(900.0, gt=0, le=86_400, validation_alias=_env("LOGIN_BACKOFF_MAX_SECONDS"))
    login_account_failures_per_hour: int = Field(
        50, ge=1, le=100_000, validation_alias=_env("LOGIN_ACCOUNT_FAILURES_PER_HOUR")
    )
    login_failure_memory_seconds: float = Field(
        3600.0, gt=0, le=7 * 86_400, validation_alias=_env("LOGIN_FAILURE_MEMORY_SECONDS")
    )
    login_throttle_max_entries: int = Field(
        100_000, ge=100, le=10_000_000, validation_alias=_env("LOGIN_THROTTLE_MAX_ENTRIES")
    )
    login_hash_queue_max: int = Field(16, ge=0, le=10_000, validation_alias=_env("LOGIN_HASH_QUEUE_MAX"))
    login_suspect_queue_max: int = Field(4, ge=0, le=10_000, validation_alias=_env("LOGIN_SUSPECT_QUEUE_MAX"))

    @field_validator("admin_password")
    @classmethod
    def _admin_password_strength(cls, value: SecretStr) -> SecretStr:
        _check_secret(value.get_secret_value(), MIN_ADMIN_PASSWORD)
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_strength(cls, value: SecretStr) -> SecretStr:
        _check_secret(value.get_secret_value(), MIN_JWT_SECRET)
        return value

    @model_validator(mode="after")
    def _login_backoff_consistent(self) -> Self:
        # Failures forgotten before the longest lockout ends would reset the back-off mid-attack.
        if self.login_backoff_base_seconds > self.login_backoff_max_seconds:
            raise PydanticCustomError(
                "login_backoff", "LOGIN_BACKOFF_BASE_SECONDS must not exceed LOGIN_BACKOFF_MAX_SECONDS"
            )
        if self.login_failure_memory_seconds < self.login_backoff_max_seconds:
            raise PydanticCustomError(
                "login_memory", "LOGIN_FAILURE_MEMORY_SECONDS must be at least LOGIN_BACKOFF_MAX_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _expansion_within_rate_limit(self) -> Self:
        # An expansion larger than the per-window budget could never run whole; refusing it at
        # config time avoids a confusing "rate limited" reply to a single alias call.
        if self.max_alias_expansion > self.rate_limit_max_commands:
            raise PydanticCustomError(
                "alias_expansion_above_rate_limit",
                "MAX_ALIAS_EXPANSION ({expansion}) must not exceed RATE_LIMIT_MAX_COMMANDS ({limit})",
                {"expansion": self.max_alias_expansion, "limit": self.rate_limit_max_commands},
            )
        return self


def _check_secret(secret: str, min_length: int) -> None:
    if len(secret) < min_length:
        raise PydanticCustomError(
            "secret_too_short", "must be at least {min_length} characters", {"min_length": min_length}
        )
    if secret.strip().lower() in PLACEHOLDER_SECRETS or len(set(secret)) < 4:
        raise PydanticCustomError("secret_placeholder", "looks like a placeholder; generate a random value")


class LoggingConfig(_Section):
    """Where logs go and how they look; the environment also selects stricter checks."""

    environment: LoggingEnvironment = Field(..., validation_alias=_env("LOGGING_ENVIRONMENT"))
    level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    format: LogFormat = Field(LogFormat.COLORED, validation_alias=_env("LOG_FORMAT"))
    log_base: Path = Field(Path("logs"), validation_alias=_env("LOG_BASE_DIR"))

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise PydanticCustomError(
                "log_level", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '{value}'", {"value": value}
            )
        return level


class AppConfig(BaseModel):
    """The whole configuration. Build it with `AppConfig.load()`, which gathers every error."""

    model_config = ConfigDict(frozen=True)

    server: ServerConfig
    database: DatabaseConfig
    nats: NATSConfig
    security: SecurityConfig
    logging: LoggingConfig
    # Defaulted so code that builds AppConfig from the five original sections keeps working.
    cluster: ClusterConfig = Field(default_factory=lambda: ClusterConfig())

    SECTIONS: ClassVar[dict[str, type[_Section]]] = {
        "server": ServerConfig,
        "database": DatabaseConfig,
        "nats": NATSConfig,
        "security": SecurityConfig,
        "logging": LoggingConfig,
        "cluster": ClusterConfig,
    }

    @classmethod
    def load(cls, env_file: Path | str | None = None, **overrides: dict[str, Any]) -> AppConfig:
        """Read every section from the environment (and `env_file`, which env vars beat).

        `overrides` maps a section name to field values (used by tests and the harness).
        Raises one ValidationError listing the bad fields of every section.
        """
        sections: dict[str, Any] = {}
        errors: list[InitErrorDetails] = []
        for name, model in cls.SECTIONS.items():
            try:
                sections[name] = model(_env_file=env_file, **overrides.get(name, {}))
            except ValidationError as exc:
                errors.extend(_reraise_details(exc, name))
        if not errors:
            draft = cls.model_construct(**sections)
            for var, why in production_problems(draft):
                errors.append(
                    {
                        "type": PydanticCustomError("production_rules", f"in production {why}"),
                        "loc": (_SECTION_OF_VAR[var], var),
                        "input": None,
                    }
                )
            if _cluster_problem(draft):
                # Named by its variable, without the whole config as the "input" (URLs in it).
                errors.append(
                    {
                        "type": PydanticCustomError("cluster_needs_jetstream", CLUSTER_NEEDS_JETSTREAM),
                        "loc": ("cluster", "CLUSTER_SESSIONS"),
                        "input": None,
                    }
                )
            if not errors:
                return cls(**sections)
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @model_validator(mode="after")
    def _cluster_needs_jetstream(self) -> Self:
        if _cluster_problem(self):
            raise PydanticCustomError("cluster_needs_jetstream", CLUSTER_NEEDS_JETSTREAM)
        return self

    @model_validator(mode="after")
    def _production_rules(self) -> Self:
        problems = production_problems(self)
        if problems:
            raise PydanticCustomError(
                "production_rules",
                "production requires: {problems}",
                {"problems": "; ".join(f"{var} {why}" for var, why in problems)},
            )
        return self


CLUSTER_NEEDS_JETSTREAM = (
    "CLUSTER_SESSIONS=true needs NATS_ENABLED=true and NATS_USE_JETSTREAM=true "
    "(the session registry is a JetStream KV bucket on the chat link)"
)


def _cluster_problem(config: AppConfig) -> bool:
    cluster, nats = config.cluster, config.nats
    return cluster.sessions and not (nats.enabled and nats.use_jetstream)


def production_problems(config: AppConfig) -> list[tuple[str, str]]:
    """(variable, reason) for each stricter rule a production config breaks."""
    if config.logging.environment is not LoggingEnvironment.PRODUCTION:
        return []
    problems: list[tuple[str, str]] = []
    if len(config.security.admin_password.get_secret_value()) < PROD_MIN_ADMIN_PASSWORD:
        problems.append(("MYTHOSMUD_ADMIN_PASSWORD", f"must be at least {PROD_MIN_ADMIN_PASSWORD} characters"))
    if len(config.security.jwt_secret.get_secret_value()) < PROD_MIN_JWT_SECRET:
        problems.append(("MYTHOSMUD_JWT_SECRET", f"must be at least {PROD_MIN_JWT_SECRET} characters"))
    if config.logging.format is not LogFormat.JSON:
        problems.append(("LOG_FORMAT", "must be json"))
    if config.logging.level == "DEBUG":
        problems.append(("LOG_LEVEL", "must not be DEBUG"))
    return problems


_SECTION_OF_VAR = {
    "MYTHOSMUD_ADMIN_PASSWORD": "security",
    "MYTHOSMUD_JWT_SECRET": "security",
    "LOG_FORMAT": "logging",
    "LOG_LEVEL": "logging",
}


def _reraise_details(exc: ValidationError, section: str | None) -> list[InitErrorDetails]:
    """Re-home a section's errors under its name, keeping type and message."""
    details: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        loc = ((section,) if section else ()) + tuple(err["loc"])
        secret = bool(set(loc) & SECRET_VARIABLES)
        given = err.get("input")
        if secret:
            given = "**********"
        elif isinstance(given, str):
            given = redact_url(given) if set(loc) & URL_VARIABLES else redact_text(given)
        details.append(
            {
                "type": PydanticCustomError(err["type"], redact_text(err["msg"])),
                "loc": loc,
                "input": given,
            }
        )
    return details
