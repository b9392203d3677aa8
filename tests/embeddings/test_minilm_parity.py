"""The real all-MiniLM-L6-v2 against sentence-transformers vectors (fixture made with torch).

The fixture comes from tools/make_encoder_fixture.py: 32 texts (short, formatted
histories, longer than 256 tokens, unicode) and their sentence-transformers
vectors.
"""

from pathlib import Path

import numpy as np
import pytest

from mtr_jax.embeddings import MiniLMEncoder, history_text, make_encoder

FIXTURE = Path(__file__).parent / "data" / "minilm_fixture.npz"

pytestmark = pytest.mark.slow


@pytest.fixture(name="fixture", scope="module")
def _fixture():
  with np.load(FIXTURE) as data:
    return {k: data[k] for k in data.files}


@pytest.fixture(name="encoder", scope="module")
def _encoder():
  return make_encoder("all-MiniLM-L6-v2")


def test_fixture_is_for_these_weights(fixture, encoder):
  assert str(fixture["weights_sha256"]) == encoder.fingerprint["weights_sha256"]
  assert int(fixture["max_seq_length"]) == encoder.max_seq_len == 256
  assert encoder.max_tokens == 254 and encoder.dim == 384


def test_matches_sentence_transformers(fixture, encoder):
  texts = fixture["texts"].tolist()
  assert any(encoder.count_tokens(t) > encoder.max_tokens for t in texts)
  got = encoder.encode(texts)
  max_abs = np.abs(got - fixture["vectors"]).max()
  assert max_abs <= 1e-5, f"max abs diff {max_abs:.2e}"


def test_batch_sizes_and_buckets_agree(fixture, encoder):
  texts = fixture["texts"].tolist()
  other = MiniLMEncoder(batch_size=5, buckets=(64, 128))
  assert other.buckets == (64, 128, 256)
  np.testing.assert_allclose(other.encode(texts), encoder.encode(texts), atol=1e-5)
  one = encoder.encode(texts[:1])
  np.testing.assert_allclose(one[0], encoder.encode(texts)[0], atol=1e-5)


def test_second_call_does_not_recompile(fixture, encoder):
  texts = fixture["texts"].tolist()
  encoder.encode(texts)
  encoder.encode(texts[:3])
  encoder.encode(texts[:1])
  traces = encoder.num_traces
  assert traces <= 3 * len(encoder.buckets)   # row buckets (1, 8, 32) x length buckets
  encoder.encode([t + " more words" for t in texts[::-1]])
  encoder.encode([t + " more" for t in texts[:3]])
  encoder.encode([texts[1]])
  assert encoder.num_traces == traces


def test_history_fits_and_empty_history_is_zero(encoder):
  messages = [{"role": "system", "content": "You are an agent."},
              {"role": "user", "content": "<task_description>Your task is to boil water."
                                          "</task_description><initial_observation>A kitchen."
                                          "</initial_observation>"}]
  for n in range(1, 30):
    messages += [{"role": "assistant", "content": f"THOUGHT: try {n}.\n```text\nlook around\n```"},
                 {"role": "user", "content": "No known action matches that input. " * 3}]
  text = history_text(messages, encoder)
  assert encoder.count_tokens(text) <= encoder.max_tokens
  vectors = encoder.encode([text, history_text([], encoder)])
  assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
  np.testing.assert_array_equal(vectors[1], 0.0)
