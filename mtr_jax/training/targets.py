"""Training targets of the outcome estimator (SPEC section 3), as pure numpy.

For the steps t = 0..T-1 of one episode:

  y_t = S_norm - sum_{i>=t} rho_i - lam * (sum_{i>=t} c_i) / cost_scale

- S_norm (`normalised_score`): an environment score in [-100, 100] mapped to
  (s + 100) / 200; a judged QA score (0/1) unchanged.
- rho_i (`annealed_error_costs`): the annealed error cost of step i when the
  observation that followed it matches an error rule (`ErrorRule`), else 0.
- c_i: USD of step i; cost_scale: that benchmark's mean episode cost on the
  training episodes (`mean_episode_cost`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from mtr_jax.trajectories import QA_BENCHMARKS

# Rule severity -> multiplier m of the annealed error cost.
SEVERITIES = {"high": 1.0, "medium": 0.8, "low": 0.2}
DEFAULT_EXPECTED_STEPS = 27
# The AEC weight ramp: w = RAMP_LOW up to p = RAMP_START, then linear to 1.0 at
# p = RAMP_END; the floor of rho is FLOOR * base.
RAMP_LOW, RAMP_START, RAMP_END, FLOOR = 0.3, 0.3, 0.7, 0.2


class TrainingDataError(ValueError):
  """Training data cannot be turned into targets; the message names the episode
  (file) and the field."""


# ---------------------------------------------------------------------------
# Scores.


def normalised_score(score: float, benchmark: str) -> float:
  """S_norm in [0, 1]: QA ("qa", "hle") scores 0/1 unchanged; every other
  benchmark (scienceworld, twx, toy, ...) is on [-100, 100] -> (s + 100) / 200.
  Raises ValueError for a non-finite or out-of-range score."""
  if isinstance(score, bool) or not isinstance(score, (int, float, np.number)):
    raise ValueError(f"final_score: expected a number, got {score!r}")
  score = float(score)
  if not math.isfinite(score):
    raise ValueError(f"final_score: not a finite number ({score!r})")
  if benchmark in QA_BENCHMARKS:
    if not 0.0 <= score <= 1.0:
      raise ValueError(f"final_score: {score!r} outside [0, 1] for QA benchmark "
                       f"{benchmark!r}")
    return score
  if not -100.0 <= score <= 100.0:
    raise ValueError(f"final_score: {score!r} outside [-100, 100] for benchmark "
                     f"{benchmark!r}")
  return (score + 100.0) / 200.0


# ---------------------------------------------------------------------------
# Error rules.


@dataclasses.dataclass(frozen=True)
class ErrorRule:
  """An observation matching `pattern` marks the step before it as an error.

  pattern: a substring of the observation (or a regular expression searched in
    it when `regex` is True); matching is case-sensitive unless `ignore_case`.
  severity: "high" | "medium" | "low" (multiplier 1.0 / 0.8 / 0.2).
  """

  pattern: str
  severity: str = "high"
  regex: bool = False
  ignore_case: bool = False

  def __post_init__(self):
    if not isinstance(self.pattern, str) or not self.pattern:
      raise ValueError(f"ErrorRule.pattern: expected a non-empty string, got "
                       f"{self.pattern!r}")
    if self.severity not in SEVERITIES:
      raise ValueError(f"ErrorRule.severity: expected one of {list(SEVERITIES)}, "
                       f"got {self.severity!r} (pattern {self.pattern!r})")
    if self.regex:
      try:
        re.compile(self.pattern)
      except re.error as e:
        raise ValueError(f"ErrorRule.pattern: invalid regular expression "
                         f"{self.pattern!r} ({e})") from None

  @property
  def multiplier(self) -> float:
    return SEVERITIES[self.severity]

  def matches(self, observation: str | None) -> bool:
    if not observation:
      return False
    if self.regex:
      flags = re.IGNORECASE if self.ignore_case else 0
      return re.search(self.pattern, observation, flags) is not None
    if self.ignore_case:
      return self.pattern.lower() in observation.lower()
    return self.pattern in observation


# The agent loop's answer to a reply without an action (mtr_jax.rollout.episode).
FORMAT_ERROR_RULE = ErrorRule("Your reply had no action.", "medium")
ENVIRONMENT_ERROR_RULES = (ErrorRule("No known action matches that input.", "high"),
                           FORMAT_ERROR_RULE)
TWX_ERROR_RULES = (ErrorRule("Unknown action: I'm not sure what you mean.", "high"),
                   FORMAT_ERROR_RULE)
DEFAULT_ERROR_RULES: dict[str, tuple[ErrorRule, ...]] = {
    "scienceworld": ENVIRONMENT_ERROR_RULES,
    "twx": TWX_ERROR_RULES,
    "toy": ENVIRONMENT_ERROR_RULES,
    "qa": (),
    "hle": (),
}


def default_error_rules(benchmark: str) -> tuple[ErrorRule, ...]:
  """The rules for a benchmark: the environment's parser error (ScienceWorld's
  text for scienceworld, toy and unknown environments; TextWorld-Express's for
  twx) and the loop's missing-action reply; none for judged QA."""
  if benchmark in DEFAULT_ERROR_RULES:
    return DEFAULT_ERROR_RULES[benchmark]
  return () if benchmark in QA_BENCHMARKS else ENVIRONMENT_ERROR_RULES


def error_severities(observations: Iterable[str | None],
                     rules: Sequence[ErrorRule]) -> np.ndarray:
  """float64 [T]: per step, the largest multiplier among the rules its next
  observation matches; 0 where none matches (or there is no observation)."""
  out = []
  for obs in observations:
    hits = [r.multiplier for r in rules if r.matches(obs)]
    out.append(max(hits) if hits else 0.0)
  return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------------------
# Annealed error cost.


def aec_weight(p) -> np.ndarray | float:
  """The ramp w(p): 0.3 for p <= 0.3, linear to 1.0 at p = 0.7, 1.0 above."""
  p_arr = np.asarray(p, dtype=np.float64)
  frac = np.clip((p_arr - RAMP_START) / (RAMP_END - RAMP_START), 0.0, 1.0)
  w = RAMP_LOW + (1.0 - RAMP_LOW) * frac
  return float(w) if np.ndim(w) == 0 else w


def _severity_array(severities, n: int) -> np.ndarray:
  if severities is None:
    return np.full(n, SEVERITIES["high"])
  if isinstance(severities, str):
    severities = [severities] * n
  if np.ndim(severities) == 0:
    return np.full(n, float(severities))
  values = [SEVERITIES[s] if isinstance(s, str) else float(s) for s in severities]
  arr = np.asarray(values, dtype=np.float64)
  if arr.shape != (n,):
    raise ValueError(f"severities: expected {n} values (one per step), got "
                     f"shape {arr.shape}")
  return arr


def annealed_error_costs(step_has_error, expected_steps: int = DEFAULT_EXPECTED_STEPS,
                         severities=None) -> np.ndarray:
  """rho [T] (float64) for one episode.

  step_has_error: bool [T]; step i (0-based) is an error when the observation
    that followed it matched an error rule.
  expected_steps: N, the expected number of steps of the task.
  severities: the multiplier m per step (float [T], or names "high"/...), or one
    value for all; None means 1.0 ("high"). Ignored where there is no error.

  For an error step: base = 1/N, p = min((i+1)/N, 1), w = aec_weight(p),
  rho = max(base * m * w, 0.2 * base); 0 elsewhere.
  """
  has_error = np.asarray(step_has_error)
  if has_error.ndim != 1:
    raise ValueError(f"step_has_error: expected a 1-D array, got shape {has_error.shape}")
  has_error = has_error.astype(bool)
  if isinstance(expected_steps, bool) or int(expected_steps) != expected_steps \
      or expected_steps <= 0:
    raise ValueError(f"expected_steps: expected a positive integer, got {expected_steps!r}")
  n_steps = has_error.shape[0]
  m = _severity_array(severities, n_steps)
  if not np.all(np.isfinite(m)) or np.any(m < 0):
    raise ValueError(f"severities: expected finite non-negative values, got {m.tolist()}")
  base = 1.0 / float(expected_steps)
  p = np.minimum((np.arange(n_steps) + 1.0) / float(expected_steps), 1.0)
  rho = np.maximum(base * m * aec_weight(p), FLOOR * base)
  return np.where(has_error, rho, 0.0)


# ---------------------------------------------------------------------------
# Targets and cost scale.


def reverse_cumsum(x) -> np.ndarray:
  """out[t] = sum_{i>=t} x[i] (float64)."""
  x = np.asarray(x, dtype=np.float64)
  return np.cumsum(x[::-1])[::-1]


def step_targets(s_norm: float, costs, rho, lam: float, cost_scale: float) -> np.ndarray:
  """y [T] (float64):
  y_t = s_norm - sum_{i>=t} rho_i - lam * sum_{i>=t} c_i / cost_scale."""
  costs = np.asarray(costs, dtype=np.float64)
  rho = np.asarray(rho, dtype=np.float64)
  if costs.ndim != 1 or rho.shape != costs.shape:
    raise ValueError(f"costs and rho: expected two 1-D arrays of one length, got "
                     f"shapes {costs.shape} and {rho.shape}")
  for name, value in (("s_norm", s_norm), ("lam", lam), ("cost_scale", cost_scale)):
    if not math.isfinite(float(value)):
      raise ValueError(f"{name}: not a finite number ({value!r})")
  if cost_scale <= 0:
    raise ValueError(f"cost_scale: must be positive, got {cost_scale!r}")
  if not np.all(np.isfinite(costs)) or np.any(costs < 0):
    raise ValueError(f"costs: expected finite non-negative values, got {costs.tolist()}")
  remaining_cost = reverse_cumsum(costs) / float(cost_scale)
  return float(s_norm) - reverse_cumsum(rho) - float(lam) * remaining_cost


def episode_source(traj, index: int) -> str:
  """How errors name an episode: its file, else its position and task id."""
  if getattr(traj, "path", None):
    return str(traj.path)
  return f"<episode {index}: {traj.task_id}>"


def mean_episode_cost(trajectories: Iterable) -> dict[str, float]:
  """benchmark -> mean total cost (USD) of its episodes. Pass the TRAINING
  episodes only: the result scales the costs of validation and test too.
  Raises TrainingDataError when there are no episodes or a benchmark's mean is
  not positive."""
  totals: dict[str, list[float]] = {}
  first: dict[str, str] = {}
  for i, traj in enumerate(trajectories):
    cost = float(traj.total_cost)
    if not math.isfinite(cost) or cost < 0:
      raise TrainingDataError(f"{episode_source(traj, i)}: total_cost: expected a finite "
                              f"non-negative number, got {traj.total_cost!r}")
    totals.setdefault(traj.benchmark, []).append(cost)
    first.setdefault(traj.benchmark, episode_source(traj, i))
  if not totals:
    raise TrainingDataError("mean_episode_cost: no episodes (pass the training "
                            "trajectories)")
  out = {}
  for bench, costs in totals.items():
    mean = math.fsum(costs) / len(costs)
    if mean <= 0:
      raise TrainingDataError(
          f"{first[bench]}: total_cost: benchmark {bench!r} has a mean episode cost "
          f"of {mean!r} over {len(costs)} episode(s); costs cannot be normalised")
    out[bench] = mean
  return out


def check_cost_scale(cost_scale: Mapping[str, float]) -> dict[str, float]:
  """Validates benchmark -> scale (finite, positive) and returns a plain dict."""
  if not isinstance(cost_scale, Mapping):
    raise TrainingDataError(f"cost_scale: expected a mapping benchmark -> float, "
                            f"got {type(cost_scale).__name__}")
  out = {}
  for bench, value in cost_scale.items():
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
        or not math.isfinite(float(value)) or value <= 0:
      raise TrainingDataError(f"cost_scale[{bench!r}]: expected a positive finite "
                              f"number, got {value!r}")
    out[str(bench)] = float(value)
  return out
