"""A structlog line below LOG_LEVEL costs no processor work (the command path logs one per command)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from mythos.observability.logging import configure_logging, get_logger
from tests.factories import make_config


@pytest.fixture
def restore_logging() -> Iterator[None]:
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


def test_a_line_below_the_level_is_dropped_before_the_processors(tmp_path: Path, restore_logging: None) -> None:
    configure_logging(make_config(tmp_path, logging={"format": "json", "level": "INFO"}).logging, file_name="cost")
    stamped: list[str] = []
    processors = structlog.get_config()["processors"]
    stamper = next(p for p in processors if isinstance(p, structlog.processors.TimeStamper))

    def counting(logger: Any, method: str, event: Any) -> Any:
        stamped.append(method)
        return stamper(logger, method, event)

    structlog.configure(processors=[counting if p is stamper else p for p in processors])
    log = get_logger("cost-test")
    log.debug("command_processed", verb="look")
    assert stamped == []
    log.info("connection_opened")
    assert stamped == ["info"]
