"""POST /auth/register and POST /auth/login.

Refusals that are not about the credentials carry `Retry-After` (whole seconds) and a JSON body
`{type: "error", error_type, message, retry_after}`: 429 `login_throttled` (with `scope`) when
the login throttle refuses a guess before checking it, 503 `login_busy` when every password-hash
slot is busy and the waiting places are taken (docs/protocol.md).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mythos.api.deps import ServicesDep
from mythos.auth import AuthError, HashQueueFull, LoginThrottled, RegistrationError
from mythos.realtime.events import error_message

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


class RegisterRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    invite_code: str = Field(max_length=128)


class RegisterResponse(BaseModel):
    player_id: int
    username: str


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    player_id: int
    username: str
    expires_in: int


def _client_address(request: Request) -> str | None:
    # The peer address as the server sees it; X-Forwarded-For is not trusted (anyone can set it).
    return request.client.host if request.client else None


def _busy(exc: HashQueueFull) -> JSONResponse:
    return JSONResponse(
        error_message("login_busy", str(exc), exc.retry_after),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(exc.retry_after)},
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=None)
async def register(body: RegisterRequest, services: ServicesDep, request: Request) -> RegisterResponse | JSONResponse:
    try:
        player = await services.auth.register(
            body.username, body.password, body.invite_code, address=_client_address(request)
        )
    except RegistrationError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    except HashQueueFull as exc:
        services.metrics.record_refusal("login_busy")
        return _busy(exc)
    return RegisterResponse(player_id=player.id, username=player.username)


@router.post("/login", response_model=None)
async def login(body: LoginRequest, services: ServicesDep, request: Request) -> LoginResponse | JSONResponse:
    ip = _client_address(request)
    try:
        player, token = await services.auth.login(body.username, body.password, address=ip)
    except LoginThrottled as exc:
        services.metrics.record_refusal("login_throttled")
        content = {**error_message("login_throttled", exc.message, exc.retry_after), "scope": exc.scope.value}
        return JSONResponse(
            content, status_code=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(exc.retry_after)}
        )
    except HashQueueFull as exc:
        services.metrics.record_refusal("login_busy")
        return _busy(exc)
    except AuthError as exc:
        if services.audit is not None:
            services.audit.log_login_failure(body.username, ip, reason=str(exc))
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    return LoginResponse(
        access_token=token,
        player_id=player.id,
        username=player.username,
        expires_in=int(services.auth.tokens.ttl.total_seconds()),
    )
