"""Baseline routers of the paper's comparison, each a `Router` (reset/select).

Single-turn routers adapted to multi-turn as the paper compares them (route
once from the task, keep that model for the episode): `RouterDCRouter`
(dual-contrastive), `EmbedLLMRouter` (matrix factorisation),
`AvengersProRouter` (k-means clusters with a performance-cost trade-off).
Per-turn learned baselines of the reference on the history embeddings:
`RidgeRouter` (per-model ridge), `ClusterQRouter` (k-means Q-table).
`PromptedLLMRouter`: a policy LLM names the model (real endpoints only; not
available on the simulated testbed). Router-R1 (an RL-trained routing LLM) is
out of scope. Single models and the random router live in
`mtr_jax.routing.base` (`FixedRouter`, `RandomRouter`).
"""

from mtr_jax.routing.baselines.avengerspro import AvengersProRouter
from mtr_jax.routing.baselines.cluster_q import ClusterQRouter
from mtr_jax.routing.baselines.common import BaselineRouter, task_history
from mtr_jax.routing.baselines.embedllm import EmbedLLMRouter
from mtr_jax.routing.baselines.kmeans import KMeans, kmeans
from mtr_jax.routing.baselines.outcomes import Outcomes, episode_outcomes
from mtr_jax.routing.baselines.prompted import (PromptedLLMRouter, PromptedRouterError,
                                                PromptedRouterUnavailable)
from mtr_jax.routing.baselines.registry import (KINDS, LEARNED, fit_baseline, load_baseline,
                                                make_baseline, parse_overrides)
from mtr_jax.routing.baselines.ridge import RidgeRouter, fit_ridge
from mtr_jax.routing.baselines.routerdc import RouterDCRouter

__all__ = ["AvengersProRouter", "BaselineRouter", "ClusterQRouter", "EmbedLLMRouter", "KINDS",
           "KMeans", "LEARNED", "Outcomes", "PromptedLLMRouter", "PromptedRouterError",
           "PromptedRouterUnavailable", "RidgeRouter", "RouterDCRouter", "episode_outcomes",
           "fit_baseline", "fit_ridge", "kmeans", "load_baseline", "make_baseline",
           "parse_overrides", "task_history"]
