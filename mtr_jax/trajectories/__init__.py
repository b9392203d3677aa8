"""Trajectory files (`*.traj.json`, format "mini-agentic-router-1"): one episode
each; read with every field variant of the reference implementation, written
atomically and validated."""

from __future__ import annotations

from mtr_jax.trajectories.io import (FORMAT, KNOWN_FORMATS, QA_BENCHMARKS,
                                     SUFFIX, Step, Trajectory,
                                     TrajectoryError, find_trajectories,
                                     iter_trajectories, read_trajectory,
                                     resolve_model, trajectory_from_dict,
                                     write_trajectory)

__all__ = ["FORMAT", "KNOWN_FORMATS", "QA_BENCHMARKS", "SUFFIX",
           "Step", "Trajectory", "TrajectoryError", "find_trajectories",
           "iter_trajectories", "read_trajectory", "resolve_model",
           "trajectory_from_dict", "write_trajectory"]
