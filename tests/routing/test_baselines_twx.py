"""Every baseline routes a real TextWorld-Express episode (slow: real environment).

The routers are fitted on a few TWX roulette episodes; a hashing stand-in
replaces the MiniLM encoder to keep the test within seconds (the encoder is
exercised by the learned router's own slow test). The prompted LLM router asks
a loopback OpenAI-compatible server.
"""

import contextlib
import hashlib
import http.server
import json
import threading
import urllib.request

import numpy as np
import pytest

from mtr_jax.agents import make_backends
from mtr_jax.agents.openai_backend import OpenAIBackend
from mtr_jax.envs import make_env
from mtr_jax.envs.splits import split_tasks
from mtr_jax.pool import load_pool
from mtr_jax.rollout.collect import collect, select_refs
from mtr_jax.rollout.episode import Limits, run_episode
from mtr_jax.routing.baselines import LEARNED, PromptedLLMRouter, fit_baseline
from mtr_jax.trajectories import read_trajectory, write_trajectory

DIM = 16
LIMITS = Limits(step_limit=30, cost_limit=1.0)
FAST = {"routerdc": {"steps": 100}, "embedllm": {"steps": 100}, "cluster_q": {"n_clusters": 4},
        "avengerspro": {"n_clusters": 3}}


from hash_encoder import DIM, HashEncoder  # noqa: E402,F401


@contextlib.contextmanager
def policy_server(pick):
  """Loopback chat-completions server that always selects `pick`; shut down at exit."""
  class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
      self.rfile.read(int(self.headers["Content-Length"]))
      payload = json.dumps({"choices": [{"message": {"content": f"<select>{pick}</select>"}}],
                            "usage": {"prompt_tokens": 50, "completion_tokens": 5}}).encode()
      self.send_response(200)
      self.send_header("Content-Length", str(len(payload)))
      self.end_headers()
      self.wfile.write(payload)

    def log_message(self, *args):
      pass

  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                            daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.slow
def test_every_baseline_routes_a_real_twx_episode(tmp_path):
  pool = load_pool("paper6")
  train = select_refs(split_tasks("twx", "train"), max_variations=1)
  collect("twx", train, mode="roulette", runs=1, out=tmp_path / "train", limits=LIMITS,
          progress=False)
  ref = split_tasks("twx", "test_id")[0]
  env = make_env("twx")
  try:
    routers = {kind: fit_baseline(kind, [tmp_path / "train"], pool, HashEncoder(),
                                  out=tmp_path / kind, **FAST.get(kind, {}))
               for kind in LEARNED}
    with policy_server("openai/gpt-oss-120b") as url:
      routers["llm_router"] = PromptedLLMRouter(
          {"name": "policy", "input_price": 1.0, "output_price": 1.0, "backend": "openai",
           "endpoint": {"base_url": url, "api_key_env": "K", "max_retries": 0}},
          backend=OpenAIBackend(environ={"K": "k"}, opener=urllib.request.build_opener(
              urllib.request.ProxyHandler({}))))
      for kind, router in routers.items():
        traj = run_episode(env, ref.task, ref.variation, pool=pool, router=router,
                           backends=make_backends(), seed=7, limits=LIMITS)
        path = write_trajectory(tmp_path / "eval" / f"{kind}.traj.json", traj)
        parsed = read_trajectory(path, pool)
        models = {s.model for s in parsed.steps}
        assert parsed.n_steps > 0 and models <= set(pool.names), kind
        assert parsed.benchmark == "twx" and parsed.exit_status in ("Submitted", "LimitsExceeded")
        if getattr(router, "single_turn", False):
          assert len(models) == 1, kind
        if kind == "llm_router":
          assert models == {"openai/gpt-oss-120b"}
  finally:
    env.close()
