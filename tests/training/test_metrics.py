"""MetricWriter beyond scalars: tables, cost-score curves and images (offline W&B)."""

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from mtr_jax.training.metrics import MetricWriter


def _png(path):
  fig = Figure(figsize=(2, 2))
  fig.add_subplot().plot([0, 1], [1, 0])
  fig.savefig(path)
  return path


def test_tables_curves_and_images_reach_disk_and_offline_wandb(tmp_path, monkeypatch):
  monkeypatch.setenv("WANDB_MODE", "offline")
  monkeypatch.setenv("WANDB_SILENT", "true")
  rows = [{"router": "gpt-5", "mean_score": np.float32(61.5), "score_ci": [50.0, 70.0]},
          {"router": "MTRouter", "mean_score": 58.0, "lam": 0.1}]
  with MetricWriter(tmp_path / "w", group="g") as writer:
    writer.table("test_id/routers", rows)
    writer.curves("test_id/cost_score", {"MTRouter": [(0.3, 58.0), (0.1, 40.0)],
                                         "gpt-5": [(0.35, 61.5)]}, x="$", y="score")
    writer.image("test_id/pareto", _png(tmp_path / "p.png"))
  table = json.loads((tmp_path / "w/tables/test_id__routers.json").read_text())
  assert table["columns"] == ["router", "mean_score", "score_ci", "lam"]
  assert table["rows"][0]["mean_score"] == pytest.approx(61.5)
  curves = json.loads((tmp_path / "w/tables/test_id__cost_score.json").read_text())
  assert curves["series"]["MTRouter"] == [[0.1, 40.0], [0.3, 58.0]]  # sorted by cost
  run = next((tmp_path / "w" / "wandb").glob("offline-run-*"))
  media = {p.suffix for p in (run / "files" / "media").rglob("*") if p.is_file()}
  assert {".json", ".png"} <= media  # the W&B table / line-series and the image


def test_image_needs_a_file(tmp_path):
  with MetricWriter(tmp_path / "w", use_wandb=False) as writer:
    with pytest.raises(FileNotFoundError, match="no file"):
      writer.image("x", tmp_path / "missing.png")
