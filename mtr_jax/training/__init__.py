"""Training the outcome estimator: targets (score, annealed error cost, cost),
samples from trajectories and the validation split grouped by episode."""

from __future__ import annotations

from mtr_jax.training.samples import Samples, build_samples, split_by_episode
from mtr_jax.training.targets import (DEFAULT_ERROR_RULES, DEFAULT_EXPECTED_STEPS,
                                      SEVERITIES, ErrorRule, TrainingDataError,
                                      aec_weight, annealed_error_costs,
                                      default_error_rules, error_severities,
                                      mean_episode_cost, normalised_score,
                                      step_targets)

__all__ = ["Samples", "build_samples", "split_by_episode", "DEFAULT_ERROR_RULES",
           "DEFAULT_EXPECTED_STEPS", "SEVERITIES", "ErrorRule", "TrainingDataError",
           "aec_weight", "annealed_error_costs", "default_error_rules",
           "error_severities", "mean_episode_cost", "normalised_score",
           "step_targets"]
