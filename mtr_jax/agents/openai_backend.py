"""A backend for pool entries with `backend: openai` (OpenAI-compatible endpoints).

`OpenAIBackend.complete` POSTs the conversation to `{base_url}/chat/completions`
with the standard library's urllib (no extra dependency), retries transient faults
with exponential backoff, and turns the answer into a `Completion`:

* API key: read from the environment variable named by `endpoint.api_key_env`
  and sent as `Authorization: Bearer ...`. A missing (or empty) variable raises
  `BackendError` at once: it is a configuration mistake, not a transient fault.
* Retried (up to `endpoint.max_retries` extra attempts): HTTP 429, HTTP 5xx,
  timeouts, connection errors, and responses that are not valid JSON or lack a
  field we need. The wait before retry k (0-based) is
  `backoff_s * 2**k` plus up to 10 % jitter, or the server's `Retry-After`
  (seconds or an HTTP date) capped at `retry_after_cap_s`.
* Not retried: any other HTTP 4xx (bad request, auth, unknown model, ...).
* A call that fails for good does not raise: the returned `Completion` has
  `content == ""`, a one-line `error`, zero completion tokens and cost, and
  `extra == {"attempts": n, "errors": [...]}`, so the agent loop can record the
  failure in the trajectory.
* Success: cost is `usage.cost` when the server reports it (e.g. OpenRouter),
  else `model.cost(prompt_tokens, completion_tokens)`; `extra` mirrors the
  reference trajectory format (SPEC section 5):
  `{"response": {"model": ..., "usage": {"prompt_tokens", "completion_tokens",
  "cost"}}, "attempts": n}` (plus `"errors"` when earlier attempts failed).

The timeout (`endpoint.timeout_s`) applies to each blocking socket operation of a
call (connect, send, each read), as urllib does it.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import os
import random
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

from mtr_jax.agents.base import BackendError, Completion, Message, TurnContext
from mtr_jax.pool import ModelSpec

_MAX_ERROR_CHARS = 300


class _AttemptError(Exception):
  """One failed attempt; `retryable` says whether another try may help."""

  def __init__(self, message: str, *, status: int | None = None,
               retryable: bool = True, retry_after: float | None = None):
    super().__init__(message)
    self.status = status
    self.retryable = retryable
    self.retry_after = retry_after


def _one_line(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
  text = " ".join(str(text).split())
  return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
  """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
  if value is None:
    return None
  value = value.strip()
  if not value:
    return None
  try:
    seconds = float(value)
  except ValueError:
    try:
      when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
      return None
    if when is None:
      return None
    seconds = when.timestamp() - (time.time() if now is None else now)
  if not math.isfinite(seconds):
    return None
  return max(0.0, seconds)


def _nonneg_int(usage: Mapping[str, Any], key: str) -> int:
  value = usage.get(key)
  if isinstance(value, bool) or not isinstance(value, (int, float)) \
      or not math.isfinite(value) or value < 0 or int(value) != value:
    raise _AttemptError(f"bad response: usage.{key} is {value!r}")
  return int(value)


def _reported_cost(usage: Mapping[str, Any]) -> float | None:
  value = usage.get("cost")
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return None
  if not math.isfinite(value) or value < 0:
    return None
  return float(value)


class OpenAIBackend:
  """Calls OpenAI-compatible chat-completions endpoints (see module docstring).

  Args:
    sleep: called with the number of seconds to wait between attempts
      (inject a recorder in tests).
    environ: where API keys are looked up; `os.environ` by default.
    opener: a `urllib.request.OpenerDirector`; the default one honours the
      usual proxy environment variables.
    rng: source of backoff jitter.
    max_tokens_cap: upper bound on the `max_tokens` sent
      (`min(model.max_output_tokens, max_tokens_cap)`).
    retry_after_cap_s: longest wait a `Retry-After` header may impose.
    max_backoff_s: longest exponential-backoff wait.
  """

  def __init__(self, *, sleep: Callable[[float], Any] = time.sleep,
               environ: Mapping[str, str] | None = None,
               opener: urllib.request.OpenerDirector | None = None,
               rng: random.Random | None = None,
               max_tokens_cap: int = 4096,
               retry_after_cap_s: float = 30.0,
               max_backoff_s: float = 60.0):
    self._sleep = sleep
    self._environ = os.environ if environ is None else environ
    self._opener = opener or urllib.request.build_opener()
    self._rng = rng or random.Random()
    self.max_tokens_cap = int(max_tokens_cap)
    self.retry_after_cap_s = float(retry_after_cap_s)
    self.max_backoff_s = float(max_backoff_s)

  # -------------------------------------------------------------------------

  def request_body(self, messages: list[Message], model: ModelSpec) -> dict[str, Any]:
    """The JSON body sent for `messages` (only role and content of each)."""
    endpoint = self._endpoint(model)
    body: dict[str, Any] = {
        "model": endpoint.remote_model or model.name,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": max(1, min(int(model.max_output_tokens), self.max_tokens_cap)),
    }
    if endpoint.temperature is not None:
      body["temperature"] = endpoint.temperature
    return body

  def complete(self, messages: list[Message], model: ModelSpec,
               ctx: TurnContext) -> Completion:
    endpoint = self._endpoint(model)
    key = self._environ.get(endpoint.api_key_env)
    if not key:
      raise BackendError(
          f"model {model.name!r}: environment variable {endpoint.api_key_env!r} "
          f"(endpoint.api_key_env) is not set; it must hold the API key for "
          f"{endpoint.base_url}")
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    data = json.dumps(self.request_body(messages, model)).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "Authorization": f"Bearer {key}"}

    errors: list[str] = []
    last: _AttemptError | None = None
    total = int(endpoint.max_retries) + 1
    for attempt in range(total):
      try:
        payload = self._post(url, data, headers, endpoint.timeout_s)
        result = self._parse(payload, model)
      except _AttemptError as e:
        last = e
        errors.append(str(e))
        if not e.retryable or attempt + 1 >= total:
          break
        self._sleep(self._delay(attempt, endpoint.backoff_s, e.retry_after))
        continue
      content, prompt, completion, cost, remote = result
      extra: dict[str, Any] = {
          "response": {"model": remote,
                       "usage": {"prompt_tokens": prompt,
                                 "completion_tokens": completion,
                                 "cost": cost}},
          "attempts": attempt + 1}
      if errors:
        extra["errors"] = errors
      return Completion(content=content, prompt_tokens=prompt,
                        completion_tokens=completion, cost=cost, model=model.name,
                        extra=extra)

    assert last is not None
    attempts = len(errors)
    status = f"HTTP {last.status}" if last.status is not None else "no HTTP status"
    why = "not retryable" if not last.retryable else "retries exhausted"
    error = _one_line(f"{model.name}: call to {url} failed after {attempts} "
                      f"attempt(s) ({why}); last: {status}; {last}")
    return Completion(content="", prompt_tokens=int(ctx.prompt_tokens),
                      completion_tokens=0, cost=0.0, model=model.name, error=error,
                      extra={"attempts": attempts, "errors": errors})

  # -------------------------------------------------------------------------

  @staticmethod
  def _endpoint(model: ModelSpec):
    if model.endpoint is None:
      raise BackendError(f"model {model.name!r} (backend {model.backend!r}) has no "
                         f"endpoint; the openai backend needs base_url and api_key_env")
    return model.endpoint

  def _delay(self, attempt: int, backoff_s: float, retry_after: float | None) -> float:
    if retry_after is not None:
      return min(retry_after, self.retry_after_cap_s)
    base = min(float(backoff_s) * 2 ** attempt, self.max_backoff_s)
    return base * (1.0 + 0.1 * self._rng.random())

  def _post(self, url: str, data: bytes, headers: dict[str, str],
            timeout: float) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
      with self._opener.open(request, timeout=timeout) as response:
        return response.read()
    except urllib.error.HTTPError as e:
      try:
        detail = e.read().decode("utf-8", "replace")
      except Exception:  # noqa: BLE001 - the body is only for the message
        detail = ""
      finally:
        e.close()
      retryable = e.code == 429 or 500 <= e.code <= 599
      retry_after = parse_retry_after(e.headers.get("Retry-After")) if e.headers else None
      message = f"HTTP {e.code} {e.reason}"
      if detail:
        message += f": {_one_line(detail, 200)}"
      raise _AttemptError(message, status=e.code, retryable=retryable,
                          retry_after=retry_after) from None
    except urllib.error.URLError as e:
      reason = e.reason
      kind = "timeout" if isinstance(reason, (TimeoutError, socket.timeout)) \
          else "connection error"
      raise _AttemptError(f"{kind}: {reason}") from None
    except (TimeoutError, socket.timeout) as e:
      raise _AttemptError(f"timeout after {timeout:g} s: {e}") from None
    except (OSError, http.client.HTTPException) as e:
      raise _AttemptError(f"connection error: {type(e).__name__}: {e}") from None

  @staticmethod
  def _parse(payload: bytes, model: ModelSpec):
    try:
      data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      raise _AttemptError(f"bad response: not JSON ({e}): "
                          f"{_one_line(payload[:120].decode('utf-8', 'replace'), 120)!r}"
                          ) from None
    if not isinstance(data, dict):
      raise _AttemptError(f"bad response: expected a JSON object, got "
                          f"{type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
      raise _AttemptError("bad response: no choices[0]")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
      raise _AttemptError(f"bad response: choices[0].message.content is {content!r}")
    usage = data.get("usage")
    if not isinstance(usage, dict):
      raise _AttemptError("bad response: no usage")
    prompt = _nonneg_int(usage, "prompt_tokens")
    completion = _nonneg_int(usage, "completion_tokens")
    cost = _reported_cost(usage)
    if cost is None:
      cost = model.cost(prompt, completion)
    remote = data.get("model")
    if not isinstance(remote, str) or not remote:
      remote = (model.endpoint.remote_model if model.endpoint else None) or model.name
    return content, prompt, completion, cost, remote
