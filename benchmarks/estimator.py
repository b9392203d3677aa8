"""Estimator speed, in one process: training throughput and its share of the
machine's matmul FLOP/s, routing latency, encoder throughput.

  python benchmarks/estimator.py
  python benchmarks/estimator.py --samples 50000 --skip-encoder

Measures, on whatever JAX backend is default (CPU here):
  - matmul FLOP/s: a large float32 matmul (the machine's practical peak);
  - training samples/s of the paper's architecture at batch 64 for 384-d
    (MiniLM) and 1024-d (Qwen3-Embedding-size) history embeddings, one jitted
    `lax.scan` epoch per dispatch, and the analytic FLOP/s of that workload as a
    fraction of the matmul figure;
  - routing latency per decision with a cached history embedding (the jitted
    scorer on K candidates + the greedy argmax), p50 and p99, K = 6 and 1000;
  - encoder (all-MiniLM-L6-v2 in Flax) tokens/s on batches of 32 full-length texts.
Targets (issue 3): training >= 25% of matmul FLOP/s; K=6 decision < 200 us p50;
K=1000 < 2 ms.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mtr_jax.estimator.features import FeatureStats, model_features
from mtr_jax.estimator.model import EstimatorConfig
from mtr_jax.estimator.scoring import make_scorer
from mtr_jax.pool import load_pool
from mtr_jax.training.train import TrainState, init_estimator, make_optimizer, make_train_epoch


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  f = jax.jit(lambda x, y: x @ y)
  f(a, a).block_until_ready()
  t = time.perf_counter()
  for _ in range(reps):
    out = f(a, a)
  out.block_until_ready()
  return 2 * n ** 3 * reps / (time.perf_counter() - t)


def train_flops_per_sample(cfg: EstimatorConfig) -> float:
  """Forward+backward FLOPs per sample (3x the forward matmuls) of the Q-network
  on (z_x, z_m); the model encoder runs once per batch on K rows and is counted
  per sample as K/B of its cost."""
  widths = [cfg.hist_dim + cfg.model_dim, *cfg.q_widths, 1]
  q = sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))
  meta = [cfg.num_features, *cfg.meta_widths]
  enc = sum(2 * a * b for a, b in zip(meta[:-1], meta[1:]))
  enc += 2 * (cfg.meta_widths[-1] + cfg.residual_dim) * cfg.model_dim
  return 3 * (q + enc * cfg.num_known_models / 64)


def bench_training(hist_dim: int, samples: int, epochs: int, peak: float) -> dict:
  pool = load_pool("paper6")
  k = len(pool)
  cfg = EstimatorConfig(hist_dim=hist_dim, num_known_models=k)
  rng = np.random.default_rng(0)
  arrays = {"z_hist_NxD": rng.standard_normal((samples, hist_dim)).astype(np.float32),
            "action_N": rng.integers(0, k, samples).astype(np.int32),
            "target_N": rng.standard_normal(samples).astype(np.float32),
            "weight_N": np.ones(samples, np.float32)}
  feats = model_features(list(pool), FeatureStats.fit(list(pool)))
  ids = np.arange(k, dtype=np.int32)
  optim = ml_collections.ConfigDict({"lr": 1e-3, "weight_decay": 0.01, "clip": 1.0,
                                     "end_lr": 1e-5, "batch_size": 64})
  steps = -(-samples // 64)
  tx, _ = make_optimizer(optim, steps * epochs)
  graphdef, params = init_estimator(cfg, jax.random.key(0))
  epoch_fn = make_train_epoch(graphdef, tx, batch_size=64, residual_l2_coef=1e-4)
  state = TrainState(params, tx.init(params), jnp.zeros((), jnp.int32))
  idx = jnp.arange(samples, dtype=jnp.int32)
  keys = jax.random.split(jax.random.key(1), 2)
  state, m = epoch_fn(state, 0, arrays, idx, feats, ids, keys[0], keys[1])  # compile
  jax.block_until_ready(m)
  t = time.perf_counter()
  for e in range(1, epochs + 1):
    state, m = epoch_fn(state, e, arrays, idx, feats, ids, keys[0], keys[1])
  jax.block_until_ready(m)
  dt = time.perf_counter() - t
  sps = samples * epochs / dt
  flops = sps * train_flops_per_sample(cfg)
  return {"hist_dim": hist_dim, "batch": 64, "samples_per_s": round(sps),
          "step_us": round(1e6 * dt / (steps * epochs), 1),
          "gflops": round(flops / 1e9, 2), "fraction_of_matmul_peak": round(flops / peak, 3)}


def bench_routing(k: int, reps: int) -> dict:
  pool = load_pool("paper6")
  cfg = EstimatorConfig(hist_dim=384, num_known_models=len(pool))
  graphdef, params = init_estimator(cfg, jax.random.key(0))
  scorer = make_scorer(graphdef)
  feats = np.resize(model_features(list(pool), FeatureStats.fit(list(pool))), (k, 8))
  ids = np.resize(np.arange(len(pool), dtype=np.int32), k)
  mask = np.ones(k, bool)
  z = np.random.default_rng(0).standard_normal((1, 384)).astype(np.float32)
  feats, ids, mask, z = jax.device_put((feats, ids, mask, z))
  for _ in range(20):
    int(jnp.argmax(scorer(params, z, feats, ids, mask)[0]))
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    q = np.asarray(scorer(params, z, feats, ids, mask)[0])
    int(np.argmax(q))
    times.append(time.perf_counter() - t)
  us = np.array(times) * 1e6
  return {"K": k, "p50_us": round(float(np.percentile(us, 50)), 1),
          "p99_us": round(float(np.percentile(us, 99)), 1)}


def bench_encoder(texts: int) -> dict:
  from mtr_jax.embeddings import MiniLMEncoder
  enc = MiniLMEncoder()
  words = ("the agent opens the door to the kitchen and looks at the thermometer "
           "on the table before it moves the beaker").split()
  rng = np.random.default_rng(0)
  batch = [" ".join(rng.choice(words, 400)) + f" {i}" for i in range(texts)]
  enc.encode(batch[:32])  # compile the full-length bucket
  t = time.perf_counter()
  enc.encode(batch)
  dt = time.perf_counter() - t
  tokens = texts * enc.max_seq_len
  return {"encoder": enc.name, "texts": texts, "seq_len": enc.max_seq_len,
          "tokens_per_s": round(tokens / dt), "texts_per_s": round(texts / dt, 1)}


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--samples", type=int, default=20000)
  ap.add_argument("--epochs", type=int, default=3)
  ap.add_argument("--route-reps", type=int, default=2000)
  ap.add_argument("--encoder-texts", type=int, default=96)
  ap.add_argument("--skip-encoder", action="store_true")
  args = ap.parse_args()
  print(f"# estimator benchmark on {jax.devices()[0].device_kind} "
        f"({jax.device_count()} device(s), jax {jax.__version__})")
  peak = matmul_flops()
  print(json.dumps({"matmul_gflops": round(peak / 1e9, 1)}))
  for d in (384, 1024):
    print(json.dumps(bench_training(d, args.samples, args.epochs, peak)))
  for k in (6, 1000):
    print(json.dumps(bench_routing(k, args.route_reps)))
  if not args.skip_encoder:
    print(json.dumps(bench_encoder(args.encoder_texts)))


if __name__ == "__main__":
  main()
