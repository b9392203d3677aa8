"""The paper's figures: each is a PNG of the requested size, built from plain rows
(and the embedding map from a real, tiny checkpoint)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mtr_jax.evaluation import plots
from mtr_jax.pool.pool import ModelSpec

ROWS = [
    {"router": "openai/gpt-5", "mean_cost": 0.0920, "mean_score": 58.3},
    {"router": "deepseek/deepseek-v3.2", "mean_cost": 0.0105, "mean_score": 47.9},
    {"router": "minimax/minimax-m2", "mean_cost": 0.0142, "mean_score": 44.1},
    {"router": "openai/gpt-oss-120b", "mean_cost": 0.0029, "mean_score": 35.8},
    {"router": "random router", "mean_cost": 0.0240, "mean_score": 41.0},
    {"router": "RouterDC", "mean_cost": 0.0300, "mean_score": 50.1},
    {"router": "EmbedLLM", "mean_cost": 0.0410, "mean_score": 52.3},
    {"router": "MTRouter (ours)", "label": "λ=2", "mean_cost": 0.012, "mean_score": 50.2,
     "objective": 0.55},
    {"router": "MTRouter (ours)", "label": "λ=1", "mean_cost": 0.026, "mean_score": 56.0,
     "objective": 0.62},
    {"router": "MTRouter (ours)", "label": "λ=0.5", "mean_cost": 0.0386, "mean_score": 59.1,
     "objective": 0.61},
    {"router": "MTRouter (ours)", "label": "λ=0.25", "mean_cost": 0.052, "mean_score": 58.0,
     "objective": 0.58},
]


def png_size(path) -> tuple[int, int]:
  data = path.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
  return struct.unpack(">II", data[16:24])


def test_pareto_plot_writes_a_png_of_the_requested_size(tmp_path):
  out = plots.pareto_plot(ROWS, tmp_path / "sub" / "pareto.png", figsize=(8, 5), dpi=100)
  assert out == tmp_path / "sub" / "pareto.png"
  assert png_size(out) == (800, 500) and out.stat().st_size > 20_000


def test_comparison_bars_pick_the_reference_the_best_baselines_and_mtrouter(tmp_path):
  chosen = plots.comparison_rows(ROWS, reference="gpt-5", n_best=2)
  assert [r["router"] for r in chosen] == ["openai/gpt-5", "EmbedLLM", "RouterDC",
                                           "MTRouter (ours)"]
  assert chosen[-1]["label"] == "λ=0.5"  # MTRouter's best score among its sweep
  assert plots.cost_change(0.026, 0.092) == "\u221272% cost"
  assert plots.cost_change(0.1, 0.08) == "+25% cost"
  out = plots.comparison_bars(ROWS, tmp_path / "bars.png", figsize=(9, 4), dpi=80)
  assert png_size(out) == (720, 320) and out.stat().st_size > 10_000
  with pytest.raises(ValueError, match="no row for 'claude'"):
    plots.comparison_bars(ROWS, tmp_path / "x.png", reference="claude")
  with pytest.raises(ValueError, match="no MTRouter row"):
    plots.comparison_bars(ROWS[:7], tmp_path / "x.png")


def test_row_kinds_and_rows_from_results():
  kinds = [plots.row_kind(r) for r in ROWS]
  assert kinds == ["model"] * 4 + ["random", "baseline", "baseline"] + ["mtrouter"] * 4
  results = [
      {"router": {"spec": "model:gpt-5", "mode": "baseline", "model": "openai/gpt-5"},
       "point": {"cost": 0.09, "score": 58.0}, "overall": {"episodes": 4}},
      {"router": {"spec": "random", "mode": "roulette", "model": None},
       "point": {"cost": 0.02, "score": 40.0}, "overall": {"episodes": 4}},
      {"router": {"spec": "checkpoint:runs/x/estimator", "mode": "learned", "model": None},
       "point": {"cost": 0.03, "score": 55.0}, "overall": {"episodes": 4}},
      {"router": {"spec": "baseline:runs/fit/avengers", "mode": "router", "model": None},
       "point": {"cost": 0.025, "score": 51.0}, "overall": {"episodes": 4}},
      {"router": {"spec": "random", "mode": "roulette"}, "point": None},
  ]
  rows = plots.rows_from_results(results)
  assert [(r["router"], r["kind"]) for r in rows] == [
      ("openai/gpt-5", "model"), ("random router", "random"),
      ("MTRouter (ours)", "mtrouter"), ("avengers", "baseline")]
  assert rows[0]["mean_cost"] == 0.09 and rows[0]["mean_score"] == 58.0


def test_labels_do_not_overlap_in_a_crowded_plot(tmp_path):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=(5, 4), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  xs, ys = np.array([1.0, 1.1, 1.2, 1.0, 1.1, 1.2]), np.array([1.0, 1.0, 1.0, 1.1, 1.1, 1.1])
  ax.scatter(xs, ys)
  ax.set_xlim(0.5, 1.7)
  ax.set_ylim(0.6, 1.5)
  anns = plots.place_labels(ax, xs, ys, [f"model-{i}-long" for i in range(6)])
  renderer = fig.canvas.get_renderer()
  boxes = [a.get_window_extent(renderer) for a in anns]
  for i in range(6):
    for j in range(i + 1, 6):
      assert plots._overlap(boxes[i], boxes[j]) == 0, (i, j)


def test_pca_2d_finds_the_plane_of_planar_points():
  rng = np.random.default_rng(0)
  basis = np.linalg.qr(rng.normal(size=(6, 2)))[0].T  # 2 orthonormal rows in R^6
  coords = rng.normal(size=(7, 2)) * [3.0, 1.0]
  xy, ratio = plots.pca_2d(coords @ basis + 5.0)
  np.testing.assert_allclose(ratio.sum(), 1.0, atol=1e-9)
  # The projection keeps every pairwise distance (the points lie in one plane).
  d = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
  np.testing.assert_allclose(d(xy), d(coords), atol=1e-9)
  one, r1 = plots.pca_2d(np.ones((1, 4)))
  assert one.shape == (1, 2) and r1.shape == (2,)


def tiny_checkpoint(workdir, k=3, d=8):
  from mtr_jax.training.train import TrainData, default_train_config, train
  rng = np.random.default_rng(0)
  n = 120
  pool = [ModelSpec(f"prov/m{i}", input_price=0.2 * (i + 1), output_price=1.0 * (i + 1))
          for i in range(k)]
  data = TrainData.build(rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, k, n),
                         rng.normal(size=n).astype(np.float32), np.repeat(np.arange(20), 6),
                         pool=pool, encoder_fingerprint={"name": "fake", "dim": d}, lam=1.0)
  c = default_train_config()
  c.model.meta_widths = (8, 8)
  c.model.residual_dim = 4
  c.model.model_dim = 16
  c.model.q_widths = (16,)
  c.optim.epochs = 2
  train(c, data, workdir, progress=False)
  return pool


def test_embedding_map_from_a_tiny_checkpoint(tmp_path):
  pool = tiny_checkpoint(tmp_path / "est")
  emb = plots.model_embeddings(tmp_path / "est")
  assert emb["names"] == [m.name for m in pool]
  assert emb["z"].shape == (3, 16) and np.isfinite(emb["z"]).all()
  assert emb["seen"] == [True] * 3
  np.testing.assert_allclose(emb["prices"], [1.2, 2.4, 3.6])
  # A model the estimator never saw is embedded from its metadata alone.
  other = plots.model_embeddings(tmp_path / "est", models=[*pool, ModelSpec("new/x", 0.1, 0.4)])
  assert other["seen"] == [True, True, True, False]
  np.testing.assert_allclose(other["z"][:3], emb["z"], atol=1e-6)
  out = plots.embedding_map(other["names"], other["z"], tmp_path / "map.png",
                            prices=other["prices"], seen=other["seen"], figsize=(6, 5), dpi=90)
  assert png_size(out) == (540, 450) and out.stat().st_size > 10_000
  with pytest.raises(ValueError, match="K = 2 names"):
    plots.embedding_map(["a", "b"], emb["z"], tmp_path / "bad.png")
