"""POST /auth/register and POST /auth/login."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from mythos.auth import AuthError, RegistrationError, ServicesDep

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


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, services: ServicesDep) -> RegisterResponse:
    try:
        player = await services.auth.register(body.username, body.password, body.invite_code)
    except RegistrationError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    return RegisterResponse(player_id=player.id, username=player.username)


@router.post("/login")
async def login(body: LoginRequest, services: ServicesDep, request: Request) -> LoginResponse:
    try:
        player, token = await services.auth.login(body.username, body.password)
    except AuthError as exc:
        if services.audit is not None:
            ip = request.client.host if request.client else None
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
