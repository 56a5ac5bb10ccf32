"""Configuration: `get_config()` is the process default, `load_config()` builds a fresh one.

Which env file is read: `MYTHOS_ENV_FILE` when set (an empty value means no file), else
`.env.local` in the working directory when it exists. Real environment variables always beat
the file, and the file beats the defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from mythos.config.models import (
    AppConfig,
    DatabaseConfig,
    LogFormat,
    LoggingConfig,
    LoggingEnvironment,
    NATSConfig,
    SecurityConfig,
    ServerConfig,
)

__all__ = [
    "DEFAULT_ENV_FILE",
    "ENV_FILE_VARIABLE",
    "AppConfig",
    "DatabaseConfig",
    "EnvFileNotFoundError",
    "LogFormat",
    "LoggingConfig",
    "LoggingEnvironment",
    "NATSConfig",
    "SecurityConfig",
    "ServerConfig",
    "get_config",
    "load_config",
    "reset_config",
    "resolve_env_file",
]

ENV_FILE_VARIABLE = "MYTHOS_ENV_FILE"
DEFAULT_ENV_FILE = Path(".env.local")


class EnvFileNotFoundError(FileNotFoundError):
    """MYTHOS_ENV_FILE (or --env-file) names a file that does not exist."""


def resolve_env_file(env_file: Path | str | None = None) -> Path | None:
    """The env file to read, by the documented precedence; None for none."""
    if env_file is not None:
        chosen: str | None = str(env_file)
    else:
        chosen = os.environ.get(ENV_FILE_VARIABLE)
        if chosen is None:
            return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
    if not chosen:
        return None
    path = Path(chosen)
    if not path.is_file():
        raise EnvFileNotFoundError(f"env file {chosen!r} does not exist")
    return path


def load_config(env_file: Path | str | None = None, **overrides: dict[str, Any]) -> AppConfig:
    """A freshly validated config; raises pydantic.ValidationError naming every bad field."""
    return AppConfig.load(resolve_env_file(env_file), **overrides)


@lru_cache(maxsize=1)
def get_config() -> AppConfig:
    """The process-wide config, validated once. Prefer passing a config in explicitly."""
    return load_config()


def reset_config() -> None:
    """Forget the cached config (tests, or a reload after the environment changed)."""
    get_config.cache_clear()
