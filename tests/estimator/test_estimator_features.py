"""Model metadata features: hand-computed values, defaults, statistics round trip."""

import datetime as dt
import json
import math

import numpy as np
import pytest

from mtr_jax.estimator import features
from mtr_jax.pool import ModelSpec, load_pool

GPT5 = ModelSpec("openai/gpt-5", 1.25, 10.0, 400000, 128000, dt.date(2024, 9, 30))
# JSON metadata with every optional field missing or null -> the defaults.
BARE = {"name": "acme/bare", "knowledge_cutoff": None}
OSS = ModelSpec("openai/gpt-oss-120b", 0.09, 0.36, 131072, 131072, dt.date(2025, 9, 1))


def hand_raw(max_in, max_out, p_in, p_out, cutoff_days):
  return [math.log1p(max_in), math.log1p(max_out), math.log1p(p_in), math.log1p(p_out),
          float(cutoff_days), math.log1p(max_in + max_out),
          math.log1p(p_out / (p_in + 1e-6)), math.log1p(p_in + p_out)]


# 2024-09-30 -> 2026-01-01: 1 + 92 + 365 days; 2024-01-01: 366 + 365; 2025-09-01: 122.
RAW_GPT5 = hand_raw(400000, 128000, 1.25, 10.0, -458)
RAW_BARE = hand_raw(128000, 4096, 1.0, 5.0, -731)
RAW_OSS = hand_raw(131072, 131072, 0.09, 0.36, -122)


def test_raw_features_by_hand():
  np.testing.assert_allclose(features.raw_features([GPT5, BARE, OSS]),
                             np.array([RAW_GPT5, RAW_BARE, RAW_OSS]), rtol=1e-12)


def test_model_features_by_hand():
  stats = features.FeatureStats.fit([GPT5, BARE, OSS])
  rows = [RAW_GPT5, RAW_BARE, RAW_OSS]
  expected = []
  for row in (RAW_GPT5, RAW_BARE):
    out = []
    for j, x in enumerate(row):
      col = [r[j] for r in rows]
      mean = sum(col) / 3
      pstd = math.sqrt(sum((c - mean) ** 2 for c in col) / 3)
      out.append((x - mean) / (pstd + 1e-6))
    expected.append(out)
  got = features.model_features([GPT5, BARE], stats)
  assert got.dtype == np.float32 and got.shape == (2, 8)
  np.testing.assert_allclose(got, np.array(expected), atol=1e-5)


def test_spec_and_json_metadata_agree():
  pool = load_pool("paper6")
  stats = features.FeatureStats.fit(list(pool))
  from_json = [json.loads(json.dumps(m.metadata())) for m in pool]
  np.testing.assert_array_equal(features.model_features(list(pool), stats),
                                features.model_features(from_json, stats))


def test_missing_cutoff_defaults():
  no_cutoff = ModelSpec("x", 0.39, 1.9, 131000, 131000, None)
  with_default = ModelSpec("x", 0.39, 1.9, 131000, 131000, dt.date(2024, 1, 1))
  np.testing.assert_array_equal(features.raw_features([no_cutoff]),
                                features.raw_features([with_default]))
  assert features.raw_features([{}])[0].tolist() == pytest.approx(RAW_BARE)


def test_constant_feature_is_finite_zero():
  a = ModelSpec("a", 1.0, 2.0, 1000, 100, dt.date(2025, 1, 1))
  b = ModelSpec("b", 3.0, 4.0, 1000, 100, dt.date(2025, 1, 1))
  got = features.model_features([a, b], features.FeatureStats.fit([a, b]))
  assert np.all(np.isfinite(got))
  np.testing.assert_array_equal(got[:, [0, 1, 4, 5]], 0.0)


def test_stats_json_round_trip():
  stats = features.FeatureStats.fit(list(load_pool("paper6")))
  back = features.FeatureStats.from_json(stats.to_json())
  np.testing.assert_array_equal(back.mean, stats.mean)
  np.testing.assert_array_equal(back.std, stats.std)
  back = features.FeatureStats.from_json(json.loads(stats.to_json()))
  np.testing.assert_array_equal(back.std, stats.std)
  bad = stats.to_dict() | {"features": ["a"] * 8}
  with pytest.raises(ValueError, match="differ"):
    features.FeatureStats.from_dict(bad)
  with pytest.raises(ValueError, match="shape"):
    features.FeatureStats(mean=np.zeros(7), std=np.ones(8))


def test_rejects_other_types():
  with pytest.raises(TypeError, match="ModelSpec"):
    features.raw_features(["openai/gpt-5"])


def test_model_ids_and_padding():
  ids = features.model_ids(["b", "zzz", "a"], ["a", "b"])
  np.testing.assert_array_equal(ids, [1, -1, 0])
  assert ids.dtype == np.int32
  feats = np.ones((3, 8), np.float32)
  f, i, m = features.pad_candidates(feats, ids, 5)
  assert f.shape == (5, 8) and i.shape == (5,) and m.shape == (5,)
  np.testing.assert_array_equal(m, [True, True, True, False, False])
  np.testing.assert_array_equal(i, [1, -1, 0, -1, -1])
  np.testing.assert_array_equal(f[3:], 0.0)
  with pytest.raises(ValueError, match="fit"):
    features.pad_candidates(feats, ids, 2)
