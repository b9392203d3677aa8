"""Text environments of the testbed: ScienceWorld and TextWorld-Express.

make_env('scienceworld' | 'twx') starts one JVM; create one environment per
process and reuse it across episodes (reset). Splits: split_tasks(env, split).
"""

from __future__ import annotations

from mtr_jax.envs.base import Environment, EnvironmentError_, StepResult, TaskRef
from mtr_jax.envs.splits import SPLITS, split_tasks

ENV_NAMES = ("scienceworld", "twx")


def make_env(name: str, **kwargs) -> Environment:
  """A new environment (a new JVM): 'scienceworld' or 'twx'. kwargs go to its class."""
  if name == "scienceworld":
    from mtr_jax.envs.scienceworld import ScienceWorldEnv
    return ScienceWorldEnv(**kwargs)
  if name == "twx":
    from mtr_jax.envs.twx import TextWorldExpressEnv
    return TextWorldExpressEnv(**kwargs)
  raise ValueError(f"unknown environment {name!r}; expected one of {', '.join(ENV_NAMES)}")


__all__ = ["ENV_NAMES", "Environment", "EnvironmentError_", "SPLITS", "StepResult", "TaskRef",
           "make_env", "split_tasks"]
