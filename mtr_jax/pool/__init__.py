"""Model pools: the models a router chooses between, loaded from YAML."""

from mtr_jax.pool.pool import (BACKENDS, STEP_KINDS, CompletionLength, Endpoint,
                               ModelSpec, Pool, PoolError, Profile, load_pool,
                               model_from_dict)

__all__ = ["BACKENDS", "STEP_KINDS", "CompletionLength", "Endpoint", "ModelSpec",
           "Pool", "PoolError", "Profile", "load_pool", "model_from_dict"]
