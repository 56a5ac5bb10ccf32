"""Builds the command-security objects of one server from its config (the composition root's part).

The real ``CommandSecurityService`` is the default; a caller may pass another ``CommandSecurity``
(a test that exercises the game alone brings its own). Either way players' aliases are stored in
the database and the audit log is written under ``LOG_BASE_DIR/audit``, bounded by the
``AUDIT_*`` settings (docs/audit-log.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mythos.commands.alias_persistence import DatabaseAliasPersistence
from mythos.commands.aliases import AliasCommands, AliasStorage
from mythos.commands.audit import AuditLogger, AuditSettings
from mythos.commands.security import CommandSecurity
from mythos.commands.security_service import CommandSecurityService, SecuritySettings
from mythos.db import Database

__all__ = ["AUDIT_DIR_NAME", "CommandSecurityKit", "KitSettings", "audit_dir", "build_command_security"]

AUDIT_DIR_NAME = "audit"


class KitSettings(SecuritySettings, AuditSettings, Protocol):
    """``config.security``: the service's limits and the audit log's bounds."""


def audit_dir(log_base: Path) -> Path:
    """Where the daily audit files (``audit-YYYY-MM-DD.jsonl``) are written."""
    return Path(log_base) / AUDIT_DIR_NAME


@dataclass(frozen=True)
class CommandSecurityKit:
    security: CommandSecurity
    aliases: AliasStorage
    alias_commands: AliasCommands
    audit: AuditLogger

    def player_offline(self, player_id: int, name: str) -> None:
        """The player's last connection closed: drop what memory holds for them (aliases reload lazily)."""
        if isinstance(self.security, CommandSecurityService):
            self.security.player_offline(name)
        else:
            self.aliases.unload(name)


def build_command_security(
    settings: KitSettings,
    log_base: Path,
    db: Database,
    security: CommandSecurity | None = None,
) -> CommandSecurityKit:
    aliases = AliasStorage(DatabaseAliasPersistence(db))
    audit = AuditLogger.from_settings(audit_dir(log_base), settings)
    service = CommandSecurityService.from_settings(settings, aliases=aliases, audit=audit)
    chosen: CommandSecurity = security if security is not None else service
    return CommandSecurityKit(chosen, aliases, AliasCommands(aliases, service.limits), audit)
