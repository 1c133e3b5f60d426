"""Gemini through google-genai: key and model from settings, short timeouts, retries on 429/5xx,
and every SDK or transport error mapped to our own (`GeminiUnavailable`, `GeminiBadAnswer`).

    client = gemini_client()          # None when GEMINI_API_KEY is unset
    answer = client.generate_json(system, turns, schema)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from crm.config import Settings, load_settings
from crm.errors import CRMError, Unavailable

try:  # the SDK sends through httpx2 when it is installed, else httpx
    import httpx2
except ImportError:  # pragma: no cover - depends on the SDK's optional dependency
    httpx2 = None  # type: ignore[assignment]  # the module or nothing: checked below

if TYPE_CHECKING:
    from google.genai import errors as genai_errors

_TRANSPORT_ERRORS = tuple(m.HTTPError for m in (httpx, httpx2) if m is not None)
_TIMEOUTS = tuple(m.TimeoutException for m in (httpx, httpx2) if m is not None)


class GeminiUnavailable(Unavailable):
    """Gemini did not answer: no key, quota, server error, timeout or no connection."""


class GeminiBadAnswer(CRMError):
    """Gemini answered, but not with what was asked for (not JSON, blocked, or an invalid rule)."""


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: `role` is "user" or "model"."""

    role: str
    text: str


@dataclass(frozen=True)
class JsonAnswer:
    data: Any  # the parsed JSON value
    text: str  # the raw text, to send back in a repair round
    model: str  # the model that answered (as the API reports it, else the one asked)


class GeminiClient:
    def __init__(
        self,
        api_key: str,
        model: str,
        timeout_ms: int,
        attempts: int,
        base_url: str | None = None,
        retry_delay: float = 0.5,
    ):
        # The SDK is imported when a client is made: loading it costs every command ~0.2 s.
        from google import genai
        from google.genai import types

        self.model = model
        retry = types.HttpRetryOptions(
            attempts=max(1, attempts),
            initial_delay=retry_delay,
            max_delay=8 * retry_delay,
            http_status_codes=[408, 429, 500, 502, 503, 504],
        )
        # v1beta: the API version whose generateContent documents responseJsonSchema.
        options = types.HttpOptions(timeout=timeout_ms, retry_options=retry, base_url=base_url, api_version="v1beta")
        # vertexai=False: a stray GOOGLE_GENAI_USE_VERTEXAI in the environment must not reroute us.
        self._client = genai.Client(api_key=api_key, vertexai=False, http_options=options)

    def generate_json(self, system: str, turns: list[Turn], schema: dict, temperature: float = 0.0) -> JsonAnswer:
        """Ask for JSON matching `schema`; raise GeminiUnavailable or GeminiBadAnswer."""
        from google.genai import errors as genai_errors
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=temperature,
            response_mime_type="application/json",
            response_json_schema=schema,
        )
        contents = [types.Content(role=t.role, parts=[types.Part(text=t.text)]) for t in turns]
        try:
            response = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        except genai_errors.APIError as exc:
            raise GeminiUnavailable(_api_error_text(exc)) from None
        except _TIMEOUTS:
            raise GeminiUnavailable("Gemini did not answer in time") from None
        except _TRANSPORT_ERRORS as exc:
            raise GeminiUnavailable(f"cannot reach Gemini ({type(exc).__name__})") from None
        except ValueError as exc:  # a 200 whose body is not JSON (json.JSONDecodeError)
            raise GeminiBadAnswer(f"Gemini's reply was not readable ({exc})") from None
        text = response.text
        if text is None:
            raise GeminiBadAnswer("Gemini gave no answer (the request may have been blocked)")
        data = response.parsed
        if data is None:
            try:
                data = json.loads(text)
            except ValueError:
                raise GeminiBadAnswer(f"Gemini's answer is not JSON: {_short(text)}") from None
        return JsonAnswer(data=data, text=text, model=self.model)


def _api_error_text(exc: genai_errors.APIError) -> str:
    if exc.code == 429:
        return "Gemini's quota or rate limit is used up (429); try again later"
    if exc.code in (401, 403):
        return f"Gemini refused the API key ({exc.code} {exc.status or ''}); check GEMINI_API_KEY".strip()
    kind = "server error" if exc.code >= 500 else "request refused"
    return f"Gemini {kind} ({exc.code} {exc.status or ''}): {_short(exc.message or '')}"


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def gemini_client(settings: Settings | None = None) -> GeminiClient | None:
    """A client when GEMINI_API_KEY is set, else None (callers then use the offline engine)."""
    settings = settings or load_settings()
    if not settings.gemini_api_key:
        return None
    return GeminiClient(
        settings.gemini_api_key,
        settings.gemini_model,
        timeout_ms=settings.gemini_timeout_ms,
        attempts=settings.gemini_attempts,
        base_url=settings.gemini_base_url,
    )
