"""Model backends: simulated agents (the offline testbed) and real endpoints."""

from mtr_jax.agents.base import Backend, BackendError, Completion, TurnContext

__all__ = ["Backend", "BackendError", "Completion", "TurnContext", "make_backends"]


def make_backends() -> dict[str, Backend]:
  """One backend object per backend kind, keyed as in pool YAML files."""
  from mtr_jax.agents.openai_backend import OpenAIBackend
  from mtr_jax.agents.simulated import SimulatedBackend
  return {"simulated": SimulatedBackend(), "openai": OpenAIBackend()}
