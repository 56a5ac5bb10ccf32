"""Human-readable rendering of configuration errors, shared by `config check` and `serve`."""

from __future__ import annotations

from pydantic import ValidationError

from mythos.config.models import SECRET_VARIABLES, URL_VARIABLES
from mythos.observability.redact import redact_text, redact_url

__all__ = ["format_config_errors"]


def format_config_errors(exc: ValidationError) -> str:
    """One line per bad field: the variable, why, and the value given (never for secrets, and
    with the userinfo of any URL masked, so a database or NATS password is never printed)."""
    lines = [f"Invalid configuration: {exc.error_count()} problem(s)"]
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        variable = loc[-1] if loc else "(config)"
        section = loc[0] if len(loc) > 1 else ""
        given = ""
        if err["type"] != "missing" and err.get("input") is not None and variable not in SECRET_VARIABLES:
            value = err["input"]
            if isinstance(value, str) and variable in URL_VARIABLES:
                value = redact_url(value)
            given = f" (got {value!r})"
        where = f"[{section}] " if section else ""
        reason = "required, not set" if err["type"] == "missing" else err["msg"]
        # Last line of defence: a section validated on its own keeps the raw input.
        lines.append(redact_text(f"  {where}{variable}: {reason}{given}"))
    return "\n".join(lines)
