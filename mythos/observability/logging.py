"""structlog set-up: colored console locally, JSON in production, and a JSON file per day.

Every line, structlog's and the standard library's, passes `redact_processor` last, so a
credential inside a URL (a NATS or database URL in a message, a field or a traceback) is masked.

Configured once at start-up from `LoggingConfig`; modules only call `get_logger(__name__)`.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from mythos.observability.redact import redact_processor

if TYPE_CHECKING:
    from mythos.config.models import LoggingConfig

__all__ = ["configure_logging", "get_logger"]

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(config: LoggingConfig, *, file_name: str = "mythos") -> None:
    """Route structlog and stdlib logging to the console and to LOG_BASE_DIR/<env>/<name>-<day>.log."""
    level = getattr(logging, config.level)
    json_console = config.format.value == "json"
    console_renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_console
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                console_renderer,
            ],
        )
    )
    handlers: list[logging.Handler] = [console]
    log_dir = config.log_base / config.environment.value
    log_dir.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    file_handler = logging.FileHandler(log_dir / f"{file_name}-{day}.log", encoding="utf-8")
    file_handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    handlers.append(file_handler)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log duplicates our request logging; keep its errors.
    logging.getLogger("uvicorn.access").setLevel(max(level, logging.WARNING))

    structlog.configure(
        # filter_by_level first: a debug line on the command path (below LOG_LEVEL) is dropped
        # before the timestamp and the other processors run for nothing.
        processors=[structlog.stdlib.filter_by_level, *_SHARED_PROCESSORS,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; before `configure_logging` it logs through structlog's defaults."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name, **initial)
    return logger
