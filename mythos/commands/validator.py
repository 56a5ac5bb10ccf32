"""Content validation of command lines: dangerous patterns, control and invisible characters, length.

Commands never reach a shell, a template engine or SQL as text, so these checks are defence in
depth: they keep script, template and traversal payloads out of logs, chat and other players'
browsers. A refusal names the *kind* of problem and never echoes the offending text back.

Every line is a potential chat line that other players see, so characters that hide text or
change its direction are refused and named (``U+202E RIGHT-TO-LEFT OVERRIDE``): format
characters (category Cf: bidi controls and isolates, zero-width characters, the BOM, tag
characters), surrogates (Cs), private-use characters (Co), line and paragraph separators
(Zl, Zp) and the combining grapheme joiner.

Patterns are matched on the line and on its NFKC form, so a compatibility form (a fullwidth
``<``) hides nothing. Verbs are compared on a confusable skeleton (NFKC, lower case, and a small
table of Cyrillic and Greek look-alikes mapped to Latin), so ``t\u0435leport`` with a Cyrillic
``\u0435`` is the admin verb ``teleport`` for the permission check and the audit log.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import ClassVar, NamedTuple

__all__ = [
    "MAX_EXPANDED_LENGTH",
    "MAX_RAW_LENGTH",
    "CommandValidator",
    "DangerousPattern",
    "hidden_character",
    "skeleton",
]

MAX_RAW_LENGTH = 1_000
"""Longest line a player may type."""
MAX_EXPANDED_LENGTH = 10_000
"""Longest single command an alias may expand to (the expansion as a whole is bounded elsewhere)."""


class DangerousPattern(NamedTuple):
    """One refused construct: ``reason`` is what the player is told, ``regex`` what is matched."""

    reason: str
    regex: str


_SHELL_COMMANDS = (
    "rm|rmdir|mv|cp|dd|mkfs(?:\\.[a-z0-9]+)?|chmod|chown|cat|ls|id|whoami|uname|env|printenv|kill|killall"
    "|pkill|shutdown|reboot|halt|poweroff|sudo|su|sh|bash|zsh|nc|ncat|curl|wget|python[0-9.]*|perl|ruby|php"
    "|node|echo|tee|find|xargs|crontab|ssh|scp|tar|base64|eval|exec|source"
)

# No leading \b anywhere: a pattern must be found wherever it is embedded, even glued to a word.
_PATTERNS: tuple[DangerousPattern, ...] = (
    DangerousPattern(
        "HTML script or markup injection",
        r"<\s*/?\s*(?:script|iframe|object|embed|svg|img|style"
        r"|link|meta|form|base|body|html|input|textarea|frame|frameset|applet)",
    ),
    DangerousPattern("script URL", r"(?:javascript|vbscript|livescript)\s*:"),
    # Only types a browser would run or render as markup, and base64 payloads (opaque to review):
    # "data: text/plain, hi" is a sentence.
    DangerousPattern(
        "data URL",
        r"data\s*:\s*(?:(?:text/(?:html|javascript|xml|xsl)|application/(?:x-)?(?:javascript|ecmascript)"
        r"|application/(?:xhtml\+)?xml|image/svg\+xml)\s*[;,]|[a-z]+/[a-z0-9.+-]+\s*;\s*base64\s*,)",
    ),
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
    # A chain is an operator followed by a shell command that looks invoked (end of line, an
    # option, a path, another operator): "; rm -rf /" is refused, "emote waves; cat purrs" and
    # "|shiny" are not. `;` alone is the alias separator and stays allowed.
    DangerousPattern(
        "shell command chaining",
        r"&&|\|\||\|\s*(?:sh|bash|zsh|dash|ksh|nc|ncat|netcat|curl|wget|python[0-9.]*|perl|ruby|php|node)\b"
        rf"|[;&|]\s*(?:{_SHELL_COMMANDS})\b(?=\s*(?:$|[-/~.$<>|&;*]))",
    ),
    DangerousPattern("shell redirection to a device or system file", r"[<>]\s*&?\s*/(?:dev|proc|sys|etc|boot)/"),
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


# Categories that hide text or change its direction when another player's client renders it.
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cs", "Co", "Zl", "Zp"})
_GRAPHEME_JOINER = "\u034f"
_UNNAMED = {"Cs": "lone surrogate", "Co": "private-use character"}

# Look-alikes of Latin letters (after NFKC and lower-casing) that an attacker may put in a verb.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a",
        "\u0432": "b",
        "\u0435": "e",
        "\u0451": "e",
        "\u0454": "e",
        "\u043d": "h",
        "\u0456": "i",
        "\u0457": "i",
        "\u0458": "j",
        "\u043a": "k",
        "\u04cf": "l",
        "\u043c": "m",
        "\u043e": "o",
        "\u0440": "p",
        "\u051b": "q",
        "\u0455": "s",
        "\u0442": "t",
        "\u0441": "c",
        "\u0443": "y",
        "\u0445": "x",
        "\u051d": "w",
        "\u0501": "d",
        "\u0433": "r",
        "\u043f": "n",
        # Greek
        "\u03b1": "a",
        "\u03b2": "b",
        "\u03b5": "e",
        "\u03b7": "n",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03bd": "v",
        "\u03bf": "o",
        "\u03c1": "p",
        "\u03c4": "t",
        "\u03c5": "u",
        "\u03c7": "x",
        "\u03c9": "w",
        "\u03b3": "y",
        "\u03bc": "u",
        "\u03c2": "c",
        "\u03c3": "o",
        # Latin variants NFKC keeps apart
        "\u0131": "i",
        "\u0261": "g",
        "\u0251": "a",
        "\u028f": "y",
    }
)


def _strip_format_chars(text: str) -> str:
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def hidden_character(text: str) -> str | None:
    """``"U+202E RIGHT-TO-LEFT OVERRIDE"`` for the first invisible or direction-changing
    character in ``text``, or None. Names the character without echoing it."""
    if text.isascii():
        return None
    for ch in text:
        category = unicodedata.category(ch)
        if category in _HIDDEN_CATEGORIES or ch == _GRAPHEME_JOINER:
            label = unicodedata.name(ch, "") or _UNNAMED.get(category, f"character of category {category}")
            return f"U+{ord(ch):04X} {label}"
    return None


def skeleton(word: str) -> str:
    """A word as its look-alike Latin letters: NFKC, lower case, Cyrillic and Greek look-alikes
    mapped to Latin, format characters removed. ``t\u0435leport`` -> ``teleport``."""
    if word.isascii():
        return word.lower()
    folded = _strip_format_chars(unicodedata.normalize("NFKC", word)).lower()
    return folded.translate(_CONFUSABLES)


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
            # the spec's sensitive verbs the game does not implement: refused to players anyway
            "spawn",
            "delete",
        }
    )

    @classmethod
    def validate_command_content(cls, cmd: str, *, max_length: int = MAX_RAW_LENGTH) -> tuple[bool, str | None]:
        """``(True, None)`` for an acceptable command, else ``(False, reason)`` naming the problem.

        A pure function of its arguments: short lines (most commands, sent again and again) are
        answered from a bounded memo; long ones are checked every time, so the memo stays small."""
        if len(cmd) <= MEMO_MAX_CHARS:
            return _memo_content(cmd, max_length)
        return cls._check_content(cmd, max_length)

    @classmethod
    def _check_content(cls, cmd: str, max_length: int) -> tuple[bool, str | None]:
        if not cmd or not cmd.strip():
            return False, "empty command"
        if len(cmd) > max_length:
            return False, f"command longer than {max_length} characters"
        if "\x00" in cmd:
            return False, "null byte"
        if _CONTROL.search(cmd):
            return False, "control character"
        hidden = hidden_character(cmd)
        if hidden is not None:
            return False, f"invisible or direction-changing character {hidden}"
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
        """The first word's confusable skeleton, without a leading slash (``/T\u0435leport`` is
        ``teleport``): what permission checks and the audit log compare."""
        if len(cmd) <= MEMO_MAX_CHARS:
            return _memo_verb(cmd)
        return _verb(cmd)

    @classmethod
    def is_security_sensitive(cls, cmd: str) -> bool:
        """True when the command's verb is a system or admin command (always audited)."""
        return cls.command_verb(cmd) in cls.SYSTEM_COMMANDS


MEMO_MAX_CHARS = 64
"""Lines up to this long are memoised (validate_command_content, command_verb): a few hundred
KiB at most, and the memo only saves work that a repeated line would redo."""


def _verb(cmd: str) -> str:
    stripped = cmd.strip()
    verb = stripped.split(maxsplit=1)[0] if stripped else ""
    return skeleton(verb).lstrip("/")


@functools.lru_cache(maxsize=4096)
def _memo_verb(cmd: str) -> str:
    return _verb(cmd)


@functools.lru_cache(maxsize=4096)
def _memo_content(cmd: str, max_length: int) -> tuple[bool, str | None]:
    return CommandValidator._check_content(cmd, max_length)
