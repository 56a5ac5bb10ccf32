"""Accounts for the one-world workloads: register once on one server, log in on any.

Every game server of the topology reads one database and signs tokens with one key, so an
account registered through one server logs in through another, and a token from one is valid on
all. Failures raise: an account is set-up, not a measured operation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx

__all__ = ["Account", "login", "register"]

USER_AGENT = "mythos-harness"
HTTP_TIMEOUT_S = 10.0
"""Registration and login hash a password (argon2, one slot per server): slow on a busy machine."""


@dataclass
class Account:
    name: str
    password: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)
    token: str = field(default="", repr=False)


async def register(base_url: str, name: str, invite_code: str) -> Account:
    """Register ``name`` through ``base_url`` with one of that server's invite codes and log in there."""
    account = Account(name)
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_S,
                                 headers={"User-Agent": USER_AGENT}) as http:
        response = await http.post("/auth/register", json={
            "username": name, "password": account.password, "invite_code": invite_code})
        if response.status_code != 201:
            raise RuntimeError(f"register {name} on {base_url}: HTTP {response.status_code} {response.text[:200]}")
    account.token = await login(base_url, account)
    return account


async def login(base_url: str, account: Account) -> str:
    """POST /auth/login on ``base_url``; the new token (the account keeps its old one)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_S,
                                 headers={"User-Agent": USER_AGENT}) as http:
        response = await http.post("/auth/login", json={"username": account.name, "password": account.password})
        if response.status_code != 200:
            raise RuntimeError(f"login {account.name} on {base_url}: HTTP {response.status_code} "
                               f"{response.text[:200]}")
        return str(response.json()["access_token"])
