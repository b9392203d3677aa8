"""Toy environments that fail on purpose, for the collector's robustness tests.

The marker folder comes from $MTR_CRASH_DIR; each failure happens once per
episode (a marker file records that it happened), so the retry succeeds.
"""

import os
from pathlib import Path

from mtr_jax.envs.toy import ToyEnv


def _first_time(tag: str) -> bool:
  marker = Path(os.environ["MTR_CRASH_DIR"]) / tag
  if marker.exists():
    return False
  marker.write_text("x")
  return True


class RaisingEnv(ToyEnv):
  """Raises mid-episode (like a crashed JVM) the first time variation 1 runs."""

  def step(self, action):
    if self._variation == 1 and _first_time(f"raise-{self._task}-1"):
      raise RuntimeError("simulated environment crash")
    return super().step(action)

  def reset(self, task, variation):
    self._task, self._variation = task, variation
    return super().reset(task, variation)


class KillingEnv(RaisingEnv):
  """Kills its whole worker process the first time variation 2 runs."""

  def step(self, action):
    if self._variation == 2 and _first_time(f"kill-{self._task}-2"):
      os._exit(13)
    return super().step(action)
