"""Starting and stopping the JVM behind a Java text environment (py4j).

Both ScienceWorld and TextWorld-Express are Scala simulators reached through a
py4j gateway. Their own Python wrappers hard-code the JVM options, so we start
the gateway here instead, which lets us pass one option that matters:

  -XX:+UnlockExperimentalVMOptions -XX:hashCode=2

makes every Java identity hash code equal. ScienceWorld iterates over hash sets
of objects whose hash codes are identity hashes, so without it the order in
which e.g. bees move, or which plant the gold agent picks, changes from one
load to the next (even with the same variation, in the same process). With it,
every observation along any action sequence is a pure function of (task,
variation, actions), in any process (ScienceWorld seeds its global Random with
the variation on load). Its gold-path generator can still depend on what the
JVM loaded before, hence the committed gold cache. It costs some speed (hash
sets degrade to lists; they are small here).
"""

from __future__ import annotations

import contextlib
import time

from mtr_jax.envs.base import EnvironmentError_

DETERMINISTIC_JVM_OPTIONS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")


class UnknownTaskError(EnvironmentError_, ValueError):
  """An unknown task/game name or an out-of-range variation/seed."""


class JavaServer:
  """One JVM running `jar_path`, with the py4j gateway to it.

  `entry(gateway.jvm)` returns the simulator's Python interface object.
  """

  def __init__(self, label: str, jar_path: str, cwd: str, entry, *,
               javaopts: tuple[str, ...] = ()):
    from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway

    self.label = label
    t0 = time.perf_counter()
    try:
      port, proc = launch_gateway(classpath=jar_path, die_on_exit=True, cwd=cwd,
                                  javaopts=list(javaopts), return_proc=True)
      self.gateway = JavaGateway(
          gateway_parameters=GatewayParameters(auto_field=True, port=port),
          java_process=proc)
      self.server = entry(self.gateway.jvm)
    except Exception as e:  # java missing, bad jar, port trouble...
      raise EnvironmentError_(f"{label}: could not start the JVM ({jar_path}): {e}") from e
    self.start_seconds = time.perf_counter() - t0
    self._closed = False

  @property
  def pid(self) -> int:
    return self.gateway.java_process.pid

  def close(self) -> None:
    """Shuts the gateway and the JVM down (idempotent)."""
    if self._closed:
      return
    self._closed = True
    proc = self.gateway.java_process
    with contextlib.suppress(Exception):
      self.gateway.shutdown()
    # py4j issue 320: the JVM exits once its stdin sees a newline/EOF.
    with contextlib.suppress(Exception):
      if proc.poll() is None:
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        proc.stdin.close()
    with contextlib.suppress(Exception):
      proc.wait(timeout=5)
    with contextlib.suppress(Exception):
      if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


class JvmEnvironment:
  """What the JVM-backed environments share: the server's lifetime and the
  action history since reset. Subclasses set `self._jvm` and `self._history`."""

  _jvm: JavaServer
  _history: list[str]

  def close(self) -> None:
    self._jvm.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  @property
  def jvm_start_seconds(self) -> float:
    return self._jvm.start_seconds

  @property
  def jvm_pid(self) -> int:
    return self._jvm.pid

  def history(self) -> list[str]:
    """Actions sent to the simulator since reset."""
    return list(self._history)


def call(label: str, fn, *args):
  """Calls into the JVM, turning py4j failures into EnvironmentError_."""
  from py4j.protocol import Py4JError

  try:
    return fn(*args)
  except Py4JError as e:
    raise EnvironmentError_(f"{label}: the simulator failed: {e}") from e
