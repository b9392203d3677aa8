"""Sweep speed: N same-shape configs trained as ONE vmapped program against the
same N trained one after another by the same code (`train_sweep` with one member
at a time), in one process.

  python benchmarks/sweep.py                       # N = 8 and 64
  python benchmarks/sweep.py --n 64 --samples 4000 --epochs 5
  python benchmarks/sweep.py --cpu-devices 2 --shard    # member axis over 2 devices
  python benchmarks/sweep.py --n 8 --train-baseline 8   # also N separate train() runs

The configs differ in lr, weight decay, dropout, residual L2 and seed (patience =
epochs, so every member runs every epoch in both modes). Each mode runs once to
compile (reported as *_cold_s: the vmapped program's first run, the sequential
mode's first member) and is then timed warm. Both modes write the same per-member
best checkpoints (Orbax, ~0.05-0.2 s each here: a floor neither mode avoids);
the JSON
also gives the phases from each sweep's sweep.json (train = the epoch programs,
eval = validation + host bookkeeping, checkpoint = Orbax writes) and the speedup
without checkpoint writes. --train-baseline K times K separate `train.train` runs
(each config's hyperparameters are compile-time constants there, so every config
compiles its own program; it also checkpoints every epoch), extrapolates to N and
compares with the vmapped sweep warm and cold (its one compilation included).
Target (issue 4): vmapped >= 10x faster than sequential at N = 64 on CPU.
One JSON line per N. best_val_loss_max_abs_diff compares each member's result in
the two modes: they agree to float rounding, except that a rounding-level
difference (the batched program fuses differently) occasionally flips a ReLU
whose pre-activation is within ~1e-7 of zero, which changes that step's gradient
discretely; a few members of 64 then end ~1e-5 apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--n", type=int, nargs="+", default=[8, 64])
  p.add_argument("--samples", type=int, default=2000)
  p.add_argument("--epochs", type=int, default=5)
  p.add_argument("--hist-dim", type=int, default=64)
  p.add_argument("--q-width", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=64)
  p.add_argument("--final-state", action="store_true",
                 help="also save each member's final params + optimiser state")
  p.add_argument("--cpu-devices", type=int, default=None,
                 help="split the CPU into this many JAX devices")
  p.add_argument("--shard", action="store_true",
                 help="shard the member axis over every device")
  p.add_argument("--train-baseline", type=int, default=0,
                 help="also time this many separate train() runs")
  return p.parse_args()


def make_data(samples: int, hist_dim: int, k: int = 6):
  import numpy as np

  from mtr_jax.pool.pool import ModelSpec
  from mtr_jax.training.train import TrainData
  rng = np.random.default_rng(0)
  steps = 20
  episode_N = np.arange(samples) // steps
  z_NxD = rng.normal(size=(samples, hist_dim)).astype(np.float32)
  action_N = rng.integers(0, k, samples)
  w_KxD = rng.normal(size=(k, hist_dim)) / np.sqrt(hist_dim)
  target_N = np.tanh(np.einsum("nd,nd->n", z_NxD, w_KxD[action_N])) + 0.3 * action_N
  target_N += 0.05 * rng.normal(size=samples)
  pool = [ModelSpec(f"m{i}", input_price=0.1 * (i + 1), output_price=0.5 * (i + 1))
          for i in range(k)]
  val_mask = np.isin(episode_N, rng.permutation(episode_N.max() + 1)[:max(
      1, (episode_N.max() + 1) // 10)])
  return TrainData.build(z_NxD, action_N, target_N.astype(np.float32), episode_N,
                         pool=pool, encoder_fingerprint={"name": "bench"}, lam=1.0,
                         val_mask_N=val_mask)


def make_configs(n: int, args):
  import numpy as np

  from mtr_jax.training.train import default_train_config
  rng = np.random.default_rng(1)
  configs = []
  for i in range(n):
    c = default_train_config()
    c.seed = i
    c.model.q_widths = (args.q_width, args.q_width)
    c.optim.batch_size = args.batch_size
    c.optim.epochs = args.epochs
    c.optim.patience = args.epochs
    c.optim.lr = float(10 ** rng.uniform(-3.5, -2.5))
    c.optim.weight_decay = float(rng.choice([0.0, 0.01, 0.1]))
    c.model.dropout = float(rng.choice([0.0, 0.1, 0.2]))
    c.loss.residual_l2 = float(rng.choice([1e-5, 1e-4, 1e-3]))
    configs.append(c)
  return configs


def phases(workdirs) -> dict[str, float]:
  total: dict[str, float] = {}
  for w in workdirs:
    timings = json.loads((Path(w) / "sweep.json").read_text())["timings"]
    for key, value in timings.items():
      total[key] = total.get(key, 0.0) + value
  return total


def timed(fn):
  t = time.perf_counter()
  out = fn()
  return time.perf_counter() - t, out


def main():
  args = parse_args()
  import jax
  import numpy as np
  if args.cpu_devices:
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
  from mtr_jax.training import sweep_layout
  from mtr_jax.training.sweep import train_sweep
  from mtr_jax.training.train import train
  sweep_layout.initialize_distributed_if_launched()
  mesh = sweep_layout.member_mesh() if args.shard else None
  data = make_data(args.samples, args.hist_dim)
  final = args.final_state
  root = Path(tempfile.mkdtemp(prefix="mtr-sweep-bench-"))
  try:
    for n in args.n:
      configs = make_configs(n, args)
      base = root / f"n{n}"
      def run(cs, w):  # one member is never sharded (a mesh would replicate it)
        return train_sweep(cs, data, w, mesh=mesh if len(cs) > 1 else None,
                           progress=False, save_final_state=final)

      vmap_cold, _ = timed(lambda: run(configs, base / "vmap_cold"))
      vmap_s, results = timed(lambda: run(configs, base / "vmap"))
      seq_cold, _ = timed(lambda: run(configs[:1], base / "seq_cold"))
      seq_dirs = [base / f"seq_{i:03d}" for i in range(n)]
      seq_s, seq_results = timed(
          lambda: [run([c], w) for c, w in zip(configs, seq_dirs)])
      diff_M = np.array([abs(a.best_val_loss - b[0].best_val_loss)
                         for a, b in zip(results, seq_results)])
      vp, sp = phases([base / "vmap"]), phases(seq_dirs)
      no_ckpt = lambda p: p["total_s"] - p["checkpoint_s"]  # noqa: E731
      record = {
          "n": n, "samples": args.samples, "epochs": args.epochs,
          "hist_dim": args.hist_dim, "q_width": args.q_width,
          "batch_size": args.batch_size, "devices": jax.device_count(),
          "sharded": bool(mesh is not None and n % mesh.size == 0),
          "vmapped_s": round(vmap_s, 3), "sequential_s": round(seq_s, 3),
          "speedup": round(seq_s / vmap_s, 2),
          "speedup_without_checkpoints": round(no_ckpt(sp) / no_ckpt(vp), 2),
          "speedup_train_program": round(sp["train_s"] / vp["train_s"], 2),
          "vmapped_cold_s": round(vmap_cold, 3),
          "sequential_first_cold_s": round(seq_cold, 3),
          "vmapped_phases_s": {k: round(v, 3) for k, v in vp.items()},
          "sequential_phases_s": {k: round(v, 3) for k, v in sp.items()},
          "best_val_loss_max_abs_diff": float(diff_M.max()),
          "members_differing_over_1e-5": int((diff_M > 1e-5).sum()),
          "load_avg_1min": round(os.getloadavg()[0], 2)}
      if args.train_baseline:
        k = min(args.train_baseline, n)
        train_s, _ = timed(lambda: [train(c, data, base / f"train_{i:03d}",
                                          progress=False)
                                    for i, c in enumerate(configs[-k:])])
        record.update(train_runs=k, train_s=round(train_s, 3),
                      train_extrapolated_s=round(train_s / k * n, 3),
                      speedup_vs_train=round(train_s / k * n / vmap_s, 2),
                      speedup_vs_train_cold=round(train_s / k * n / vmap_cold, 2))
      print(json.dumps(record), flush=True)
      shutil.rmtree(base, ignore_errors=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
  main()
