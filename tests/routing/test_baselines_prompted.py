"""The prompted LLM router: a clear error without a real endpoint; against a
loopback OpenAI-compatible server it routes a real toy episode."""

import contextlib
import http.server
import json
import threading
import urllib.request

import pytest

from mtr_jax.agents import make_backends
from mtr_jax.agents.openai_backend import OpenAIBackend
from mtr_jax.envs.toy import ToyEnv
from mtr_jax.pool import load_pool
from mtr_jax.rollout.episode import run_episode
from mtr_jax.routing.baselines import (PromptedLLMRouter, PromptedRouterError,
                                       PromptedRouterUnavailable, load_baseline)
from mtr_jax.routing.baselines.prompted import parse_choice
from mtr_jax.trajectories import read_trajectory, write_trajectory

KEY_ENV = "MTR_TEST_POLICY_KEY"


@contextlib.contextmanager
def policy_server(reply, status=200):
  """A loopback chat-completions server answering `reply(request_json)`;
  yields (base_url, list of received requests); always shut down."""
  received = []

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
      body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
      received.append(body)
      payload = json.dumps({
          "model": "policy", "choices": [{"message": {"content": reply(body)}}],
          "usage": {"prompt_tokens": 100, "completion_tokens": 10}}).encode()
      self.send_response(status)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(payload)))
      self.end_headers()
      self.wfile.write(payload)

    def log_message(self, *args):
      pass

  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  server.timeout = 5
  thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                            daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def policy_entry(base_url):
  return {"name": "policy/llm", "input_price": 1.0, "output_price": 2.0,
          "max_output_tokens": 256, "backend": "openai",
          "endpoint": {"base_url": base_url, "api_key_env": KEY_ENV, "timeout_s": 5.0,
                       "max_retries": 0}}


def loopback_backend():
  return OpenAIBackend(environ={KEY_ENV: "test-key"}, sleep=lambda s: None,
                       opener=urllib.request.build_opener(urllib.request.ProxyHandler({})))


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


def test_unavailable_without_a_real_endpoint(pool):
  with pytest.raises(PromptedRouterUnavailable, match="real LLM.*simulated testbed"):
    PromptedLLMRouter(pool["openai/gpt-5"])       # a simulated pool model
  with pytest.raises(PromptedRouterUnavailable, match="backend 'simulated'"):
    PromptedLLMRouter({"name": "x", "input_price": 1, "output_price": 1})
  entry = policy_entry("http://127.0.0.1:9")
  del entry["endpoint"]
  with pytest.raises(PromptedRouterUnavailable, match="no endpoint"):
    PromptedLLMRouter(entry)


def test_parse_choice():
  names = ("openai/gpt-5", "deepseek/deepseek-v3.2", "openai/gpt-oss-120b")
  assert parse_choice("<think>x</think><select>openai/gpt-oss-120b</select>", names) \
      == "openai/gpt-oss-120b"
  assert parse_choice("<select> GPT-5 </select>", names) == "openai/gpt-5"
  assert parse_choice("<select>deepseek-v3.2</select>", names) == "deepseek/deepseek-v3.2"
  assert parse_choice("<select>claude</select>", names) is None
  assert parse_choice("I pick deepseek/deepseek-v3.2.", names) == "deepseek/deepseek-v3.2"
  assert parse_choice("openai/gpt-5 or openai/gpt-oss-120b?", names) is None


def test_routes_a_real_episode_through_a_loopback_server(pool, tmp_path):
  pick = "openai/gpt-oss-120b"
  with policy_server(lambda body: f"<think>cheap step</think>\n<select>{pick}</select>") \
      as (url, received):
    router = PromptedLLMRouter(policy_entry(url), backend=loopback_backend(), history_turns=2)
    traj = run_episode(ToyEnv(), "fetch", 2, pool=pool, router=router,
                       backends=make_backends(), seed=4)
    router.save(tmp_path / "llm")   # save / load: same configuration, same decisions
    loaded = load_baseline(tmp_path / "llm", backend=loopback_backend())
    assert loaded.config() == router.config()
    again = run_episode(ToyEnv(), "fetch", 2, pool=pool, router=loaded,
                        backends=make_backends(), seed=4)
  assert again == traj
  steps = [m for m in traj["messages"] if m["role"] == "assistant"]
  assert steps and all(m["model_name"] == pick for m in steps)
  assert len(received) == 2 * len(steps)
  info = steps[-1]["router_info"]
  assert info["policy_model"] == "policy/llm" and info["think"] == "cheap step"
  assert info["policy_cost"] == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
  assert not info["parse_failed"]
  system, user = received[len(steps) - 1]["messages"]
  assert all(name in system["content"] for name in pool.names)
  assert "<observation>" in user["content"] and "budget" in user["content"]
  assert received[-1]["model"] == "policy/llm" and received[-1]["max_tokens"] == 256
  path = write_trajectory(tmp_path / "ep.traj.json", traj)
  assert read_trajectory(path, pool).n_steps == len(steps)


def test_unparseable_reply_falls_back_and_failed_call_raises(pool):
  with policy_server(lambda body: "no idea") as (url, _):
    router = PromptedLLMRouter(policy_entry(url), backend=loopback_backend())
    d = router.select([{"role": "user", "content": "task"}], pool, 0.0, 2.0)
    assert d.model == pool.names[0] and d.info["parse_failed"]
    router.fallback = "openai/gpt-oss-120b"
    assert router.select([{"role": "user", "content": "t"}], pool, 0.0, 2.0).model \
        == "openai/gpt-oss-120b"
  with policy_server(lambda body: "x", status=400) as (url, _):
    router = PromptedLLMRouter(policy_entry(url), backend=loopback_backend())
    with pytest.raises(PromptedRouterError, match="HTTP 400"):
      router.select([{"role": "user", "content": "task"}], pool, 0.0, 2.0)
