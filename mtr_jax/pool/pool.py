"""Model pools as data: a YAML file lists the models a router chooses between.

Every field is validated on load; an error names the file, the model and the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any, Mapping

import yaml

POOLS_DIR = Path(__file__).parent / "pools"
BACKENDS = ("simulated", "openai")
STEP_KINDS = ("navigation", "manipulation", "critical")
FAILURE_FORMS = ("invalid", "wasted")


class PoolError(ValueError):
  """A pool file is malformed; the message names the file, model and field."""


@dataclasses.dataclass(frozen=True)
class CompletionLength:
  """Completion tokens per call: lognormal around `mean` with log-std `spread`."""

  mean: float
  spread: float = 0.3


@dataclasses.dataclass(frozen=True)
class Profile:
  """Behaviour of a simulated agent (see docs/testbed.md for the model).

  skill: probability of emitting the correct next action, by step kind, at a short
    history and on a neutral task family.
  family_bias: logit offsets by task family (models specialise).
  context_free_tokens / context_decay: beyond `context_free_tokens` prompt tokens the
    logit drops by `context_decay` per 1,000 extra tokens.
  stickiness: logit drop when this model's own previous action was an error (loops).
  history_error_penalty: logit drop per earlier error observation in the history
    (capped at 3), whichever model made it.
  failure_mix: relative weights of failure forms on non-critical steps.
  wrong_focus: probability that a failed critical step is a wrong `focus on`.
  """

  skill: Mapping[str, float]
  completion_tokens: CompletionLength
  family_bias: Mapping[str, float] = dataclasses.field(default_factory=dict)
  context_free_tokens: int = 2000
  context_decay: float = 0.0
  stickiness: float = 0.0
  history_error_penalty: float = 0.0
  failure_mix: Mapping[str, float] = dataclasses.field(
      default_factory=lambda: {"invalid": 0.5, "wasted": 0.5})
  wrong_focus: float = 0.5


@dataclasses.dataclass(frozen=True)
class Endpoint:
  """An OpenAI-compatible chat-completions endpoint."""

  base_url: str
  api_key_env: str
  remote_model: str | None = None
  timeout_s: float = 60.0
  max_retries: int = 4
  backoff_s: float = 1.0
  temperature: float | None = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """One model of a pool: identity, prices (USD per million tokens), limits."""

  name: str
  input_price: float
  output_price: float
  max_input_tokens: int = 128000
  max_output_tokens: int = 4096
  knowledge_cutoff: dt.date | None = None
  backend: str = "simulated"
  profile: Profile | None = None
  endpoint: Endpoint | None = None

  def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
    """USD of one call."""
    return (prompt_tokens * self.input_price
            + completion_tokens * self.output_price) / 1e6

  def metadata(self) -> dict[str, Any]:
    """The JSON-safe description saved with checkpoints and trajectories."""
    return {
        "name": self.name,
        "input_price": self.input_price,
        "output_price": self.output_price,
        "max_input_tokens": self.max_input_tokens,
        "max_output_tokens": self.max_output_tokens,
        "knowledge_cutoff": (self.knowledge_cutoff.isoformat()
                             if self.knowledge_cutoff else None),
        "backend": self.backend,
    }


@dataclasses.dataclass(frozen=True)
class Pool:
  name: str
  models: tuple[ModelSpec, ...]
  source: str = "<memory>"

  def __post_init__(self):
    names = [m.name for m in self.models]
    if len(set(names)) != len(names):
      dup = sorted({n for n in names if names.count(n) > 1})
      raise PoolError(f"{self.source}: duplicate model names {dup}")

  def __len__(self) -> int:
    return len(self.models)

  def __iter__(self):
    return iter(self.models)

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(m.name for m in self.models)

  def __getitem__(self, name: str) -> ModelSpec:
    for m in self.models:
      if m.name == name:
        return m
    raise KeyError(f"unknown model {name!r}; pool {self.name!r} ({self.source}) "
                   f"has {list(self.names)}")

  def index(self, name: str) -> int:
    return self.names.index(self[name].name)

  def subset(self, names) -> "Pool":
    """A sub-pool in the given order (e.g. cheap-only, without GPT-5)."""
    return Pool(f"{self.name}[{','.join(names)}]",
                tuple(self[n] for n in names), self.source)


# ---------------------------------------------------------------------------
# Loading and validation.

_MODEL_KEYS = {"name", "input_price", "output_price", "max_input_tokens",
               "max_output_tokens", "knowledge_cutoff", "backend", "profile",
               "endpoint"}
_PROFILE_KEYS = {f.name for f in dataclasses.fields(Profile)}
_ENDPOINT_KEYS = {f.name for f in dataclasses.fields(Endpoint)}


class _Where:
  """Builds error messages that say where in the file the problem is."""

  def __init__(self, source: str, model: str | None = None):
    self.source, self.model = source, model

  def error(self, field: str, problem: str) -> PoolError:
    who = f"model {self.model!r}" if self.model else "pool"
    return PoolError(f"{self.source}: {who}, field {field!r}: {problem}")


def _number(where: _Where, field: str, value, *, integer=False, positive=False,
            lo=None, hi=None) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise where.error(field, f"expected a number, got {value!r}")
  if not math.isfinite(value):
    raise where.error(field, f"must be finite, got {value!r}")
  if integer and int(value) != value:
    raise where.error(field, f"expected an integer, got {value!r}")
  if value < 0:
    raise where.error(field, f"must not be negative, got {value!r}")
  if positive and value <= 0:
    raise where.error(field, f"must be positive, got {value!r}")
  if lo is not None and value < lo or hi is not None and value > hi:
    raise where.error(field, f"must lie in [{lo}, {hi}], got {value!r}")
  return int(value) if integer else float(value)


def _mapping(where: _Where, field: str, value) -> Mapping:
  if not isinstance(value, Mapping):
    raise where.error(field, f"expected a mapping, got {type(value).__name__}")
  return value


def _check_keys(where: _Where, field: str, mapping: Mapping, allowed: set[str]):
  unknown = sorted(set(mapping) - allowed)
  if unknown:
    raise where.error(f"{field}{unknown[0]}" if field else unknown[0],
                      f"unknown key (allowed: {sorted(allowed)})")


def _profile(where: _Where, raw) -> Profile:
  raw = _mapping(where, "profile", raw)
  _check_keys(where, "profile.", raw, _PROFILE_KEYS)
  for req in ("skill", "completion_tokens"):
    if req not in raw:
      raise where.error(f"profile.{req}", "missing")
  skill = _mapping(where, "profile.skill", raw["skill"])
  _check_keys(where, "profile.skill.", skill, set(STEP_KINDS))
  for kind in STEP_KINDS:
    if kind not in skill:
      raise where.error(f"profile.skill.{kind}", "missing")
  skill = {k: _number(where, f"profile.skill.{k}", v, lo=0.0, hi=1.0)
           for k, v in skill.items()}
  ct = _mapping(where, "profile.completion_tokens", raw["completion_tokens"])
  _check_keys(where, "profile.completion_tokens.", ct, {"mean", "spread"})
  if "mean" not in ct:
    raise where.error("profile.completion_tokens.mean", "missing")
  completion = CompletionLength(
      _number(where, "profile.completion_tokens.mean", ct["mean"], positive=True),
      _number(where, "profile.completion_tokens.spread", ct.get("spread", 0.3)))
  bias = _mapping(where, "profile.family_bias", raw.get("family_bias", {}))
  family_bias = {}
  for fam, v in bias.items():
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
      raise where.error(f"profile.family_bias.{fam}", f"expected a finite number, got {v!r}")
    family_bias[str(fam)] = float(v)
  mix = _mapping(where, "profile.failure_mix",
                 raw.get("failure_mix", {"invalid": 0.5, "wasted": 0.5}))
  _check_keys(where, "profile.failure_mix.", mix, set(FAILURE_FORMS))
  mix = {k: _number(where, f"profile.failure_mix.{k}", v) for k, v in mix.items()}
  if sum(mix.values()) <= 0:
    raise where.error("profile.failure_mix", "weights must not all be zero")
  kw = {}
  for f in ("context_decay", "stickiness", "history_error_penalty"):
    if f in raw:
      kw[f] = _number(where, f"profile.{f}", raw[f])
  if "context_free_tokens" in raw:
    kw["context_free_tokens"] = _number(where, "profile.context_free_tokens",
                                        raw["context_free_tokens"], integer=True)
  if "wrong_focus" in raw:
    kw["wrong_focus"] = _number(where, "profile.wrong_focus", raw["wrong_focus"],
                                lo=0.0, hi=1.0)
  return Profile(skill=skill, completion_tokens=completion, family_bias=family_bias,
                 failure_mix=mix, **kw)


def _endpoint(where: _Where, raw) -> Endpoint:
  raw = _mapping(where, "endpoint", raw)
  _check_keys(where, "endpoint.", raw, _ENDPOINT_KEYS)
  for req in ("base_url", "api_key_env"):
    if not isinstance(raw.get(req), str) or not raw.get(req):
      raise where.error(f"endpoint.{req}", "missing or not a string")
  kw = dict(base_url=raw["base_url"], api_key_env=raw["api_key_env"])
  if "remote_model" in raw:
    kw["remote_model"] = str(raw["remote_model"])
  if "timeout_s" in raw:
    kw["timeout_s"] = _number(where, "endpoint.timeout_s", raw["timeout_s"], positive=True)
  if "max_retries" in raw:
    kw["max_retries"] = _number(where, "endpoint.max_retries", raw["max_retries"],
                                integer=True)
  if "backoff_s" in raw:
    kw["backoff_s"] = _number(where, "endpoint.backoff_s", raw["backoff_s"])
  if raw.get("temperature") is not None:
    kw["temperature"] = _number(where, "endpoint.temperature", raw["temperature"])
  return Endpoint(**kw)


def _date(where: _Where, field: str, value) -> dt.date | None:
  if value is None:
    return None
  if isinstance(value, dt.datetime):
    return value.date()
  if isinstance(value, dt.date):
    return value
  try:
    return dt.date.fromisoformat(str(value))
  except ValueError:
    raise where.error(field, f"expected a date YYYY-MM-DD, got {value!r}") from None


def model_from_dict(raw, source: str = "<memory>", index: int = 0) -> ModelSpec:
  """Validates one model entry (as found in a pool YAML)."""
  if not isinstance(raw, Mapping):
    raise PoolError(f"{source}: models[{index}]: expected a mapping, got {raw!r}")
  name = raw.get("name")
  if not isinstance(name, str) or not name:
    raise PoolError(f"{source}: models[{index}], field 'name': missing or not a string")
  where = _Where(source, name)
  _check_keys(where, "", raw, _MODEL_KEYS)
  for req in ("input_price", "output_price"):
    if req not in raw or raw[req] is None:
      raise where.error(req, "missing (prices are USD per million tokens)")
  backend = raw.get("backend", "simulated")
  if backend not in BACKENDS:
    raise where.error("backend", f"unknown backend {backend!r} (known: {list(BACKENDS)})")
  profile = endpoint = None
  if backend == "simulated":
    if "profile" not in raw:
      raise where.error("profile", "missing (a simulated model needs a behaviour profile)")
    profile = _profile(where, raw["profile"])
  if backend == "openai":
    if "endpoint" not in raw:
      raise where.error("endpoint", "missing (an openai model needs base_url and api_key_env)")
    endpoint = _endpoint(where, raw["endpoint"])
  return ModelSpec(
      name=name,
      input_price=_number(where, "input_price", raw["input_price"]),
      output_price=_number(where, "output_price", raw["output_price"]),
      max_input_tokens=_number(where, "max_input_tokens",
                               raw.get("max_input_tokens", 128000),
                               integer=True, positive=True),
      max_output_tokens=_number(where, "max_output_tokens",
                                raw.get("max_output_tokens", 4096),
                                integer=True, positive=True),
      knowledge_cutoff=_date(where, "knowledge_cutoff", raw.get("knowledge_cutoff")),
      backend=backend, profile=profile, endpoint=endpoint)


SELECTORS = ("keep", "drop", "max_output_price")


def select_models(pool: Pool, selector: str, source: str) -> Pool:
  """A sub-pool from 'keep=a,b', 'drop=a,b' or 'max_output_price=X' (USD per
  million completion tokens). Names may omit the provider ('gpt-5')."""
  key, eq, value = selector.partition("=")
  if not eq or key not in SELECTORS or not value:
    raise PoolError(f"{source}: pool selector {selector!r}: expected one of "
                    f"{[k + '=...' for k in SELECTORS]}")
  if key == "max_output_price":
    try:
      cap = float(value)
    except ValueError:
      raise PoolError(f"{source}: max_output_price={value!r} is not a number") from None
    names = [m.name for m in pool if m.output_price <= cap]
  else:
    wanted = []
    for raw in value.split(","):
      short = raw.strip().rsplit("/", 1)[-1].lower()
      hits = [n for n in pool.names if n == raw.strip() or n.rsplit("/", 1)[-1].lower() == short]
      if len(hits) != 1:
        raise PoolError(f"{source}: {key}={value!r}: {raw.strip()!r} names "
                        f"{'no' if not hits else 'more than one'} model of pool "
                        f"{pool.name!r} {list(pool.names)}")
      wanted.append(hits[0])
    names = (wanted if key == "keep" else [n for n in pool.names if n not in wanted])
  if not names:
    raise PoolError(f"{source}: pool selector {selector!r} leaves no model")
  return Pool(f"{pool.name}:{selector}", tuple(pool[n] for n in names), source)


def load_pool(name_or_path: str | Path) -> Pool:
  """Loads a pool by name (a file in mtr_jax/pool/pools/) or by path, optionally
  narrowed by a selector after a colon: 'paper6:drop=gpt-5' (without GPT-5),
  'paper6:keep=gpt-oss-120b,gemini-2.5-flash-lite', 'paper6:max_output_price=1'
  (cheap models only). The sub-pool's source is the whole text, so a worker
  process that loads `pool.source` gets the same sub-pool."""
  text = str(name_or_path)
  base, colon, selector = text.rpartition(":")
  if colon and base and "=" in selector:
    return select_models(load_pool(base), selector, text)
  path = Path(name_or_path)
  if not path.suffix:
    candidate = POOLS_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
      known = sorted(p.stem for p in POOLS_DIR.glob("*.yaml"))
      raise PoolError(f"unknown pool {str(name_or_path)!r}: no file {candidate} "
                      f"(shipped pools: {known})")
    path = candidate
  source = str(path)
  try:
    raw = yaml.safe_load(path.read_text())
  except FileNotFoundError:
    raise PoolError(f"{source}: no such pool file") from None
  except yaml.YAMLError as e:
    raise PoolError(f"{source}: not valid YAML: {e}") from None
  if not isinstance(raw, Mapping):
    raise PoolError(f"{source}: expected a mapping with 'name' and 'models'")
  _check_keys(_Where(source), "", raw, {"name", "models", "description"})
  models = raw.get("models")
  if not isinstance(models, list) or not models:
    raise PoolError(f"{source}: field 'models': expected a non-empty list")
  return Pool(str(raw.get("name", path.stem)),
              tuple(model_from_dict(m, source, i) for i, m in enumerate(models)),
              source)
