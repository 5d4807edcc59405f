"""DirectCall: one profile's OpenAI-compatible endpoint called over HTTP without litellm's per-call machinery.

litellm runs its logging, traceback formatting, secret redaction and cost bookkeeping on every attempt, with
no setting to turn them off (docs/performance.md): about 15 ms per failed attempt. A profile with
``transport = "direct"`` (or any ``openai/`` profile when ``UNDERSTUDY_TRANSPORT=direct`` is set) posts the
request itself and builds litellm's own objects from the answer, so the rest of understudy cannot tell the
paths apart: the response is a ``litellm.ModelResponse``, a stream yields ``litellm.ModelResponseStream``
chunks, a failure is litellm's error class for what the provider sent (``understudy.failures.statuses``),
the cost is litellm's price, and stats, events, retries and fallbacks are the walk's, as on litellm's path.

A call passing something only litellm understands (``mock_response``, ``custom_llm_provider`` ...) goes
through litellm. litellm's callbacks do not run on the direct path.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Final

from understudy.calls import backend
from understudy.calls.direct_http import Post, apost, as_httpx, post
from understudy.calls.direct_stream import AsyncDirectStream, DirectStream
from understudy.calls.litellm_call import LitellmCall
from understudy.calls.streams import open_async_stream, open_stream
from understudy.failures.kinds import build_error

if TYPE_CHECKING:
    import httpx2

__all__ = ["HARMLESS", "PREFIX", "DirectCall"]

PREFIX: Final = "openai/"
# Of litellm's own arguments (``litellm.all_litellm_params``), those it only logs or that understudy sets: the
# direct path leaves them out of the body. A call passing any other (``mock_response``, ``custom_llm_provider``,
# ``caching`` ...) goes through litellm, which knows what to do with it.
HARMLESS: Final = frozenset(
    {"api_key", "api_base", "num_retries", "max_retries", "metadata", "litellm_metadata", "allowed_openai_params"}
    | {"litellm_trace_id", "litellm_session_id", "litellm_call_id", "tags", "no-log", "turn_off_message_logging"}
    | {"litellm_disabled_callbacks", "proxy_server_request"}
)
# Arguments that shape the request but are not sent in its body.
_NOT_IN_BODY: Final = HARMLESS | {"model", "base_url", "timeout", "extra_headers", "extra_body"}
_DEFAULT_BASE: Final = "https://api.openai.com/v1"
_UNPRICED_CAP: Final = 1024


class DirectCall(LitellmCall):
    """Calls ``profile``'s OpenAI-compatible endpoint with one HTTP request, booking it as ``LitellmCall`` does."""

    _unpriced: set[str] = set()  # noqa: RUF012  # models litellm cannot price: asking again costs 0.4 ms each

    def call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        sent = self._post(request)
        if sent is None:
            return super().call(request, as_fallback=as_fallback)
        with self._booked() as started:
            response = post(sent)
            if sent.stream:
                answer: Any = open_stream(self, DirectStream(response, sent, self._hidden(sent)))
            else:
                answer = self._response(response, sent)
                self._refuse_filtered(answer)
        return self._served(answer, started, as_fallback)

    async def acall(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        sent = self._post(request)
        if sent is None:
            return await super().acall(request, as_fallback=as_fallback)
        with self._booked() as started:
            response = await apost(sent)
            if sent.stream:
                stream = AsyncDirectStream(response, sent, self._hidden(sent))
                answer: Any = await open_async_stream(self, stream)
            else:
                answer = self._response(response, sent)
                self._refuse_filtered(answer)
        return self._served(answer, started, as_fallback)

    def _post(self, request: dict[str, Any]) -> Post | None:
        """The HTTP request litellm's OpenAI path would send for ``request``: the same body and headers; None
        when only litellm can send it (an argument of its own, a model whose parameters it rewrites, a message
        that is not plain JSON)."""
        if _litellm_only(request) or _rewritten(str(request["model"])):
            return None
        base = request.get("api_base") or request.get("base_url") or _env_base()
        key = request.get("api_key") or os.environ.get("OPENAI_API_KEY")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        extra = request.get("extra_headers")
        if isinstance(extra, dict):
            headers.update({str(name): str(value) for name, value in extra.items()})
        body = {name: value for name, value in request.items() if name not in _NOT_IN_BODY and value is not None}
        body["model"] = name = str(request["model"]).removeprefix(PREFIX)
        allowed = request.get("allowed_openai_params") or ()
        if "user" in body and "user" not in allowed and not _in_catalog(name):  # as litellm: OpenAI's models only
            del body["user"]
        extra_body = request.get("extra_body")
        if isinstance(extra_body, dict):
            body.update(extra_body)
        url = f"{str(base).rstrip('/')}/chat/completions"
        try:
            return Post(url, headers, body, model=str(request["model"]), timeout=request.get("timeout"))
        except (TypeError, ValueError):  # objects litellm knows how to send (an SDK's message models ...)
            return None

    def _hidden(self, sent: Post) -> dict[str, Any]:
        return {"custom_llm_provider": "openai", "api_base": sent.url.removesuffix("chat/completions")}

    def _response(self, response: httpx2.Response, sent: Post) -> Any:
        litellm = backend.litellm()
        try:
            data = json.loads(response.content)
            answer = litellm.ModelResponse(**data)
        except Exception as exc:  # not an OpenAI answer
            message = f"InternalServerError: OpenAIException - {exc}"  # what litellm raises for a 200 it cannot read
            error = build_error(
                litellm.exceptions.InternalServerError,
                message=message,
                model=sent.model,
                llm_provider="openai",
                response=as_httpx(response),
            )
            raise (error or litellm.exceptions.APIError(500, message, "openai", sent.model)) from exc
        answer._hidden_params = self._hidden(sent)
        answer._hidden_params["response_cost"] = self._price(answer)
        return answer

    def _price(self, response: Any) -> float | None:
        """litellm's price for ``response`` (what its own path puts in ``response_cost``), or None."""
        model = str(getattr(response, "model", None) or self.profile.model)
        if model in self._unpriced:
            return None
        try:
            return float(backend.litellm().completion_cost(completion_response=response))
        except Exception:
            if len(self._unpriced) < _UNPRICED_CAP:
                self._unpriced.add(model)
            return None

    def __repr__(self) -> str:
        return f"DirectCall(profile={self.name!r}, model={self.profile.model!r})"


_litellm_params: frozenset[str] | None = None


def _litellm_only(request: dict[str, Any]) -> bool:
    """True when ``request`` passes one of litellm's own arguments that the direct path cannot honour."""
    global _litellm_params
    if _litellm_params is None:
        _litellm_params = frozenset(getattr(backend.litellm(), "all_litellm_params", ())) - HARMLESS
    return not _litellm_params.isdisjoint(request)


_REWRITTEN: dict[str, bool] = {}


def _rewritten(model: str) -> bool:
    """True for a model whose parameters litellm rewrites (its o-series and GPT-5 configs map ``max_tokens``,
    drop ``temperature`` ...): those calls go through litellm, which knows the rules of each release."""
    known = _REWRITTEN.get(model)
    if known is None:
        litellm = backend.litellm()
        name = model.removeprefix(PREFIX)
        checks = (
            getattr(getattr(litellm, "openaiOSeriesConfig", None), "is_model_o_series_model", None),
            getattr(getattr(litellm, "OpenAIGPT5Config", None), "is_model_gpt_5_model", None),
        )
        try:
            known = any(check(model=name) for check in checks if check is not None)
        except Exception:
            known = name.split("/")[-1].startswith(("o1", "o3", "o4", "gpt-5"))
        if len(_REWRITTEN) < _UNPRICED_CAP:
            _REWRITTEN[model] = known
    return known


def _in_catalog(name: str) -> bool:
    litellm = backend.litellm()
    return name in litellm.open_ai_chat_completion_models or name in litellm.open_ai_text_completion_models


def _env_base() -> str:
    """The endpoint when the profile names none: the openai client's environment variables, else OpenAI."""
    return os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or _DEFAULT_BASE
