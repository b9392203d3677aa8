"""What a sweep may vary, and where its arrays live.

  check_same_shapes(configs)      # ValueError naming the first differing field
  mesh = member_mesh()            # 1-D Mesh over every device, axis "member"
  initialize_distributed_if_launched()   # at program start, before any JAX work

Members of one vmapped sweep share every shape: batch size, epochs, widths,
validation split sizes, evaluation chunking. They may differ only in
VARIED_FIELDS (traced per-member values). Shape-changing choices (pool, widths,
encoder) are separate jobs (launch/).

Placement: without a mesh, everything is committed to the first device (as
`train.train` does). With a mesh, member-stacked arrays are sharded over its
"member" axis when the member count divides the mesh size, and replicated
otherwise; shared data is replicated. Host arrays go to devices through
`jax.make_array_from_callback` when the sharding spans other processes, and come
back through `multihost_utils.process_allgather`, so the same code runs on one
host and on a multi-host launch (untested here: no multi-host machine in CI).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MEMBER_AXIS = "member"

# Fields that may differ between members: none of them changes a shape.
VARIED_FIELDS = ("seed", "optim.lr", "optim.weight_decay", "optim.end_lr",
                 "optim.clip", "optim.patience", "model.dropout", "loss.residual_l2",
                 "loss.ipw")


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      out.update(_flatten(value, f"{name}."))
    else:
      out[name] = tuple(value) if isinstance(value, list) else value
  return out


def check_same_shapes(configs: Sequence[Any]) -> None:
  """Raises ValueError naming the first field outside VARIED_FIELDS whose value
  differs between members (configs: resolved ml_collections ConfigDicts)."""
  flat = [_flatten(c.to_dict()) for c in configs]
  for i, other in enumerate(flat[1:], 1):
    for field in sorted(set(flat[0]) | set(other)):
      if field in VARIED_FIELDS:
        continue
      a, b = flat[0].get(field, "<missing>"), other.get(field, "<missing>")
      if a != b:
        raise ValueError(
            f"train_sweep: configs differ in {field} (member 0: {a!r}, member {i}: "
            f"{b!r}); one vmapped sweep may vary only {', '.join(VARIED_FIELDS)}. "
            f"Shape-changing choices are separate jobs.")
  for i, c in enumerate(configs):
    if not 0.0 <= float(c.model.dropout) < 1.0:
      raise ValueError(f"train_sweep: member {i}: model.dropout must be in [0, 1), "
                       f"got {c.model.dropout}")


def varied_values(config) -> dict[str, Any]:
  """The VARIED_FIELDS of one config, e.g. for a sweep summary."""
  flat = _flatten(config.to_dict())
  return {f: flat[f] for f in VARIED_FIELDS}


def member_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh with axis "member" over `devices` (default: every device of every
  process)."""
  devices = list(jax.devices() if devices is None else devices)
  return Mesh(np.array(devices), (MEMBER_AXIS,))


def initialize_distributed_if_launched(environ: Mapping[str, str] | None = None,
                                       initialize=None) -> bool:
  """Calls `jax.distributed.initialize` when the environment is a multi-process
  launch, and returns whether it did. Call it first thing in a program (before
  any JAX computation); never in tests.

  Detected launches: JAX_COORDINATOR_ADDRESS with JAX_NUM_PROCESSES and
  JAX_PROCESS_ID (explicit), or more than one task of a SLURM step
  (SLURM_STEP_NUM_TASKS / SLURM_NTASKS) or of Open MPI (OMPI_COMM_WORLD_SIZE),
  which jax.distributed detects by itself.
  """
  env = os.environ if environ is None else environ
  initialize = jax.distributed.initialize if initialize is None else initialize
  address = env.get("JAX_COORDINATOR_ADDRESS")
  if address:
    initialize(coordinator_address=address,
               num_processes=int(env["JAX_NUM_PROCESSES"]),
               process_id=int(env["JAX_PROCESS_ID"]))
    return True
  tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or "1"
  if int(tasks) > 1 or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    initialize()
    return True
  return False


def _put_leaf(x, sharding: jax.sharding.Sharding):
  if sharding.is_fully_addressable:
    return jax.device_put(x, sharding)
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


class Placement:
  """Puts member-stacked trees (leading axis M) and shared trees on devices."""

  def __init__(self, mesh: Mesh | None, num_members: int):
    if mesh is None:
      self.shared_sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
      self.member_sharding = self.shared_sharding
      self.sharded = False
      return
    if tuple(mesh.axis_names) != (MEMBER_AXIS,):
      raise ValueError(f"train_sweep: the mesh must be 1-D with axis "
                       f"{MEMBER_AXIS!r}, got axes {mesh.axis_names}")
    self.shared_sharding = NamedSharding(mesh, PartitionSpec())
    self.sharded = num_members % mesh.size == 0
    self.member_sharding = (NamedSharding(mesh, PartitionSpec(MEMBER_AXIS))
                            if self.sharded else self.shared_sharding)

  def member(self, tree):
    return jax.tree.map(lambda x: _put_leaf(x, self.member_sharding), tree)

  def shared(self, tree):
    return jax.tree.map(lambda x: _put_leaf(x, self.shared_sharding), tree)


def to_host(tree):
  """numpy copies of a tree of (possibly multi-process sharded) arrays."""

  def leaf(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)

  return jax.tree.map(leaf, tree)
