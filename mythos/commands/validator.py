"""Content validation of command lines: dangerous patterns, control characters, length limits.

Commands never reach a shell, a template engine or SQL as text, so these checks are defence in
depth: they keep script, template and traversal payloads out of logs, chat and other players'
browsers. A refusal names the *kind* of problem and never echoes the offending text back.

Matching runs on two views of the line, so neither a compatibility form (a fullwidth ``<``)
nor an invisible format character (``<scr\u200bipt>``) hides a pattern: the line itself and its
NFKC form, both with Unicode format characters (category Cf) removed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar, NamedTuple

__all__ = [
    "MAX_EXPANDED_LENGTH",
    "MAX_RAW_LENGTH",
    "CommandValidator",
    "DangerousPattern",
]

MAX_RAW_LENGTH = 1_000
"""Longest line a player may type."""
MAX_EXPANDED_LENGTH = 10_000
"""Longest single command an alias may expand to (the expansion as a whole is bounded elsewhere)."""


class DangerousPattern(NamedTuple):
    """One refused construct: ``reason`` is what the player is told, ``regex`` what is matched."""

    reason: str
    regex: str


# No leading \b anywhere: a pattern must be found wherever it is embedded, even glued to a word.
_PATTERNS: tuple[DangerousPattern, ...] = (
    DangerousPattern(
        "HTML script or markup injection",
        r"<\s*/?\s*(?:script|iframe|object|embed|svg|img|style"
        r"|link|meta|form|base|body|html|input|textarea|frame|frameset|applet)",
    ),
    DangerousPattern("script URL", r"(?:javascript|vbscript|livescript)\s*:"),
    DangerousPattern("data URL", r"data\s*:\s*[a-z]+/[a-z0-9.+-]+\s*[;,]"),
    DangerousPattern(
        "HTML event handler",
        r"on(?:load|error|click|dblclick|mouse[a-z]*|focus|blur|key[a-z]*"
        r"|submit|change|input|abort|pointer[a-z]*|animation[a-z]*|toggle)\s*=",
    ),
    DangerousPattern("template injection", r"\$\{|\{\{|\{%|<%"),
    DangerousPattern("Python special name", r"__[a-z0-9_]*__"),
    DangerousPattern(
        "code execution call",
        r"(?:eval|exec|execfile|compile|popen|system|spawn|getattr"
        r"|setattr|globals|locals|subprocess\.[a-z_]+|os\.[a-z_]+)\(",
    ),
    DangerousPattern("shell command substitution", r"\$\(|`"),
    DangerousPattern("shell command chaining", r"&&|\|\||\|\s*(?:sh|bash|zsh|nc|curl|wget|python|perl)"),
    DangerousPattern(
        "SQL injection",
        r"union\s+(?:all\s+)?select|(?:drop|truncate|alter)\s+(?:table|database)"
        r"|['\"]\s*(?:or|and)\s+['\"]?\w+['\"]?\s*=\s*['\"]?\w+",
    ),
    DangerousPattern("path traversal", r"\.\.[/\\]|[/\\]\.\."),
    DangerousPattern("URL-encoded control or traversal", r"%(?:00|0a|0d|1b|2e|2f|5c|3c|3e|22|27|60)"),
    DangerousPattern("terminal escape sequence", r"\\(?:x1b|u001b|033|e\[)"),
)

_COMBINED = re.compile("|".join(f"(?P<p{i}>{p.regex})" for i, p in enumerate(_PATTERNS)), re.IGNORECASE | re.DOTALL)
# C0 (except tab), DEL and C1 controls: line breaks would let one line forge another in logs.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _strip_format_chars(text: str) -> str:
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


class CommandValidator:
    """Stateless checks; classmethods so every command path can call them without an instance."""

    DANGEROUS_PATTERNS: ClassVar[tuple[DangerousPattern, ...]] = _PATTERNS
    SYSTEM_COMMANDS: ClassVar[frozenset[str]] = frozenset(
        {
            # the game's admin commands (mythos.commands.admin) ...
            "teleport",
            "goto",
            "grant",
            "revoke",
            "mute",
            "unmute",
            # ... and operator verbs, refused or audited wherever they appear
            "admin",
            "ban",
            "unban",
            "kick",
            "broadcast",
            "shutdown",
            "restart",
            "reload",
            "dlq",
            "replay",
            "purge",
            "sudo",
            "summon",
            "invite",
            "config",
        }
    )

    @classmethod
    def validate_command_content(cls, cmd: str, *, max_length: int = MAX_RAW_LENGTH) -> tuple[bool, str | None]:
        """``(True, None)`` for an acceptable command, else ``(False, reason)`` naming the problem."""
        if not cmd or not cmd.strip():
            return False, "empty command"
        if len(cmd) > max_length:
            return False, f"command longer than {max_length} characters"
        if "\x00" in cmd:
            return False, "null byte"
        if _CONTROL.search(cmd):
            return False, "control character"
        reason = cls.dangerous_reason(cmd)
        if reason is not None:
            return False, reason
        return True, None

    @classmethod
    def dangerous_reason(cls, cmd: str) -> str | None:
        """The reason of the first dangerous pattern found in either view of ``cmd``, or None."""
        plain = _strip_format_chars(cmd)
        match = _COMBINED.search(plain)
        if match is None and not plain.isascii():
            match = _COMBINED.search(_strip_format_chars(unicodedata.normalize("NFKC", cmd)))
        if match is None:
            return None
        index = int((match.lastgroup or "p0")[1:])
        return _PATTERNS[index].reason

    @classmethod
    def command_verb(cls, cmd: str) -> str:
        """The lower-cased first word, without a leading slash (``/teleport`` is ``teleport``)."""
        stripped = cmd.strip()
        verb = stripped.split(maxsplit=1)[0] if stripped else ""
        return unicodedata.normalize("NFKC", verb).lower().lstrip("/")

    @classmethod
    def is_security_sensitive(cls, cmd: str) -> bool:
        """True when the command's verb is a system or admin command (always audited)."""
        return cls.command_verb(cmd) in cls.SYSTEM_COMMANDS
