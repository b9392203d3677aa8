"""Choice policies: probabilities sum to 1, propensities are the chosen probability."""

import numpy as np
import pytest

from mtr_jax.routing.policies import Policy

Q = np.array([0.2, 0.9, -np.inf, 0.5, 0.1])


@pytest.mark.parametrize("policy", [Policy("greedy"), Policy("epsilon", epsilon=0.2),
                                    Policy("softmax", temperature=0.5),
                                    Policy("mixed", beta=0.5)])
def test_probabilities_and_propensities(policy):
  probs = policy.probabilities(Q)
  assert probs.sum() == pytest.approx(1.0, abs=1e-12)
  assert probs[2] == 0.0  # masked
  rng = np.random.default_rng(0)
  counts = np.zeros(len(Q))
  for _ in range(4000):
    k, prop, p = policy.choose(Q, rng)
    assert prop == p[k] and k != 2
    counts[k] += 1
  np.testing.assert_allclose(counts / counts.sum(), probs, atol=0.03)


def test_exact_values():
  valid = 4
  np.testing.assert_allclose(Policy("greedy").probabilities(Q), [0, 1, 0, 0, 0])
  np.testing.assert_allclose(Policy("mixed", beta=0.5).probabilities(Q),
                             [0.5 / valid, 0.5 + 0.5 / valid, 0, 0.5 / valid, 0.5 / valid])
  np.testing.assert_allclose(Policy("epsilon", epsilon=0.1).probabilities(Q),
                             [0.1 / valid, 0.9 + 0.1 / valid, 0, 0.1 / valid, 0.1 / valid])
  e = np.exp(np.array([0.2, 0.9, 0.5, 0.1]) / 2.0)
  np.testing.assert_allclose(Policy("softmax", temperature=2.0).probabilities(Q),
                             np.insert(e / e.sum(), 2, 0.0))


def test_errors():
  with pytest.raises(ValueError, match="unknown policy"):
    Policy("thompson")
  with pytest.raises(ValueError, match="beta"):
    Policy("mixed", beta=1.5)
  with pytest.raises(ValueError, match="every candidate is masked"):
    Policy().probabilities(np.array([-np.inf, -np.inf]))
