"""Baselines by name: build, fit from trajectory folders, save, load from a path.

  router = fit_baseline("avengerspro", ["runs/x/train_roulette"], pool, encoder,
                        out="runs/x/baselines/avengerspro", cost_weight=0.3)
  router = load_baseline("runs/x/baselines/avengerspro")   # in a worker process

Kinds: routerdc, embedllm, avengerspro (single-turn: route once from the task),
ridge, cluster_q (per-turn on the history embedding), llm_router (prompted
policy LLM; real endpoints only, nothing to fit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mtr_jax.routing.baselines.avengerspro import AvengersProRouter
from mtr_jax.routing.baselines.cluster_q import ClusterQRouter
from mtr_jax.routing.baselines.common import BaselineRouter, read_config
from mtr_jax.routing.baselines.embedllm import EmbedLLMRouter
from mtr_jax.routing.baselines.prompted import PromptedLLMRouter
from mtr_jax.routing.baselines.ridge import RidgeRouter
from mtr_jax.routing.baselines.routerdc import RouterDCRouter

LEARNED: dict[str, type[BaselineRouter]] = {
    cls.kind: cls for cls in (RouterDCRouter, EmbedLLMRouter, AvengersProRouter,
                              RidgeRouter, ClusterQRouter)}
KINDS = (*LEARNED, PromptedLLMRouter.kind)


def make_baseline(kind: str, encoder, **options) -> BaselineRouter:
  """An unfitted learned baseline of `kind` with hyperparameters `options`."""
  if kind not in LEARNED:
    hint = (" (the prompted router has nothing to fit: build PromptedLLMRouter(policy))"
            if kind == PromptedLLMRouter.kind else "")
    raise KeyError(f"unknown learned baseline {kind!r}; known: {sorted(LEARNED)}{hint}")
  return LEARNED[kind](encoder, **options)


def fit_baseline(kind: str, folders: Sequence[str | Path], pool, encoder, *,
                 out: str | Path | None = None, cache_dir: str | Path | None = None,
                 progress: bool = False, **options) -> BaselineRouter:
  """Fits a learned baseline on every trajectory under `folders` (the MTRouter
  estimator's training folders) and saves it to `out` when given."""
  from mtr_jax.training.dataset import load_trajectories
  trajectories = load_trajectories(folders, pool, progress=progress)
  router = make_baseline(kind, encoder, **options)
  router.fit(trajectories, pool, cache_dir=cache_dir, progress=progress)
  router.meta["trajectory_folders"] = [str(f) for f in folders]
  if out is not None:
    router.save(out)
  return router


def parse_overrides(text: str) -> dict[str, object]:
  """'lam=0.5;cost_weight=0.1' -> {'lam': 0.5, 'cost_weight': 0.1} (numbers, true /
  false, none, else strings): routing-time settings from a command line."""
  out: dict[str, object] = {}
  for item in filter(None, (p.strip() for p in (text or "").split(";"))):
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
      raise ValueError(f"baseline override {item!r}: expected key=value")
    v = value.strip()
    low = v.lower()
    if low in ("true", "false"):
      out[key.strip()] = low == "true"
    elif low == "none":
      out[key.strip()] = None
    else:
      try:
        out[key.strip()] = int(v) if v.lstrip("+-").isdigit() else float(v)
      except ValueError:
        out[key.strip()] = v
  return out


def load_baseline(path: str | Path, *, encoder=None, backend=None, **overrides):
  """Any saved baseline router, by the kind stored at `path`. `overrides`
  replace saved settings (e.g. lam=0.5, cost_weight=0.1) without refitting."""
  kind = read_config(path)["kind"]
  if kind == PromptedLLMRouter.kind:
    return PromptedLLMRouter.load(path, backend=backend, **overrides)
  if kind not in LEARNED:
    raise ValueError(f"{path}: unknown baseline kind {kind!r} (known: {list(KINDS)})")
  return LEARNED[kind].load(path, encoder=encoder, **overrides)
