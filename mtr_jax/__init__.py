"""mtr-jax: cost-aware multi-turn LLM routing (MTRouter) in JAX/Flax."""

__version__ = "0.1.0"
