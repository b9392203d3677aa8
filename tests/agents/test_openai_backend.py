"""OpenAIBackend against a scripted loopback HTTP server (no network)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.request

import pytest

from mtr_jax.agents.base import BackendError, TurnContext
from mtr_jax.agents.openai_backend import OpenAIBackend, parse_retry_after
from mtr_jax.pool import Endpoint, ModelSpec

KEY_ENV = "MTR_TEST_OPENAI_KEY"
KEY = "sk-test-123"


def _ctx(prompt_tokens: int = 77) -> TurnContext:
  return TurnContext(episode_seed=0, turn=0, task="t", task_family="f",
                     gold_actions=(), step_kind=lambda a: "navigation",
                     wasted_actions=(), wrong_critical_action=lambda a, s: None,
                     error_text="", prompt_tokens=prompt_tokens)


def _ok(content="open door", prompt=100, completion=20, cost=None, model="remote/m"):
  usage = {"prompt_tokens": prompt, "completion_tokens": completion}
  if cost is not None:
    usage["cost"] = cost
  return {"body": {"id": "x", "model": model, "usage": usage,
                   "choices": [{"index": 0, "message": {"role": "assistant",
                                                        "content": content}}]}}


class _Server:
  """A ThreadingHTTPServer on 127.0.0.1 that plays a fixed list of responses.

  Each entry: {"status": int, "body": obj|bytes, "headers": {...}, "delay": s}.
  Requests beyond the script get a 418 (not retried) so a test cannot loop.
  """

  def __init__(self, script):
    self.script = list(script)
    self.requests = []
    self.lock = threading.Lock()
    outer = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        with outer.lock:
          outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                 "body": raw})
          step = outer.script.pop(0) if outer.script else {
              "status": 418, "body": {"error": "script exhausted"}}
        if step.get("delay"):
          time.sleep(step["delay"])
        body = step.get("body", b"")
        if not isinstance(body, bytes):
          body = json.dumps(body).encode()
        try:
          self.send_response(step.get("status", 200))
          for k, v in step.get("headers", {}).items():
            self.send_header(k, v)
          self.send_header("Content-Type", "application/json")
          self.send_header("Content-Length", str(len(body)))
          self.end_headers()
          self.wfile.write(body)
        except OSError:
          pass  # the client gave up (timeout test)

      def log_message(self, *args):
        pass

    self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.httpd.handle_error = lambda *a: None
    self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/"
    self.thread = threading.Thread(target=self.httpd.serve_forever,
                                   kwargs={"poll_interval": 0.05}, daemon=True)
    self.thread.start()

  def close(self):
    self.httpd.shutdown()
    self.httpd.server_close()
    self.thread.join(timeout=5)


@pytest.fixture
def serve():
  servers = []

  def start(*script):
    s = _Server(script)
    servers.append(s)
    return s

  yield start
  for s in servers:
    s.close()


def _model(url, *, max_retries=3, backoff_s=0.01, timeout_s=2.0, remote="remote/m",
           temperature=None, max_output_tokens=10000):
  return ModelSpec(name="pool/m", input_price=1.0, output_price=10.0,
                   max_output_tokens=max_output_tokens, backend="openai",
                   endpoint=Endpoint(base_url=url, api_key_env=KEY_ENV,
                                     remote_model=remote, timeout_s=timeout_s,
                                     max_retries=max_retries, backoff_s=backoff_s,
                                     temperature=temperature))


def _backend(sleeps, env=None):
  return OpenAIBackend(sleep=sleeps.append,
                       environ={KEY_ENV: KEY} if env is None else env,
                       opener=urllib.request.build_opener(
                           urllib.request.ProxyHandler({})))


MESSAGES = [
    {"role": "system", "content": "You are an agent."},
    {"role": "user", "content": "<observation>hi</observation>"},
    {"role": "assistant", "content": "look around", "model_name": "pool/m",
     "propensity": 0.5, "extra": {"response": {}}},
    {"role": "user", "content": "You see a door."},
]


def test_success_request_and_cost_from_prices(serve):
  s = serve(_ok(content="THOUGHT: go\n```text\nopen door\n```", prompt=900,
                completion=60))
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url, temperature=0.3), _ctx())
  assert c.error is None
  assert c.content == "THOUGHT: go\n```text\nopen door\n```"
  assert (c.prompt_tokens, c.completion_tokens) == (900, 60)
  assert c.cost == pytest.approx((900 * 1.0 + 60 * 10.0) / 1e6)
  assert c.model == "pool/m"
  assert c.extra == {"response": {"model": "remote/m",
                                  "usage": {"prompt_tokens": 900,
                                            "completion_tokens": 60,
                                            "cost": c.cost}},
                     "attempts": 1}
  assert sleeps == []
  (req,) = s.requests
  assert req["path"] == "/v1/chat/completions"
  assert req["headers"]["Authorization"] == f"Bearer {KEY}"
  body = json.loads(req["body"])
  assert body["model"] == "remote/m"
  assert body["messages"] == [{"role": m["role"], "content": m["content"]}
                              for m in MESSAGES]
  assert body["max_tokens"] == 4096
  assert body["temperature"] == 0.3


def test_cost_from_usage_and_default_remote_name(serve):
  s = serve(_ok(prompt=10, completion=5, cost=0.0123))
  c = _backend([]).complete(MESSAGES[:2], _model(s.url, remote=None,
                                                 max_output_tokens=512), _ctx())
  assert c.cost == 0.0123
  assert c.extra["response"]["usage"]["cost"] == 0.0123
  body = json.loads(s.requests[0]["body"])
  assert body["model"] == "pool/m"
  assert body["max_tokens"] == 512
  assert "temperature" not in body


def test_429_then_success_honours_retry_after(serve):
  s = serve({"status": 429, "headers": {"Retry-After": "7"},
             "body": {"error": "rate limited"}}, _ok())
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url), _ctx())
  assert c.error is None and c.content == "open door"
  assert sleeps == [7.0]
  assert c.extra["attempts"] == 2
  assert "429" in c.extra["errors"][0]
  assert len(s.requests) == 2


def test_retry_after_is_capped(serve):
  s = serve({"status": 429, "headers": {"Retry-After": "100000"}}, _ok())
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url), _ctx())
  assert c.error is None
  assert sleeps == [30.0]


def test_500_twice_then_success_backs_off_exponentially(serve):
  s = serve({"status": 500, "body": b"boom"}, {"status": 503, "body": b"busy"}, _ok())
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url, backoff_s=0.5), _ctx())
  assert c.error is None and c.extra["attempts"] == 3
  assert len(sleeps) == 2
  assert 0.5 <= sleeps[0] <= 0.55 and 1.0 <= sleeps[1] <= 1.1
  assert len(s.requests) == 3


def test_timeout_then_success(serve):
  s = serve({"delay": 0.6, **_ok(content="late")}, _ok(content="on time"))
  sleeps = []
  t0 = time.monotonic()
  c = _backend(sleeps).complete(MESSAGES, _model(s.url, timeout_s=0.2), _ctx())
  assert time.monotonic() - t0 < 2.0
  assert c.error is None and c.content == "on time"
  assert c.extra["attempts"] == 2 and "timeout" in c.extra["errors"][0]
  assert len(sleeps) == 1


def test_garbage_json_every_time_returns_error_completion(serve):
  s = serve(*[{"body": b"<html>not json"}] * 3)
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url, max_retries=2), _ctx(55))
  assert c.content == ""
  assert c.error and "\n" not in c.error
  assert "3 attempt" in c.error and "not JSON" in c.error
  assert (c.prompt_tokens, c.completion_tokens, c.cost) == (55, 0, 0.0)
  assert c.extra["attempts"] == 3 and len(c.extra["errors"]) == 3
  assert len(sleeps) == 2 and len(s.requests) == 3


def test_missing_field_is_retried(serve):
  s = serve({"body": {"choices": [], "usage": {}}},
            {"body": {"choices": [{"message": {"content": "x"}}]}},  # no usage
            _ok())
  c = _backend([]).complete(MESSAGES, _model(s.url), _ctx())
  assert c.error is None and c.extra["attempts"] == 3


def test_400_is_not_retried(serve):
  s = serve({"status": 400, "body": {"error": {"message": "bad model"}}}, _ok())
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url), _ctx())
  assert c.content == "" and c.error
  assert "400" in c.error and "bad model" in c.error
  assert c.extra["attempts"] == 1
  assert sleeps == [] and len(s.requests) == 1


def test_5xx_every_time_exhausts_retries(serve):
  s = serve(*[{"status": 502}] * 2)
  sleeps = []
  c = _backend(sleeps).complete(MESSAGES, _model(s.url, max_retries=1), _ctx())
  assert c.error and "502" in c.error and "2 attempt" in c.error
  assert c.extra["attempts"] == 2 and len(sleeps) == 1


def test_connection_refused_is_retried_then_fails():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
  sleeps = []
  c = _backend(sleeps).complete(
      MESSAGES, _model(f"http://127.0.0.1:{port}", max_retries=2), _ctx())
  assert c.error and "connection error" in c.error
  assert c.extra["attempts"] == 3 and len(sleeps) == 2


def test_missing_api_key_raises_immediately(serve):
  s = serve(_ok())
  sleeps = []
  with pytest.raises(BackendError, match=KEY_ENV) as info:
    _backend(sleeps, env={}).complete(MESSAGES, _model(s.url), _ctx())
  assert "pool/m" in str(info.value)
  assert sleeps == [] and s.requests == []


def test_model_without_endpoint_raises():
  model = ModelSpec(name="sim", input_price=1.0, output_price=1.0)
  with pytest.raises(BackendError, match="endpoint"):
    _backend([]).complete(MESSAGES, model, _ctx())


def test_parse_retry_after():
  assert parse_retry_after("3") == 3.0
  assert parse_retry_after(None) is None
  assert parse_retry_after("soon") is None
  assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=90.0) == \
      pytest.approx(10.0)
