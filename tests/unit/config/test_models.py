"""CRITICAL-2: every section validates its own variables; AppConfig reports all bad fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mythos.config import (
    AppConfig,
    DatabaseConfig,
    LogFormat,
    LoggingConfig,
    LoggingEnvironment,
    NATSConfig,
    SecurityConfig,
    ServerConfig,
    get_config,
    load_config,
    reset_config,
)
from mythos.config.report import format_config_errors


def _bad_vars(exc: ValidationError) -> set[str]:
    return {str(err["loc"][-1]) for err in exc.errors()}


def test_valid_environment_loads_with_documented_defaults(valid_env: dict[str, str]) -> None:
    config = load_config()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8123
    assert config.database.npc_url == valid_env["NPC_DATABASE_URL"]
    assert config.nats.enabled is True
    assert config.nats.url == "nats://localhost:4222"
    assert config.nats.max_payload == 1_048_576
    assert config.nats.reconnect_time_wait == 1.0
    assert config.nats.max_reconnect_attempts == 5
    assert config.nats.connect_timeout == 5.0
    assert config.security.invite_codes_file == Path("invites.json")
    assert config.security.admin_password.get_secret_value() == valid_env["MYTHOSMUD_ADMIN_PASSWORD"]
    assert config.logging.environment is LoggingEnvironment.UNIT_TEST
    assert config.logging.level == "INFO"
    assert config.logging.format is LogFormat.COLORED
    assert config.logging.log_base == Path("logs")


def test_missing_required_fields_are_all_named_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {
        "SERVER_PORT",
        "DATABASE_URL",
        "NPC_DATABASE_URL",
        "MYTHOSMUD_ADMIN_PASSWORD",
        "MYTHOSMUD_JWT_SECRET",
        "LOGGING_ENVIRONMENT",
    }


def test_secrets_have_no_defaults_and_are_never_echoed(valid_env: dict[str, str], monkeypatch) -> None:
    assert SecurityConfig.model_fields["jwt_secret"].is_required()
    assert SecurityConfig.model_fields["admin_password"].is_required()
    config = load_config()
    assert valid_env["MYTHOSMUD_JWT_SECRET"] not in repr(config)
    monkeypatch.setenv("MYTHOSMUD_ADMIN_PASSWORD", "tooShort1")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert "tooShort1" not in str(info.value)
    assert "tooShort1" not in format_config_errors(info.value)


@pytest.mark.parametrize("port", ["1023", "65536", "0", "-1", "http", "80.5"])
def test_port_out_of_range_or_not_an_integer(port: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_PORT", port)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"SERVER_PORT"}


@pytest.mark.parametrize("port", ["1024", "65535"])
def test_port_bounds_are_inclusive(port: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_PORT", port)
    assert load_config().server.port == int(port)


@pytest.mark.parametrize(
    "url",
    ["mysql://db", "postgres-ish", "", "http://x/y.db", "sqlite://", "mongodb+srv://a"],
)
def test_database_urls_must_be_sqlite_or_postgresql(url: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("NPC_DATABASE_URL", url)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"DATABASE_URL", "NPC_DATABASE_URL"}


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "sqlite+aiosqlite:///tmp/x.db", "postgresql://u:p@h/db", "postgresql+asyncpg://h/db"]
)
def test_supported_database_urls(url: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_config().database.url == url


@pytest.mark.parametrize("env", ["dev", "prod", "LOCAL_", "staging", ""])
def test_logging_environment_is_one_of_four(env: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("LOGGING_ENVIRONMENT", env)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert "LOGGING_ENVIRONMENT" in _bad_vars(info.value)


@pytest.mark.parametrize("env", [e.value for e in LoggingEnvironment if e is not LoggingEnvironment.PRODUCTION])
def test_each_non_production_environment_loads(env: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv("LOGGING_ENVIRONMENT", env)
    assert load_config().logging.environment.value == env


def test_log_level_is_normalised_and_checked(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_config().logging.level == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"LOG_LEVEL"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MYTHOSMUD_ADMIN_PASSWORD", "short"),
        ("MYTHOSMUD_ADMIN_PASSWORD", "changeme"),
        ("MYTHOSMUD_ADMIN_PASSWORD", "aaaaaaaaaaaaaaaa"),
        ("MYTHOSMUD_JWT_SECRET", "too-short-secret"),
        ("MYTHOSMUD_JWT_SECRET", "ab" * 20),
    ],
)
def test_weak_secrets_are_refused(variable: str, value: str, valid_env, monkeypatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {variable}


def test_production_is_stricter(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("LOGGING_ENVIRONMENT", "production")
    with pytest.raises(ValidationError) as info:
        load_config()
    # The unit-test secrets are long enough locally but not for production; colored logs neither.
    assert _bad_vars(info.value) == {"MYTHOSMUD_ADMIN_PASSWORD", "MYTHOSMUD_JWT_SECRET", "LOG_FORMAT"}
    monkeypatch.setenv("MYTHOSMUD_ADMIN_PASSWORD", "Yog-Sothoth-Gate-42x")
    monkeypatch.setenv("MYTHOSMUD_JWT_SECRET", "Zq1-" * 13)
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"LOG_LEVEL"}
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    assert load_config().logging.environment is LoggingEnvironment.PRODUCTION


def test_production_rules_also_apply_to_direct_construction(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("LOGGING_ENVIRONMENT", "production")
    sections = {name: model() for name, model in AppConfig.SECTIONS.items()}
    with pytest.raises(ValidationError, match="LOG_FORMAT must be json"):
        AppConfig(**sections)


def test_nats_url_and_retry_delays(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4222,nats://127.0.0.1:4223")
    assert load_config().nats.url.count("nats://") == 2
    monkeypatch.setenv("NATS_URL", "http://127.0.0.1:4222")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"NATS_URL"}
    monkeypatch.delenv("NATS_URL")
    monkeypatch.setenv("NATS_PUBLISH_RETRY_BASE_DELAY", "5")
    monkeypatch.setenv("NATS_PUBLISH_RETRY_MAX_DELAY", "1")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert any(err["type"] == "retry_delays" for err in info.value.errors())


@pytest.mark.parametrize("url", ["nats://127.0.0.1:4222/extra", "nats://127.0.0.1:4222 junk",
                                 "nats://127.0.0.1:4222,nats://127.0.0.1:4223/x"])
def test_a_nats_url_must_match_whole(url: str, valid_env, monkeypatch) -> None:
    # A valid prefix is not a valid URL (a prefix match once let trailing text through).
    monkeypatch.setenv("NATS_URL", url)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"NATS_URL"}


def test_alias_expansion_may_not_exceed_rate_limit(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("MAX_ALIAS_EXPANSION", "20")
    with pytest.raises(ValidationError, match="must not exceed RATE_LIMIT_MAX_COMMANDS"):
        load_config()
    monkeypatch.setenv("RATE_LIMIT_MAX_COMMANDS", "20")
    assert load_config().security.max_alias_expansion == 20


def test_each_section_validates_alone(valid_env) -> None:
    assert ServerConfig().port == 8123
    assert DatabaseConfig().url.startswith("sqlite")
    assert NATSConfig().ping_interval == 2.0
    assert SecurityConfig().rate_limit_max_commands == 10
    assert LoggingConfig().environment is LoggingEnvironment.UNIT_TEST
    # attribute names work as keyword arguments too (tests, the harness)
    assert ServerConfig(port=2048).port == 2048


def test_overrides_win_over_environment(valid_env) -> None:
    config = load_config(server={"port": 9999}, nats={"enabled": False})
    assert config.server.port == 9999
    assert config.nats.enabled is False


def test_get_config_is_cached_until_reset(valid_env, monkeypatch) -> None:
    first = get_config()
    monkeypatch.setenv("SERVER_PORT", "9001")
    assert get_config() is first
    reset_config()
    assert get_config().server.port == 9001


def test_config_is_immutable(valid_env) -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_error_report_names_variable_reason_and_value(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_PORT", "80")
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ValidationError) as info:
        load_config()
    text = format_config_errors(info.value)
    assert "2 problem(s)" in text
    assert "[server] SERVER_PORT: Input should be greater than or equal to 1024 (got '80')" in text
    assert "[database] DATABASE_URL: required, not set" in text


def test_instance_id_is_a_token(valid_env, monkeypatch) -> None:
    assert load_config().server.instance_id is None
    monkeypatch.setenv("MYTHOS_INSTANCE_ID", "arkham-1")
    assert load_config().server.instance_id == "arkham-1"
    monkeypatch.setenv("MYTHOS_INSTANCE_ID", "bad id/1")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert _bad_vars(info.value) == {"MYTHOS_INSTANCE_ID"}
