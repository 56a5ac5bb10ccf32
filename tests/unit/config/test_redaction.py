"""Credentials in URLs never reach a config error, the CLI's output or a log line (issue 12, item 10)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from pydantic import ValidationError

from mythos.cli import main
from mythos.config import load_config
from mythos.config.report import format_config_errors
from mythos.observability.logging import configure_logging, get_logger
from tests.factories import make_config

SECRETS = ("TopSecret", "hunter2pass")
BAD_DB = "mysql://u:TopSecret@h/x"
BAD_NATS = "nats://user:hunter2pass@bad host:4222"


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_config_errors_redact_the_userinfo_of_urls(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", BAD_DB)
    monkeypatch.setenv("NPC_DATABASE_URL", "u:TopSecret@h/x")  # no scheme: still a URL's userinfo
    monkeypatch.setenv("NATS_URL", BAD_NATS)
    with pytest.raises(ValidationError) as info:
        load_config()
    report = format_config_errors(info.value)
    _assert_clean(report)
    _assert_clean(str(info.value))
    # The rest of the value stays, so the operator can still see which URL is wrong.
    assert "mysql://***@h/x" in report
    assert "nats://***@bad host:4222" in report
    assert {"DATABASE_URL", "NPC_DATABASE_URL", "NATS_URL"} <= {str(e["loc"][-1]) for e in info.value.errors()}


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]])
def test_cli_prints_config_errors_without_credentials(command: list[str], valid_env, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", BAD_DB)
    monkeypatch.setenv("NATS_URL", BAD_NATS)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output and "NATS_URL" in result.output
    _assert_clean(result.output)


def test_config_check_reports_a_valid_nats_url_without_credentials(valid_env, monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://user:hunter2pass@127.0.0.1:4222")
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "Configuration OK" in result.output and "nats://***@127.0.0.1:4222" in result.output
    _assert_clean(result.output)


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def test_logs_redact_urls_in_every_string_value(tmp_path: Path, restore_logging, capsys) -> None:
    config = make_config(tmp_path, logging={"format": "json", "level": "INFO"})
    configure_logging(config.logging, file_name="redact")
    log = get_logger("redact-test")
    log.info("nats_connect_failed", url="nats://user:hunter2pass@10.0.0.1:4222", note=f"db {BAD_DB} down")
    try:
        raise ConnectionError(f"cannot reach {BAD_DB}")
    except ConnectionError:
        log.exception("db_failed")
    logging.getLogger("stdlib-test").warning("plain stdlib line with %s", BAD_DB)
    for handler in logging.getLogger().handlers:
        handler.flush()
    console = capsys.readouterr().err
    files = list((tmp_path / "logs" / "unit_test").glob("redact-*.log"))
    assert len(files) == 1
    written = files[0].read_text(encoding="utf-8")
    lines = [json.loads(line) for line in written.splitlines()]
    assert lines[0]["url"] == "nats://***@10.0.0.1:4222"
    assert lines[0]["note"] == "db mysql://***@h/x down"
    assert "mysql://***@h/x" in lines[1]["exception"]
    assert lines[2]["event"] == "plain stdlib line with mysql://***@h/x"
    for text in (written, console):
        _assert_clean(text)
