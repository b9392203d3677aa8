"""Reading and writing trajectory files (`*.traj.json`, "mini-agentic-router-1").

One file is one episode: `info` (task, outcome, exit status) and `messages` (the
whole conversation; each assistant message is one routed LLM call). The reader
accepts our own files and the reference implementation's, with every place the
reference puts a field (see docs in `read_trajectory`). The writer validates with
the same code, so a file we wrote can always be read back, and it never
overwrites a finished episode unless told to.

Every problem raises `TrajectoryError` naming the file and the field path, e.g.
`runs/x.traj.json: messages[4].extra.response.usage.cost: not a finite number (nan)`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

FORMAT = "mini-agentic-router-1"
KNOWN_FORMATS = ("mini-agentic-router-1", "mini-swe-agent-1")
SUFFIX = ".traj.json"
# Judged QA benchmarks score 0/1; every other benchmark is an environment whose
# score lies in [-100, 100] (see mtr_jax/envs/base.py): scienceworld, twx, toy.
QA_BENCHMARKS = frozenset({"qa", "hle"})
ROLES = ("system", "user", "assistant", "tool")
OBSERVATION_ROLES = ("user", "tool")

_MISSING = object()


class TrajectoryError(ValueError):
  """A trajectory file (or dict) is malformed; the message names file and field."""


@dataclasses.dataclass(frozen=True)
class Step:
  """One assistant message = one routed LLM call (one training sample).

  turn: 0-based position among the episode's steps.
  message_index: index of the assistant message in `Trajectory.messages`; the
    state x_t of this step is `messages[:message_index]`.
  model: the model that wrote the message.
  propensity: probability with which the collection policy chose `model`
    (1.0 when not recorded).
  cost: USD of the call (recorded, or recomputed from tokens and pool prices,
    then `cost_recomputed` is True; 0.0 for a failed call that recorded no
    usage at all).
  prompt_tokens / completion_tokens: from `extra.response.usage` (None if absent).
  observation: content of the user/tool message that followed, or None.
  error: a description when the call failed (message field `error` or
    `extra.error`), else None.
  fallback_from: the model originally chosen when a context-window fallback
    replaced it (`fallback_from` or `router_info.fallback_from`), else None.
  """

  turn: int
  message_index: int
  model: str
  propensity: float
  cost: float
  prompt_tokens: int | None
  completion_tokens: int | None
  observation: str | None
  error: str | None = None
  fallback_from: str | None = None
  cost_recomputed: bool = False


@dataclasses.dataclass(frozen=True)
class Trajectory:
  """One episode as read from a file (or validated from a dict).

  benchmark: "qa"/"hle" (judged, final_score 0 or 1) or an environment such
    as "scienceworld", "twx", "toy" (final_score in [-100, 100]).
  total_cost: the sum of the steps' costs.
  """

  path: Path | None
  task_id: str
  task_name: str | None
  variation_idx: int | None
  benchmark: str
  final_score: float
  exit_status: str
  messages: list[dict[str, Any]]
  steps: list[Step]
  total_cost: float
  info: dict[str, Any]
  trajectory_format: str = FORMAT

  @property
  def n_steps(self) -> int:
    return len(self.steps)

  @property
  def is_qa(self) -> bool:
    """Judged QA (score 0/1) rather than an environment score in [-100, 100]."""
    return self.benchmark in QA_BENCHMARKS

  def history(self, step: Step | int) -> list[dict[str, Any]]:
    """The state x_t of a step (a Step, or its position in `steps`): every
    message before its assistant message."""
    if not isinstance(step, Step):
      step = self.steps[step]
    return self.messages[:step.message_index]

  def to_dict(self) -> dict[str, Any]:
    """The file content (format, info, messages) this trajectory came from."""
    return {"trajectory_format": self.trajectory_format, "info": self.info,
            "messages": self.messages}


# ---------------------------------------------------------------------------
# Field access with error paths.


class _Where:
  """Builds errors that name the source file and the field path."""

  def __init__(self, source: str):
    self.source = source

  def error(self, field: str, problem: str) -> TrajectoryError:
    return TrajectoryError(f"{self.source}: {field}: {problem}")


def _get(where: _Where, obj: Mapping, path: str, keys: tuple[str, ...]):
  """Follows `keys` into nested objects. Missing or null at any level gives
  _MISSING; a non-object on the way is an error naming where it was found."""
  cur: Any = obj
  field = path
  for key in keys:
    if cur is None:
      return _MISSING
    if not isinstance(cur, Mapping):
      raise where.error(field, f"expected an object, got {type(cur).__name__}")
    cur = cur.get(key)
    field = f"{field}.{key}" if field else key
  return _MISSING if cur is None else cur


def _finite(where: _Where, field: str, value) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise where.error(field, f"expected a number, got {value!r}")
  if not math.isfinite(value):
    raise where.error(field, f"not a finite number ({value!r})")
  return float(value)


def _count(where: _Where, field: str, value) -> int:
  x = _finite(where, field, value)
  if x < 0 or int(x) != x:
    raise where.error(field, f"expected a non-negative integer, got {value!r}")
  return int(x)


def _string(where: _Where, field: str, value, *, allow_empty: bool = True) -> str:
  if not isinstance(value, str):
    raise where.error(field, f"expected a string, got {type(value).__name__}")
  if not allow_empty and not value:
    raise where.error(field, "empty string")
  return value


# ---------------------------------------------------------------------------
# Per-message fields.


def _model_name(where: _Where, msg: Mapping, at: str) -> str:
  """model_name, else router_info.selected_model (message or extra), else
  selected_model, else extra.response.model. Empty strings count as missing."""
  candidates = (
      ("model_name",),
      ("router_info", "selected_model"),
      ("extra", "router_info", "selected_model"),
      ("selected_model",),
      ("extra", "response", "model"),
  )
  for keys in candidates:
    value = _get(where, msg, at, keys)
    if value is _MISSING or value == "":
      continue
    return _string(where, ".".join([at, *keys]), value)
  raise where.error(at, "assistant message without a model (looked in model_name, "
                    "router_info.selected_model, extra.router_info.selected_model, "
                    "selected_model, extra.response.model)")


def _propensity(where: _Where, msg: Mapping, at: str) -> float:
  """propensity, router_info.propensity, extra.propensity,
  extra.router_info.propensity; missing means 1.0 (a deterministic choice)."""
  candidates = (("propensity",), ("router_info", "propensity"),
                ("extra", "propensity"), ("extra", "router_info", "propensity"))
  for keys in candidates:
    value = _get(where, msg, at, keys)
    if value is _MISSING:
      continue
    field = ".".join([at, *keys])
    p = _finite(where, field, value)
    if not 0.0 < p <= 1.0:
      raise where.error(field, f"propensity must lie in (0, 1], got {value!r}")
    return p
  return 1.0


def resolve_model(pool, name: str) -> str | None:
  """The pool's name for a model name found in a file: the exact name, else the
  unique pool model with the same name without provider prefix, compared
  case-insensitively ("gpt-5" -> "openai/gpt-5"); None if there is none."""
  names = list(pool.names)
  if name in names:
    return name
  short = name.rsplit("/", 1)[-1].lower()
  hits = [n for n in names if n.rsplit("/", 1)[-1].lower() == short]
  return hits[0] if len(hits) == 1 else None


def _step_cost(where: _Where, msg: Mapping, at: str, model: str, pool,
               prompt_tokens: int | None,
               completion_tokens: int | None) -> tuple[float, bool]:
  usage_at = f"{at}.extra.response.usage"
  cost = _get(where, msg, at, ("extra", "response", "usage", "cost"))
  if cost is not _MISSING:
    value = _finite(where, f"{usage_at}.cost", cost)
    if value < 0:
      raise where.error(f"{usage_at}.cost", f"negative cost {cost!r}")
    return value, False
  if pool is None:
    raise where.error(f"{usage_at}.cost", "missing (pass a pool to recompute it "
                      "from prompt/completion tokens and prices)")
  resolved = resolve_model(pool, model)
  if resolved is None:
    raise where.error(f"{usage_at}.cost",
                      f"missing, and model {model!r} is not in pool {pool.name!r} "
                      f"{list(pool.names)}, so it cannot be recomputed")
  for field, tokens in (("prompt_tokens", prompt_tokens),
                        ("completion_tokens", completion_tokens)):
    if tokens is None:
      raise where.error(f"{usage_at}.{field}",
                        "missing (needed to recompute the missing cost)")
  return pool[resolved].cost(prompt_tokens, completion_tokens), True


def _error_flag(where: _Where, msg: Mapping, at: str) -> str | None:
  for keys in (("error",), ("extra", "error")):
    value = _get(where, msg, at, keys)
    if value is _MISSING or value is False or value == "":
      continue
    if value is True:
      return "error"
    return _string(where, ".".join([at, *keys]), value)
  return None


def _parse_step(where: _Where, messages: list, i: int, turn: int, pool) -> Step:
  msg = messages[i]
  at = f"messages[{i}]"
  model = _model_name(where, msg, at)
  propensity = _propensity(where, msg, at)
  tokens = {}
  for field in ("prompt_tokens", "completion_tokens"):
    value = _get(where, msg, at, ("extra", "response", "usage", field))
    tokens[field] = (None if value is _MISSING else
                     _count(where, f"{at}.extra.response.usage.{field}", value))
  error = _error_flag(where, msg, at)
  unbilled = (error is not None and tokens["prompt_tokens"] is None
              and tokens["completion_tokens"] is None
              and _get(where, msg, at, ("extra", "response", "usage", "cost")) is _MISSING)
  if unbilled:  # a failed call without any usage: nothing was billed
    cost, recomputed = 0.0, False
  else:
    cost, recomputed = _step_cost(where, msg, at, model, pool,
                                  tokens["prompt_tokens"], tokens["completion_tokens"])
  observation = None
  if i + 1 < len(messages) and messages[i + 1]["role"] in OBSERVATION_ROLES:
    observation = messages[i + 1]["content"]
  fallback = None
  for keys in (("fallback_from",), ("router_info", "fallback_from")):
    value = _get(where, msg, at, keys)
    if value is not _MISSING:
      fallback = _string(where, ".".join([at, *keys]), value)
      break
  return Step(turn=turn, message_index=i, model=model, propensity=propensity,
              cost=cost, prompt_tokens=tokens["prompt_tokens"],
              completion_tokens=tokens["completion_tokens"],
              observation=observation, error=error,
              fallback_from=fallback, cost_recomputed=recomputed)


# ---------------------------------------------------------------------------
# Episode-level fields.


def _benchmark_data(where: _Where, data: Mapping, info: Mapping):
  """(field path, object) of benchmark_data in info, else at top level."""
  for holder, prefix in ((info, "info.benchmark_data"), (data, "benchmark_data")):
    value = holder.get("benchmark_data")
    if value is None:
      continue
    if not isinstance(value, Mapping):
      raise where.error(prefix, f"expected an object, got {type(value).__name__}")
    return prefix, value
  return None, None


def _benchmark(where: _Where, info: Mapping, bd: Mapping | None) -> str:
  value = info.get("benchmark")
  if value is not None:
    return _string(where, "info.benchmark", value, allow_empty=False)
  if bd is not None and bd.get("judge_result") is not None:
    return "qa"
  if info.get("task_name") is not None and info.get("variation_idx") is not None:
    return "scienceworld"
  raise where.error("info.benchmark", "missing and cannot be inferred (no "
                    "benchmark_data.judge_result, no info.task_name + info.variation_idx)")


def _judged_score(where: _Where, bd_at: str | None, bd: Mapping | None):
  """judge_result.correct as 1.0/0.0; 0.0 for an unanswered, unjudged question
  (as the reference scores it); _MISSING when there is nothing to go on."""
  if bd is None:
    return _MISSING
  judge = bd.get("judge_result")
  if judge is None:
    if bd.get("prediction") is None:
      return 0.0
    raise where.error(f"{bd_at}.judge_result", "missing although an answer was "
                      "given (prediction is set); re-run the judge")
  if not isinstance(judge, Mapping):
    raise where.error(f"{bd_at}.judge_result",
                      f"expected an object, got {type(judge).__name__}")
  field = f"{bd_at}.judge_result.correct"
  correct = judge.get("correct")
  if isinstance(correct, bool):
    return 1.0 if correct else 0.0
  if isinstance(correct, str) and correct.lower() in ("yes", "no"):
    return 1.0 if correct.lower() == "yes" else 0.0
  if isinstance(correct, (int, float)) and correct in (0, 1):
    return float(correct)
  raise where.error(field, f"expected true/false, got {correct!r}")


def _final_score(where: _Where, info: Mapping, benchmark: str,
                 bd_at: str | None, bd: Mapping | None) -> float:
  raw = info.get("final_score")
  if raw is not None:
    score = _finite(where, "info.final_score", raw)
  else:
    score = _judged_score(where, bd_at, bd)
    if score is _MISSING:
      raise where.error("info.final_score",
                        "missing (and no benchmark_data.judge_result.correct)")
  lo, hi = (0.0, 1.0) if benchmark in QA_BENCHMARKS else (-100.0, 100.0)
  if not lo <= score <= hi:
    raise where.error("info.final_score",
                      f"{score!r} outside [{lo:g}, {hi:g}] for benchmark {benchmark!r}")
  return score


def _task_fields(where: _Where, info: Mapping, bd: Mapping | None,
                 source: str) -> tuple[str, str | None, int | None]:
  task_name = info.get("task_name")
  if task_name is not None:
    task_name = _string(where, "info.task_name", task_name, allow_empty=False)
  elif bd is not None and isinstance(bd.get("category"), str) and bd["category"]:
    task_name = bd["category"]
  variation = info.get("variation_idx")
  if variation is not None:
    variation = _count(where, "info.variation_idx", variation)
  task_id = info.get("task_id")
  if task_id is not None:
    if isinstance(task_id, bool) or not isinstance(task_id, (str, int)):
      raise where.error("info.task_id", f"expected a string, got {task_id!r}")
    task_id = str(task_id)
  elif info.get("task_name") is not None and variation is not None:
    task_id = f"{task_name}_var{variation}"
  else:
    name = Path(source).name
    task_id = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else Path(source).stem
  return task_id, task_name, variation


def trajectory_from_dict(data, source: str = "<memory>", pool=None,
                         path: Path | None = None) -> Trajectory:
  """Validates a trajectory dict and returns the parsed Trajectory.

  `source` names the file in error messages; `pool` (a `mtr_jax.pool.Pool`) is
  used only to recompute step costs that were not recorded.
  """
  where = _Where(source)
  if not isinstance(data, Mapping):
    raise TrajectoryError(f"{source}: expected a JSON object at the top level, "
                          f"got {type(data).__name__}")
  fmt = data.get("trajectory_format", FORMAT)
  if fmt not in KNOWN_FORMATS:
    raise where.error("trajectory_format",
                      f"unknown format {fmt!r} (known: {list(KNOWN_FORMATS)})")
  if "info" not in data or data["info"] is None:
    raise where.error("info", "missing")
  info = data["info"]
  if not isinstance(info, Mapping):
    raise where.error("info", f"expected an object, got {type(info).__name__}")
  if "messages" not in data:
    raise where.error("messages", "missing")
  messages = data["messages"]
  if not isinstance(messages, list):
    raise where.error("messages", f"expected a list, got {type(messages).__name__}")
  if not messages:
    raise where.error("messages", "empty message list")
  for i, msg in enumerate(messages):
    if not isinstance(msg, Mapping):
      raise where.error(f"messages[{i}]", f"expected an object, got {type(msg).__name__}")
    role = msg.get("role")
    if role not in ROLES:
      raise where.error(f"messages[{i}].role",
                        f"expected one of {list(ROLES)}, got {role!r}")
    if "content" not in msg:
      raise where.error(f"messages[{i}].content", "missing")
    if not isinstance(msg["content"], str):
      raise where.error(f"messages[{i}].content",
                        f"expected a string, got {type(msg['content']).__name__}")

  recorded = _get(where, info, "info", ("model_stats", "instance_cost"))
  if recorded is not _MISSING:
    if _finite(where, "info.model_stats.instance_cost", recorded) < 0:
      raise where.error("info.model_stats.instance_cost", f"negative cost {recorded!r}")
  exit_status = info.get("exit_status")
  if exit_status is None:
    raise where.error("info.exit_status", "missing")
  exit_status = _string(where, "info.exit_status", exit_status)
  bd_at, bd = _benchmark_data(where, data, info)
  benchmark = _benchmark(where, info, bd)
  final_score = _final_score(where, info, benchmark, bd_at, bd)
  task_id, task_name, variation = _task_fields(where, info, bd, source)

  steps = []
  for i, msg in enumerate(messages):
    if msg["role"] == "assistant":
      steps.append(_parse_step(where, messages, i, len(steps), pool))
  return Trajectory(
      path=path, task_id=task_id, task_name=task_name, variation_idx=variation,
      benchmark=benchmark, final_score=final_score, exit_status=exit_status,
      messages=list(messages), steps=steps,
      total_cost=math.fsum(s.cost for s in steps), info=dict(info),
      trajectory_format=fmt)


# ---------------------------------------------------------------------------
# Files.


def read_trajectory(path: str | os.PathLike, pool=None) -> Trajectory:
  """Loads one `*.traj.json` file (ours or the reference implementation's).

  Field rules (first hit wins; null and "" count as missing):
  - model: `model_name`, `router_info.selected_model`,
    `extra.router_info.selected_model`, `selected_model`, `extra.response.model`.
  - propensity: `propensity`, `router_info.propensity`, `extra.propensity`,
    `extra.router_info.propensity`; missing -> 1.0; must lie in (0, 1].
  - cost: `extra.response.usage.cost`, else prompt/completion tokens x the
    pool's prices (needs `pool`); a failed call (`error` / `extra.error` set)
    with no usage at all costs 0.
  - fallback: `fallback_from`, else `router_info.fallback_from`.
  - benchmark: `info.benchmark`, else "qa" when `benchmark_data.judge_result`
    exists, else "scienceworld" when `info.task_name` and `info.variation_idx`
    exist. `benchmark_data` is looked up in `info`, then at the top level.
  - final score: `info.final_score`, else `benchmark_data.judge_result.correct`
    (true/false -> 1/0); an unanswered, unjudged QA episode scores 0.
  """
  path = Path(path)
  source = str(path)
  try:
    text = path.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    raise TrajectoryError(f"{source}: not UTF-8 text ({e})") from None
  try:
    data = json.loads(text)
  except json.JSONDecodeError as e:
    raise TrajectoryError(f"{source}: not valid JSON ({e})") from None
  return trajectory_from_dict(data, source, pool, path)


def write_trajectory(path: str | os.PathLike, traj: Mapping, *,
                     overwrite: bool = False, indent: int | None = 1) -> Path:
  """Writes one episode atomically and returns its path.

  The dict is validated like the reader does (costs must be recorded: the file
  has to be readable without a pool), serialised strictly (no NaN/inf anywhere),
  written to a temporary file in the same folder, fsynced and moved into place.
  An existing file is never replaced unless `overwrite=True` (resumable
  collection must not rewrite finished episodes): FileExistsError.
  `trajectory_format` is added when absent.
  """
  path = Path(path)
  source = str(path)
  if not path.name.endswith(SUFFIX):
    raise TrajectoryError(f"{source}: file name must end with {SUFFIX!r} "
                          "(iter_trajectories only finds such files)")
  if not overwrite and path.exists():
    raise FileExistsError(f"{source}: already exists (pass overwrite=True to replace it)")
  if isinstance(traj, Mapping) and "trajectory_format" not in traj:
    traj = {"trajectory_format": FORMAT, **traj}
  trajectory_from_dict(traj, source)
  bad = _first_nonfinite(traj, "")
  if bad is not None:
    raise TrajectoryError(f"{source}: {bad[0]}: not a finite number ({bad[1]!r})")
  try:
    text = json.dumps(traj, indent=indent, ensure_ascii=False, allow_nan=False)
  except ValueError as e:
    raise TrajectoryError(f"{source}: not serialisable as strict JSON ({e}; "
                          "NaN or infinite numbers are not allowed)") from None
  except TypeError as e:
    raise TrajectoryError(f"{source}: not serialisable as JSON ({e})") from None

  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    if overwrite:
      os.replace(tmp, path)
    else:
      _move_no_clobber(tmp, path)
  except BaseException:
    try:
      os.unlink(tmp)
    except FileNotFoundError:
      pass
    raise
  _fsync_dir(path.parent)
  return path


def _first_nonfinite(obj, path: str):
  """(field path, value) of the first NaN/inf float inside `obj`, or None."""
  if isinstance(obj, float):
    return None if math.isfinite(obj) else (path or "<top>", obj)
  if isinstance(obj, Mapping):
    items = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items())
  elif isinstance(obj, (list, tuple)):
    items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
  else:
    return None
  for sub, value in items:
    hit = _first_nonfinite(value, sub)
    if hit is not None:
      return hit
  return None


def _move_no_clobber(tmp: str, path: Path) -> None:
  """Moves `tmp` to `path` unless `path` exists, atomically where the file
  system supports hard links (two writers cannot both win)."""
  try:
    os.link(tmp, path)
  except FileExistsError:
    raise FileExistsError(f"{path}: already exists (pass overwrite=True to "
                          "replace it)") from None
  except OSError:  # no hard links here: check, then rename
    if path.exists():
      raise FileExistsError(f"{path}: already exists (pass overwrite=True to "
                            "replace it)") from None
    os.replace(tmp, path)
    return
  os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def find_trajectories(root: str | os.PathLike) -> list[Path]:
  """Every `*.traj.json` under `root` (recursively), sorted."""
  root = Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f"{root}: no such folder")
  return sorted(p for p in root.rglob(f"*{SUFFIX}") if p.is_file())


def iter_trajectories(root: str | os.PathLike, pool=None, *, progress: bool = False,
                      errors: str = "raise") -> Iterator[Trajectory]:
  """Reads every `*.traj.json` under `root` in sorted order.

  progress: show a tqdm bar. errors: "raise" (default) or "skip" (warn with
  the TrajectoryError's message and go on).
  """
  if errors not in ("raise", "skip"):
    raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
  paths = find_trajectories(root)
  if progress:
    from tqdm.auto import tqdm
    paths = tqdm(paths, desc=f"trajectories in {root}", unit="file")
  for p in paths:
    try:
      yield read_trajectory(p, pool)
    except TrajectoryError as e:
      if errors == "raise":
        raise
      warnings.warn(f"skipped: {e}", stacklevel=2)
