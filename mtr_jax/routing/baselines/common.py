"""What every learned baseline router shares: embedding, pool mapping, save/load.

A baseline router scores the models it was trained on (`known_models`) from one
history embedding and routes greedily (argmax; ties: the first model of the
pool). Two families:

- per-turn (`single_turn = False`): embed the whole history at every turn;
- single-turn (`single_turn = True`): embed the history at turn 0 (system
  prompt and first user message: the task and the initial observation), choose
  once, and keep that model until the episode ends (`reset` forgets it; so does
  a call with another task).

A model of the pool the router was not trained on gets no score (-inf) and a
warning; a pool without any known model is an error.

On disk a router is a folder: `router.json` (format, kind, hyperparameters,
known models, the encoder's fingerprint, training notes) and `arrays.npz`.
`load_baseline(path)` rebuilds any kind; the encoder is made from the stored
fingerprint's name unless one is passed, and a different fingerprint is an
error (vectors of two encoders are never mixed).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from mtr_jax.embeddings import EmbeddingCache, history_text
from mtr_jax.routing.base import RouteDecision

FORMAT = "mtr-jax-baseline-1"
CONFIG_FILE, ARRAYS_FILE = "router.json", "arrays.npz"


def task_history(messages: Sequence[dict]) -> list[dict]:
  """The history at turn 0: every message before the first assistant message."""
  for i, m in enumerate(messages):
    if m.get("role") == "assistant":
      return list(messages[:i])
  return list(messages)


def embed_texts(texts: Sequence[str], encoder, cache_dir: str | Path | None = None,
                *, progress: bool = False) -> np.ndarray:
  """float32 [N, D] embeddings of `texts`, through the on-disk cache if given."""
  if cache_dir is None:
    return np.asarray(encoder.encode(list(texts), progress=progress), np.float32)
  return EmbeddingCache(cache_dir, encoder).get_or_encode(list(texts), progress=progress)


def _as_stored(obj: Any) -> Any:
  return json.loads(json.dumps(obj))


def _atomic_write_bytes(path: Path, write) -> None:
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)


class BaselineRouter:
  """Base of the learned baselines. Subclasses set `kind`, `single_turn`, and
  implement `config`, `arrays`, `restore`, `scores` and `fit`."""

  kind: ClassVar[str] = ""
  single_turn: ClassVar[bool] = False

  def __init__(self, encoder, *, seed: int = 0):
    self.encoder = encoder
    self.seed = int(seed)
    self.known_models: list[str] = []
    self.meta: dict[str, Any] = {}
    self._choice: tuple[str, RouteDecision] | None = None
    self._warned: set[str] = set()

  # --- subclass API ---------------------------------------------------------
  def config(self) -> dict[str, Any]:
    """JSON-able hyperparameters: `cls(encoder, **config())` rebuilds the router."""
    return {"seed": self.seed}

  def arrays(self) -> dict[str, np.ndarray]:
    """The fitted state as named arrays."""
    raise NotImplementedError

  def restore(self, arrays: dict[str, np.ndarray]) -> None:
    """Sets the fitted state from `arrays()` output."""
    raise NotImplementedError

  def scores(self, z_D: np.ndarray) -> np.ndarray:
    """One score per known model (higher is better; -inf: never chosen)."""
    raise NotImplementedError

  def fit(self, trajectories, pool, *, cache_dir=None, progress: bool = False):
    raise NotImplementedError

  # --- routing --------------------------------------------------------------
  @property
  def fitted(self) -> bool:
    return bool(self.known_models)

  def embed(self, messages: Sequence[dict]) -> np.ndarray:
    return embed_texts([history_text(messages, self.encoder)], self.encoder)[0]

  def reset(self, episode_seed: int) -> None:
    self._choice = None

  def pool_scores(self, messages: Sequence[dict], pool) -> np.ndarray:
    """Scores of the pool's models (pool order) for the history `messages`."""
    if not self.fitted:
      raise RuntimeError(f"{type(self).__name__}: not fitted (call fit or load first)")
    known = self.scores(self.embed(messages))
    index = {m: i for i, m in enumerate(self.known_models)}
    out = np.full(len(pool), -np.inf)
    for k, name in enumerate(pool.names):
      if name in index:
        out[k] = known[index[name]]
      elif name not in self._warned:
        self._warned.add(name)
        warnings.warn(f"{self.kind} router: model {name!r} was not in its training data; "
                      f"it is never chosen", stacklevel=3)
    if not np.isfinite(out).any():
      raise ValueError(f"{self.kind} router: none of the pool's models {list(pool.names)} "
                       f"can be scored (trained on {self.known_models})")
    return out

  def select(self, messages, pool, spent: float, budget: float) -> RouteDecision:
    history = task_history(messages) if self.single_turn else messages
    key = None
    if self.single_turn:
      key = f"{id(pool)}\n" + history_text(history)
      if self._choice is not None and self._choice[0] == key:
        return self._choice[1]
    q = self.pool_scores(history, pool)
    k = int(np.argmax(q))
    info: dict[str, Any] = {
        "policy": self.kind,
        "scores": {m: (float(s) if np.isfinite(s) else None) for m, s in zip(pool.names, q)}}
    if self.single_turn:
      info["single_turn"] = True
    decision = RouteDecision(pool.names[k], 1.0, info)
    if self.single_turn:
      self._choice = (key, decision)
    return decision

  # --- persistence ----------------------------------------------------------
  def save(self, path: str | Path) -> Path:
    """Writes `path/router.json` and `path/arrays.npz`; returns `path`."""
    if not self.fitted:
      raise RuntimeError(f"{type(self).__name__}: nothing to save (not fitted)")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "kind": self.kind, "config": _as_stored(self.config()),
           "known_models": list(self.known_models),
           "encoder_fingerprint": _as_stored(self.encoder.fingerprint),
           "meta": _as_stored(self.meta)}
    arrays = {k: np.asarray(v) for k, v in self.arrays().items()}
    _atomic_write_bytes(path / ARRAYS_FILE, lambda f: np.savez(f, **arrays))
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    _atomic_write_bytes(path / CONFIG_FILE, lambda f: f.write(text.encode()))
    return path

  @classmethod
  def load(cls, path: str | Path, *, encoder=None, **overrides) -> "BaselineRouter":
    """Restores a saved router; `overrides` replace routing-time hyperparameters
    (e.g. `lam`, `cost_weight`) without refitting."""
    doc = read_config(path)
    if cls.kind and doc["kind"] != cls.kind:
      raise ValueError(f"{path}: holds a {doc['kind']!r} router, not {cls.kind!r}")
    fingerprint = doc["encoder_fingerprint"]
    if encoder is None:
      from mtr_jax.embeddings import make_encoder
      encoder = make_encoder(fingerprint["name"])
    if _as_stored(encoder.fingerprint) != fingerprint:
      raise ValueError(f"{path}: the router was fitted on embeddings of encoder "
                       f"{fingerprint}, but the encoder given is {encoder.fingerprint}")
    unknown = set(overrides) - set(doc["config"])
    if unknown:
      raise TypeError(f"{path}: unknown overrides {sorted(unknown)} for a {cls.kind} "
                      f"router (its settings: {sorted(doc['config'])})")
    router = cls(encoder, **{**doc["config"], **overrides})
    router.known_models = list(doc["known_models"])
    router.meta = dict(doc.get("meta", {}))
    with np.load(Path(path) / ARRAYS_FILE, allow_pickle=False) as data:
      router.restore({k: data[k] for k in data.files})
    return router


def read_config(path: str | Path) -> dict[str, Any]:
  """The `router.json` of a saved baseline, checked for format and kind."""
  file = Path(path) / CONFIG_FILE
  if not file.exists():
    raise FileNotFoundError(f"{path}: no {CONFIG_FILE} (not a saved baseline router)")
  doc = json.loads(file.read_text())
  if doc.get("format") != FORMAT or "kind" not in doc:
    raise ValueError(f"{file}: not a baseline router file (format {doc.get('format')!r}, "
                     f"expected {FORMAT!r})")
  return doc


def check_embeddings(z, n: int, what: str) -> np.ndarray:
  z = np.asarray(z, np.float64)
  if z.ndim != 2 or z.shape[0] != n:
    raise ValueError(f"{what}: expected embeddings of shape [{n}, D], got {z.shape}")
  return z
