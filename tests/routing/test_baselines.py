"""Learned baseline routers: k-means, ridge and the tables by hand; each baseline
fits on toy trajectories, routes real toy episodes, and survives save/load."""

import dataclasses
import hashlib

import numpy as np
import pytest

from mtr_jax.agents import make_backends
from mtr_jax.envs.base import TaskRef
from mtr_jax.envs.toy import ToyEnv
from mtr_jax.pool import Pool, load_pool
from mtr_jax.rollout.collect import RouterSpec, collect
from mtr_jax.rollout.episode import run_episode
from mtr_jax.routing.baselines import (LEARNED, AvengersProRouter, ClusterQRouter,
                                       RidgeRouter, episode_outcomes, fit_baseline,
                                       fit_ridge, kmeans, load_baseline, make_baseline,
                                       parse_overrides)
from mtr_jax.routing.baselines.cluster_q import cluster_table
from mtr_jax.routing.baselines.kmeans import nearest
from mtr_jax.routing.baselines.routerdc import contrastive_masks
from mtr_jax.training.dataset import load_trajectories
from mtr_jax.training.samples import build_samples
from mtr_jax.trajectories import read_trajectory, write_trajectory

DIM = 8
ENV = "mtr_jax.envs.toy:ToyEnv"
SINGLE_TURN = ("routerdc", "embedllm", "avengerspro")
FAST = {"routerdc": {"steps": 150}, "embedllm": {"steps": 200}}


from hash_encoder import DIM, HashEncoder  # noqa: E402,F401


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """Roulette (2 runs) and single-model (1 run per model) toy episodes."""
  root = tmp_path_factory.mktemp("baseline_data")
  refs = [TaskRef(t, v) for t in ("fetch", "plant") for v in range(10)]
  collect(ENV, refs, mode="roulette", runs=2, out=root / "roulette", progress=False)
  collect(ENV, refs, mode="baseline", runs=1, out=root / "single", progress=False)
  return [root / "roulette", root / "single"]


@pytest.fixture(scope="module")
def trajectories(folders, pool):
  return load_trajectories(folders, pool, progress=False)


@pytest.fixture(scope="module")
def fitted(trajectories, pool):
  return {kind: make_baseline(kind, HashEncoder(), **FAST.get(kind, {})).fit(trajectories, pool)
          for kind in LEARNED}


def _episode(router, pool, task="fetch", variation=3, seed=11):
  return run_episode(ToyEnv(), task, variation, pool=pool, router=router,
                     backends=make_backends(), seed=seed)


def _models(traj):
  return [m["model_name"] for m in traj["messages"] if m["role"] == "assistant"]


# ---------------------------------------------------------------------------
# Building blocks, checked by hand.

def test_kmeans_finds_separable_clusters():
  rng = np.random.default_rng(0)
  means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  truth = np.repeat(np.arange(3), 30)
  x = means[truth] + 0.3 * rng.standard_normal((90, 2))
  km = kmeans(x, 3, seed=1)
  assert km.k == 3
  for c in range(3):  # every true blob is exactly one found cluster
    assert len(set(km.labels[truth == c])) == 1
  assert len(set(km.labels)) == 3
  order = [int(km.labels[truth == c][0]) for c in range(3)]
  np.testing.assert_allclose(km.centroids[order], means, atol=0.2)
  assert kmeans(x, 3, seed=1).labels.tolist() == km.labels.tolist()  # seeded
  assert nearest(np.array([9.0, 1.0]), km.centroids, 1).tolist() == [order[1]]
  assert kmeans(np.ones((5, 2)), 3).k == 1  # k capped at the distinct points


def test_ridge_closed_form_matches_hand_computation():
  # x = 0, 1, 2; y = 1, 3, 5; alpha = 1: xm = 1, ym = 3, Sxx = 2, Sxy = 4
  # w = 4 / (2 + 1) = 4/3, b = 3 - 4/3 = 5/3
  w, b = fit_ridge(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]), alpha=1.0)
  np.testing.assert_allclose(w, [4 / 3])
  np.testing.assert_allclose(b, 5 / 3)
  # alpha = 0 and an exact line: recovers it
  w, b = fit_ridge(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]), alpha=0.0)
  np.testing.assert_allclose([w[0], b], [2.0, 1.0], atol=1e-12)
  # weights: a row of weight 2 is the same as the row twice
  x, y = np.array([[0.0], [1.0], [3.0]]), np.array([0.0, 2.0, 1.0])
  wa, ba = fit_ridge(x, y, 0.5, weight_N=np.array([1.0, 2.0, 1.0]))
  wb, bb = fit_ridge(x[[0, 1, 1, 2]], y[[0, 1, 1, 2]], 0.5)
  np.testing.assert_allclose([wa[0], ba], [wb[0], bb], atol=1e-12)


def test_ridge_router_fits_each_model_on_its_own_samples():
  router = RidgeRouter(HashEncoder(), alpha=1.0, lam=2.0)
  z = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
  action = np.array([0, 0, 0, 1, 1])
  score = np.array([1.0, 3.0, 5.0, 0.0, 0.0])
  cost = np.array([0.0, 0.0, 0.0, 1.0, 3.0])
  router.fit_arrays(z, action, score, cost, np.ones(5), ("a", "b", "c"))
  s, c = router.predict(np.array([1.0]))
  np.testing.assert_allclose(s[0], 4 / 3 + 5 / 3)   # the hand case above, at x = 1
  # model b: x = 5, 6; cost 1, 3: xm = 5.5, ym = 2, Sxx = 0.5, Sxy = 1 -> v = 1/1.5
  np.testing.assert_allclose(c[1], 2 / 3 * 1 + (2 - 2 / 3 * 5.5))
  q = router.scores(np.array([1.0]))
  np.testing.assert_allclose(q[:2], s[:2] - 2.0 * c[:2])
  assert q[2] == -np.inf  # model "c" has no samples


def test_ridge_parts_combine_to_the_estimator_target(trajectories, pool, fitted):
  """Fitting score and cost apart equals fitting y_t = score - lam * cost."""
  router = fitted["ridge"]
  samples = build_samples(trajectories, pool, lam=router.lam)
  enc = HashEncoder()
  from mtr_jax.embeddings import history_text
  z = enc.encode([history_text(h, enc) for h in samples.history])
  k = 1
  rows = samples.action == k
  w, b = fit_ridge(z[rows], samples.target[rows], router.alpha)
  s, c = router.predict(z[0])
  np.testing.assert_allclose(s[k] - router.lam * c[k], z[0] @ w + b, atol=1e-5)


def test_cluster_table_means_and_fallback():
  labels = np.array([0, 0, 1, 1])
  action = np.array([0, 1, 0, 0])
  value = np.array([1.0, 2.0, 3.0, 5.0])
  mean, w = cluster_table(labels, action, value, np.ones(4), 2, 3)
  # model 1 never seen in cluster 1: its overall mean (2); model 2 never: 0
  np.testing.assert_allclose(mean, [[1.0, 2.0, 0.0], [4.0, 2.0, 0.0]])
  np.testing.assert_allclose(w, [[1, 1, 0], [2, 0, 0]])
  shrunk, _ = cluster_table(labels, action, value, np.ones(4), 2, 3, prior_count=1.0)
  np.testing.assert_allclose(shrunk[0, 0], (1.0 + 3.0) / 2)  # overall mean of model 0: 3


def test_contrastive_masks_top_positive_strictly_worse_negatives():
  u = np.array([[0.9, 0.1, 0.5, 0.1], [0.5, 0.5, 0.5, 0.5], [0.2, 0.8, 0.0, 0.0]])
  obs = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]], bool)
  pos, neg = contrastive_masks(u, obs, k_pos=1, k_neg=2)
  assert pos[0].tolist() == [True, False, False, False]
  assert neg[0].tolist() == [False, True, False, True]   # the bottom two, not 0.5
  assert not neg[1].any()                       # all tied: no negatives
  assert pos[2].tolist() == [False, True, False, False]
  assert neg[2].tolist() == [True, False, False, False]


def test_episode_outcomes_of_single_model_episodes(trajectories, pool):
  single = [t for t in trajectories if len({s.model for s in t.steps}) == 1]
  out = episode_outcomes(single, pool, HashEncoder(), min_share=1.0)
  # toy tasks: 4 rooms x 4 objects shared by fetch/plant give 8 distinct queries
  assert len(out) == 8 and out.observed_QxK.all()
  assert out.episodes_Q.sum() == len(single)
  # one pair by hand: the mean normalised score and cost of its episodes
  from mtr_jax.embeddings import history_text
  from mtr_jax.routing.baselines import task_history
  from mtr_jax.training.targets import normalised_score
  q, k = 0, pool.names.index("openai/gpt-5")
  mine = [t for t in single if t.steps[0].model == "openai/gpt-5"
          and history_text(task_history(t.messages), HashEncoder()) == out.texts[q]]
  scale = out.cost_scale["toy"]
  assert out.weight_QxK[q, k] == len(mine)
  np.testing.assert_allclose(out.score_QxK[q, k],
                             np.mean([normalised_score(t.final_score, "toy") for t in mine]))
  np.testing.assert_allclose(out.cost_QxK[q, k], np.mean([t.total_cost for t in mine]) / scale)


def _planted_outcomes(rng):
  """Two task groups with opposite best models; model 2 is never observed."""
  from mtr_jax.routing.baselines import Outcomes
  group = np.repeat([0, 1], 12)
  centres = rng.standard_normal((2, DIM)) * 3
  z = centres[group] + 0.3 * rng.standard_normal((24, DIM))
  score = np.where(group[:, None] == 0, [0.9, 0.2, 0.0], [0.1, 0.8, 0.0])
  cost = np.tile([1.0, 0.5, 0.0], (24, 1))
  weight = np.tile([1.0, 1.0, 0.0], (24, 1))
  out = Outcomes([f"q{i}" for i in range(24)], score, cost, weight, np.ones(24, np.int64),
                 ("a", "b", "c"), {"toy": 1.0})
  return out, z.astype(np.float32), group


@pytest.mark.parametrize("kind", ["routerdc", "embedllm", "avengerspro"])
def test_single_turn_routers_learn_a_planted_preference(kind):
  out, z, group = _planted_outcomes(np.random.default_rng(3))
  router = make_baseline(kind, HashEncoder(), **FAST.get(kind, {}))
  if kind == "avengerspro":
    router.cost_weight = 0.0
  router.fit_outcomes(out, z)
  picks = np.array([int(np.argmax(router.scores(v))) for v in z])
  np.testing.assert_array_equal(picks, group)   # group 0 -> "a", group 1 -> "b"
  assert all(router.scores(v)[2] == -np.inf for v in z[:2])   # never observed
  if kind == "routerdc":
    assert router.meta["final_loss"] < 0.5 * router.meta["initial_loss"]
  if kind == "embedllm":  # soft labels: the loss floor is their entropy (~0.41)
    assert router.meta["final_loss"] < 0.45 < router.meta["initial_loss"]
    np.testing.assert_allclose(router.predict(z[0])[:2], [0.9, 0.2], atol=0.1)


# ---------------------------------------------------------------------------
# Every learned baseline on real toy episodes.

@pytest.mark.parametrize("kind", sorted(LEARNED))
def test_routes_a_real_episode_and_save_load_round_trip(kind, fitted, pool, tmp_path):
  router = fitted[kind]
  traj = _episode(router, pool)
  models = _models(traj)
  assert models and set(models) <= set(pool.names)
  path = write_trajectory(tmp_path / "ep.traj.json", traj)
  assert read_trajectory(path, pool).n_steps == len(models)
  if kind in SINGLE_TURN:
    for task, var in [("fetch", 1), ("plant", 2), ("plant", 7)]:
      assert len(set(_models(_episode(router, pool, task, var)))) == 1
    steps = [m for m in traj["messages"] if m["role"] == "assistant"]
    assert all(s["router_info"]["single_turn"] for s in steps)
  router.save(tmp_path / kind)
  loaded = load_baseline(tmp_path / kind, encoder=HashEncoder())
  assert type(loaded) is type(router) and loaded.config() == router.config()
  assert _episode(loaded, pool) == traj
  for task, var in [("fetch", 5), ("plant", 0)]:
    assert _episode(loaded, pool, task, var, seed=3) == _episode(router, pool, task, var, seed=3)
  z = HashEncoder().encode(["[Task]\nsomething new"])[0]
  np.testing.assert_allclose(loaded.scores(z), router.scores(z), rtol=1e-6)


@pytest.mark.parametrize("kind", SINGLE_TURN)
def test_single_turn_routers_embed_once_per_episode(kind, fitted, pool, monkeypatch):
  router = fitted[kind]
  calls = []
  embed = router.embed
  monkeypatch.setattr(router, "embed", lambda m: calls.append(len(m)) or embed(m))
  traj = _episode(router, pool, "plant", 6)
  assert len(_models(traj)) > 1 and calls == [2]   # system + first user message
  _episode(router, pool, "plant", 6)
  assert calls == [2, 2]   # reset: the next episode routes again


def test_single_turn_choice_is_per_task(fitted, pool):
  router = fitted["avengerspro"]
  router.reset(0)
  first = [_episode(router, pool, "fetch", v)["messages"][2]["router_info"]["scores"]
           for v in range(4)]
  assert len({tuple(s.values()) for s in first}) > 1  # tasks in different clusters


def test_routing_time_knobs_override_at_load(fitted, pool, tmp_path):
  fitted["ridge"].save(tmp_path / "ridge")
  greedy_cheap = load_baseline(tmp_path / "ridge", encoder=HashEncoder(), lam=1e6)
  assert greedy_cheap.lam == 1e6
  for m in _models(_episode(greedy_cheap, pool)):
    assert m != "openai/gpt-5"   # by far the most expensive on the toy testbed
  fitted["avengerspro"].save(tmp_path / "av")
  cheapest = load_baseline(tmp_path / "av", encoder=HashEncoder(), cost_weight=1.0)
  messages = _episode(cheapest, pool)["messages"]
  cheapest.reset(0)
  d = cheapest.select(messages[:2], pool, 0.0, 2.0)
  c = nearest(cheapest.embed(messages[:2]), cheapest.centroids_CxD)[0]
  assert set(_models({"messages": messages})) == {d.model}
  assert d.model == pool.names[int(np.argmin(cheapest.cost_CxK[c]))]
  assert parse_overrides("lam=0.5; cost_weight=1;aec=false") == \
      {"lam": 0.5, "cost_weight": 1, "aec": False}
  with pytest.raises(TypeError, match="unknown overrides"):
    load_baseline(tmp_path / "av", encoder=HashEncoder(), lam=1.0)


def test_fingerprint_mismatch_and_unknown_models(fitted, pool, tmp_path):
  fitted["cluster_q"].save(tmp_path / "cq")
  other = HashEncoder()
  other.fingerprint = {"name": "hash", "dim": DIM, "weights_sha256": "x"}
  with pytest.raises(ValueError, match="fitted on embeddings of encoder"):
    load_baseline(tmp_path / "cq", encoder=other)
  router = ClusterQRouter.load(tmp_path / "cq", encoder=HashEncoder())
  extra = dataclasses.replace(pool["openai/gpt-5"], name="new/model")
  bigger = Pool("p", (*pool.models, extra))
  with pytest.warns(UserWarning, match="new/model.*never chosen"):
    q = router.pool_scores(_episode(router, pool)["messages"][:2], bigger)
  assert q[-1] == -np.inf and np.isfinite(q[:-1]).all()
  with pytest.raises(ValueError, match="none of the pool's models"):
    router.pool_scores([{"role": "user", "content": "x"}], Pool("q", (extra,)))
  with pytest.raises(ValueError, match="holds a 'cluster_q' router"):
    AvengersProRouter.load(tmp_path / "cq", encoder=HashEncoder())


def test_fit_from_folders_and_build_inside_collect(folders, pool, tmp_path):
  """The wiring the CLI needs: fit from trajectory folders into a path, then a
  collection worker builds the router from that path."""
  out = tmp_path / "ap"
  fit_baseline("avengerspro", [str(f) for f in folders], pool, HashEncoder(), out=out,
               n_clusters=4)

  @dataclasses.dataclass(frozen=True)
  class BaselineSpec(RouterSpec):
    baseline: str = ""

    def build(self):
      return load_baseline(self.baseline, encoder=HashEncoder())

  spec = BaselineSpec(mode="roulette", baseline=str(out))
  s = collect(ENV, [TaskRef("fetch", 4), TaskRef("plant", 8)], mode="roulette", runs=1,
              out=tmp_path / "eval", router=spec, progress=False)
  assert s["failed"] == 0 and s["overall"]["episodes"] == 2
  for path in sorted((tmp_path / "eval").rglob("*.traj.json")):
    traj = read_trajectory(path, pool)
    assert len({st.model for st in traj.steps}) == 1
