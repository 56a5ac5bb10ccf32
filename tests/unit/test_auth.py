"""Invite codes, tokens and accounts."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from mythos.auth import ADMIN_USERNAME, AuthError, AuthService, InviteStore, RegistrationError, TokenService
from mythos.db import Database
from tests.factories import PASSWORD, make_config

SECRET = "s" * 40


def test_invite_store_creates_and_consumes_once(tmp_path: Path) -> None:
    store = InviteStore(tmp_path / "sub" / "invites.json")
    assert store.list_codes() == []
    codes = store.create(3)
    assert len(set(codes)) == 3 and store.list_codes() == codes
    assert store.consume(codes[1]) is True
    assert store.consume(codes[1]) is False
    assert store.consume("") is False
    assert json.loads(store.path.read_text()) == [codes[0], codes[2]]
    with pytest.raises(ValueError):
        store.create(0)


def test_invite_store_rejects_a_non_list_file(tmp_path: Path) -> None:
    path = tmp_path / "invites.json"
    path.write_text('{"codes": []}')
    with pytest.raises(ValueError):
        InviteStore(path).consume("x")


def test_concurrent_consumers_get_each_code_once(tmp_path: Path) -> None:
    path = tmp_path / "invites.json"
    code = InviteStore(path).create(1)[0]
    wins: list[bool] = []
    threads = [
        threading.Thread(target=lambda: wins.append(InviteStore(path).consume(code))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_tokens_round_trip_and_expire() -> None:
    tokens = TokenService(SECRET, timedelta(minutes=5))
    claims = tokens.decode(tokens.issue(7, "alice"))
    assert (claims.player_id, claims.username) == (7, "alice")
    old = tokens.issue(7, "alice", now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(AuthError):
        tokens.decode(old)
    with pytest.raises(AuthError):
        TokenService("x" * 40, timedelta(minutes=5)).decode(tokens.issue(7, "alice"))
    with pytest.raises(AuthError):
        tokens.decode("garbage")
    other_type = jwt.encode(
        {"sub": "7", "exp": datetime.now(UTC) + timedelta(minutes=1), "typ": "refresh"},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(AuthError):
        tokens.decode(other_type)


@pytest.fixture
async def auth(tmp_path: Path):
    config = make_config(tmp_path)
    db = Database(config.database.url, config.database.npc_url)
    await db.start()
    service = AuthService(
        db,
        InviteStore(tmp_path / "invites.json"),
        TokenService(SECRET, timedelta(minutes=5)),
        "arkham_square",
    )
    yield service
    await db.stop()


async def test_register_consumes_the_invite_and_login_issues_a_token(auth: AuthService) -> None:
    code = auth.invites.create(1)[0]
    player = await auth.register("Alice", PASSWORD, code)
    assert player.room_id == "arkham_square" and player.password_hash != PASSWORD
    assert auth.invites.list_codes() == []
    logged_in, token = await auth.login("alice", PASSWORD)
    assert logged_in.id == player.id
    assert (await auth.authenticate(token)).id == player.id


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [
        ("ab", PASSWORD, 422),
        ("1abc", PASSWORD, 422),
        ("bad name", PASSWORD, 422),
        ("Valid", "short", 422),
        # `$` matches before a final newline: only a full match keeps these out.
        ("Valid\n", PASSWORD, 422),
        ("admin\n", PASSWORD, 422),
    ],
)
async def test_register_validates_input_without_using_the_invite(
    auth: AuthService, username: str, password: str, status: int
) -> None:
    code = auth.invites.create(1)[0]
    with pytest.raises(RegistrationError) as err:
        await auth.register(username, password, code)
    assert err.value.status_code == status
    assert auth.invites.list_codes() == [code]


async def test_register_refuses_bad_invites_and_taken_names(auth: AuthService) -> None:
    with pytest.raises(RegistrationError) as err:
        await auth.register("Alice", PASSWORD, "nope")
    assert err.value.status_code == 400
    code, code2 = auth.invites.create(2)
    await auth.register("Alice", PASSWORD, code)
    with pytest.raises(RegistrationError) as err:
        await auth.register("ALICE", PASSWORD, code2)
    assert err.value.status_code == 409
    assert auth.invites.list_codes() == [code2]


async def test_login_failures_look_the_same(auth: AuthService) -> None:
    await auth.register("Alice", PASSWORD, auth.invites.create(1)[0])
    with pytest.raises(AuthError) as wrong_password:
        await auth.login("Alice", "wrong-password")
    with pytest.raises(AuthError) as unknown_user:
        await auth.login("Nobody", PASSWORD)
    assert str(wrong_password.value) == str(unknown_user.value)


async def test_authenticate_refuses_missing_and_orphaned_tokens(auth: AuthService) -> None:
    with pytest.raises(AuthError):
        await auth.authenticate(None)
    with pytest.raises(AuthError):
        await auth.authenticate(auth.tokens.issue(999, "ghost"))


async def test_admin_is_created_then_kept_in_line_with_config(auth: AuthService) -> None:
    admin = await auth.ensure_admin("first-admin-password")
    assert admin.username == ADMIN_USERNAME and admin.is_admin
    await auth.db.update_player(admin.id, is_admin=False)
    again = await auth.ensure_admin("second-admin-password")
    assert again.id == admin.id and again.is_admin
    await auth.login(ADMIN_USERNAME, "second-admin-password")
    with pytest.raises(AuthError):
        await auth.login(ADMIN_USERNAME, "first-admin-password")



async def test_password_hashes_use_one_lane_at_owasp_minimum_cost(auth: AuthService) -> None:
    """argon2-cffi's default runs four lanes (threads) per hash: one login would take every core of a
    two-core server. The stored hash names its parameters, so this reads what a login costs."""
    player = await auth.register("Armitage", PASSWORD, auth.invites.create(1)[0])
    assert player.password_hash.startswith("$argon2id$"), player.password_hash
    assert "$m=19456,t=2,p=1$" in player.password_hash, player.password_hash
