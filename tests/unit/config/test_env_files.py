"""Which env file is read, and that real environment variables beat it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mythos.config import load_config, resolve_env_file

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(REPO.glob(".env.*.example"))


def _write(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def test_four_example_files_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert names == {
        ".env.local.example",
        ".env.unit_test.example",
        ".env.e2e_test.example",
        ".env.production.example",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_hold_no_secrets_and_fail_until_filled(example: Path, tmp_path: Path) -> None:
    """Templates name every required variable but leave the secrets empty, so they cannot be used as is."""
    text = example.read_text(encoding="utf-8")
    for variable in ("MYTHOSMUD_ADMIN_PASSWORD", "MYTHOSMUD_JWT_SECRET"):
        assert f"{variable}=\n" in text, f"{example.name}: {variable} must be present and empty"
    with pytest.raises(ValidationError) as info:
        load_config(example)
    assert {str(e["loc"][-1]) for e in info.value.errors()} == {"MYTHOSMUD_ADMIN_PASSWORD", "MYTHOSMUD_JWT_SECRET"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_load_once_secrets_are_filled(example: Path, tmp_path: Path) -> None:
    filled = (
        example.read_text(encoding="utf-8")
        .replace("MYTHOSMUD_ADMIN_PASSWORD=\n", "MYTHOSMUD_ADMIN_PASSWORD=Nyarlathotep-Crawls-99\n")
        .replace("MYTHOSMUD_JWT_SECRET=\n", "MYTHOSMUD_JWT_SECRET=" + "Xy7-" * 14 + "\n")
    )
    env_file = tmp_path / example.name
    env_file.write_text(filled, encoding="utf-8")
    config = load_config(env_file)
    assert config.logging.environment.value == example.name.split(".")[2]


def test_env_vars_beat_the_file(tmp_path: Path, monkeypatch, valid_env) -> None:
    env_file = _write(tmp_path / "custom.env", {**valid_env, "SERVER_PORT": "7000", "LOG_LEVEL": "WARNING"})
    monkeypatch.setenv("SERVER_PORT", "7001")
    config = load_config(env_file)
    assert config.server.port == 7001  # env var wins
    assert config.logging.level == "WARNING"  # file beats default


def test_precedence_of_files(tmp_path: Path, monkeypatch, valid_env) -> None:
    monkeypatch.delenv("MYTHOS_ENV_FILE")
    monkeypatch.delenv("SERVER_PORT")  # so the files decide the port
    assert resolve_env_file() is None  # no .env.local in cwd
    _write(tmp_path / ".env.local", {**valid_env, "SERVER_PORT": "7100"})
    assert resolve_env_file() == Path(".env.local")
    assert load_config().server.port == 7100
    other = _write(tmp_path / "other.env", {**valid_env, "SERVER_PORT": "7200"})
    monkeypatch.setenv("MYTHOS_ENV_FILE", str(other))
    assert load_config().server.port == 7200
    assert load_config(tmp_path / ".env.local").server.port == 7100  # explicit argument wins
    monkeypatch.setenv("MYTHOS_ENV_FILE", "")
    assert resolve_env_file() is None


def test_missing_env_file_is_an_error(monkeypatch) -> None:
    monkeypatch.setenv("MYTHOS_ENV_FILE", "nope.env")
    with pytest.raises(FileNotFoundError, match=r"nope\.env"):
        load_config()
