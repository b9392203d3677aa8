"""Behaviour after an error observation (SPEC section 7: error tolerance).

T = the number of steps of an episode, a_t the model of step t, o_t the
observation that followed step t (the user/tool message after its assistant
message; absent after a failed call that ended the episode).

- error observation: o_t matches one of the benchmark's error rules
  (`mtr_jax.training.targets.default_error_rules` unless rules are given).
- error EVENT: a step t with an error observation that is followed by a step
  t+1. Over all events:
    switch_after_error   = P(a_{t+1} != a_t)
    recovery_rate        = P(o_{t+1} exists and is not an error): the very next
                           call's action was accepted (a next call that failed
                           and left no observation counts as not recovered)
    recovery_if_switched = recovery_rate over the events where t+1 switched
    recovery_if_stayed   = recovery_rate over the events where it did not
    progress_rate        = P(some later step s > t has extra.simulated.outcome
                           == 'correct'): the agent still advanced along the
                           gold path after the error; testbed only, over the
                           events of episodes that record outcomes (None if
                           none do)
- switch_after_ok: the base rate of switching, P(a_{t+1} != a_t) over steps t
  with a non-error observation that are followed by a step.
- errors_at_end: error observations after an episode's last step (no event).
- success_with_error / success_without_error: the success rate of episodes
  with at least one error observation / with none.

Aggregates pool the counts of all episodes (a ratio of sums, so an episode
weighs by its number of events); a ratio with a zero denominator is None.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence


def rules_for(error_rules, benchmark: str) -> tuple:
  """The error rules of a benchmark: `error_rules` may be None (the defaults),
  a sequence of ErrorRule (for every benchmark) or a mapping benchmark -> rules."""
  if error_rules is None:
    from mtr_jax.training.targets import default_error_rules
    return tuple(default_error_rules(benchmark))
  if isinstance(error_rules, Mapping):
    if benchmark not in error_rules:
      raise KeyError(f"no error rules for benchmark {benchmark!r} (given for "
                     f"{sorted(error_rules)})")
    return tuple(error_rules[benchmark])
  return tuple(error_rules)


def _ratio(num: int, den: int) -> float | None:
  return num / den if den else None


ERROR_COUNTS = ("error_observations", "errors_at_end", "events", "switched",
                 "recovered", "switched_recovered", "stayed_recovered",
                 "progress_events", "progressed", "ok_transitions", "switched_after_ok")


def error_counts(models: Sequence[str], errors: Sequence[bool],
                 observed: Sequence[bool],
                 outcomes: Sequence[str | None] | None = None) -> dict[str, int]:
  """The per-episode counts behind the error-behaviour rates.

  models[t], errors[t] (o_t matched an error rule), observed[t] (o_t exists),
  outcomes[t] (the simulated outcome or None) for the T steps of one episode.
  'progress_events' counts the events for which outcomes are known.
  """
  n = len(models)
  if not len(errors) == len(observed) == n:
    raise ValueError("models, errors and observed must have one entry per step")
  outcomes = list(outcomes) if outcomes is not None else [None] * n
  has_outcomes = any(o is not None for o in outcomes)
  c = dict.fromkeys(ERROR_COUNTS, 0)
  c["error_observations"] = int(sum(bool(e) for e in errors))
  for t in range(n):
    if t + 1 == n:
      c["errors_at_end"] += int(bool(errors[t]))
      continue
    switched = models[t + 1] != models[t]
    if not errors[t]:
      c["ok_transitions"] += 1
      c["switched_after_ok"] += int(switched)
      continue
    recovered = bool(observed[t + 1]) and not errors[t + 1]
    c["events"] += 1
    c["switched"] += int(switched)
    c["recovered"] += int(recovered)
    c["switched_recovered"] += int(switched and recovered)
    c["stayed_recovered"] += int(not switched and recovered)
    if has_outcomes:
      c["progress_events"] += 1
      c["progressed"] += int(any(o == "correct" for o in outcomes[t + 1:]))
  return c


def error_behaviour(counts: Mapping[str, int], n_with_error: int = 0,
                    success_with_error: int = 0, n_without_error: int = 0,
                    success_without_error: int = 0) -> dict:
  """The rates of the module docstring from pooled `error_counts`."""
  c = counts
  return {
      "error_observations": c["error_observations"], "events": c["events"],
      "errors_at_end": c["errors_at_end"],
      "switch_after_error": _ratio(c["switched"], c["events"]),
      "switch_after_ok": _ratio(c["switched_after_ok"], c["ok_transitions"]),
      "recovery_rate": _ratio(c["recovered"], c["events"]),
      "recovery_if_switched": _ratio(c["switched_recovered"], c["switched"]),
      "recovery_if_stayed": _ratio(c["stayed_recovered"], c["events"] - c["switched"]),
      "progress_rate": _ratio(c["progressed"], c["progress_events"]),
      "episodes_with_error": n_with_error,
      "success_with_error": _ratio(success_with_error, n_with_error),
      "success_without_error": _ratio(success_without_error, n_without_error),
  }


def pool_counts(per_episode: Iterable[Mapping[str, int]]) -> dict[str, int]:
  """The sum of per-episode `error_counts`."""
  total = dict.fromkeys(ERROR_COUNTS, 0)
  for c in per_episode:
    for k in ERROR_COUNTS:
      total[k] += int(c[k])
  return total
