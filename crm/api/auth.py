"""`Authorization: Bearer <api key>` on every ingestion and lookup route, then the rate limit."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm.api.errors import ApiError
from crm.api.rate_limit import retry_after_header
from crm.auth.api_keys import ApiKey, verify_key

# auto_error=False: a missing header becomes our JSON 401, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="an API key from `python -m crm apikey create NAME`")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}


async def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> ApiKey:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'", headers=CHALLENGE)
    # Guessing keys costs the guesser: an address that sent too many wrong keys waits, and is
    # answered before any database lookup. The guess is counted before the lookup and given back
    # when the key is right, so guesses sent in parallel cannot all pass the check together.
    guesses, client = request.app.state.key_guesses, request.client.host if request.client else "unknown"
    wait = guesses.take(client)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many wrong API keys from this address; retry in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    db = request.app.state.db()
    key = await run_in_threadpool(verify_key, db, credentials.credentials)
    if key is not None:
        guesses.give_back(client)
    else:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid or has been revoked",
            headers={"WWW-Authenticate": 'Bearer realm="crm", error="invalid_token"'},
        )
    return key


async def authorized(request: Request, key: ApiKey = Depends(require_api_key)) -> ApiKey:
    """A valid key that still has a token in its rate-limit bucket."""
    wait = request.app.state.rate_limiter.take(key.prefix)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this API key; retry in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return key
