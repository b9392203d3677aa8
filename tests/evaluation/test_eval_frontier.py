"""Cost-score hull, its area (AIQ) and PGR/APGR on hand-made points."""

from __future__ import annotations

import numpy as np
import pytest

from mtr_jax.evaluation.frontier import (Anchor, aiq, anchors, apgr, frontier_summary,
                                         hull_score, pgr, upper_hull)

# (cost, score). Dominated: (3, 25) and (2.5, 20) (cheaper (2, 30) scores more),
# (6, 41) (costs more than (5, 42), scores less), (1, 5) (same cost as (1, 10)).
# (3, 34) is on the Pareto front but below the chord (2,30)-(4,40) (which is 35
# at c=3), so it is no hull vertex. Hull slopes 20, 5, 2: concave.
COSTS = [1, 2, 3, 4, 5, 2.5, 3, 6, 1]
SCORES = [10, 30, 25, 40, 42, 20, 34, 41, 5]


def test_hull_removes_dominated_and_below_chord_points():
  h = upper_hull(COSTS, SCORES)
  assert h.costs.tolist() == [1, 2, 4, 5]
  assert h.scores.tolist() == [10, 30, 40, 42]
  assert h.indices.tolist() == [0, 1, 3, 4]
  assert np.all(np.diff(h.scores) >= 0)
  # One point, and a point that is cheapest but scores highest.
  assert upper_hull([3], [7]).costs.tolist() == [3]
  assert upper_hull([1, 2], [9, 5]).indices.tolist() == [0]


def test_hull_score_interpolates_and_flattens():
  h = upper_hull(COSTS, SCORES)
  assert hull_score(h, 3.0) == 35.0
  assert hull_score(h, 7.0) == 42.0  # flat after the last vertex
  with pytest.raises(ValueError, match="below the router's cheapest"):
    hull_score(h, 0.5)
  assert hull_score(h, 0.5, below=-1.0) == -1.0


def test_aiq_by_hand():
  h = upper_hull(COSTS, SCORES)
  # Trapezoids on [1,2], [2,4], [4,5]: 20 + 70 + 41 = 131, over a range of 4.
  assert aiq(h) == pytest.approx(131 / 4)
  # [1, 6]: plus the flat 42 on [5, 6].
  assert aiq(h, (1, 6)) == pytest.approx((131 + 42) / 5)
  # [0, 5] with score 0 below the cheapest point.
  assert aiq(h, (0, 5), below=0.0) == pytest.approx(131 / 5)
  # [1.5, 3]: h(1.5) = 20, h(2) = 30, h(3) = 35 -> 12.5 + 32.5 = 45 over 1.5.
  assert aiq(h, (1.5, 3)) == pytest.approx(45 / 1.5)
  assert aiq(h, (4, 4)) == 40.0
  with pytest.raises(ValueError, match="pass `below`"):
    aiq(h, (0, 5))


SINGLE = {"weak": (1.0, 0.0), "mid": (3.0, 20.0), "strong": (5.0, 40.0),
          "pricey": (8.0, 35.0)}


def test_pgr_and_apgr_by_hand():
  weak, strong = anchors(SINGLE)
  assert weak == Anchor("weak", 1.0, 0.0) and strong == Anchor("strong", 5.0, 40.0)
  assert pgr(30.0, 0.0, 40.0) == 0.75
  assert pgr(np.array([0.0, 40.0, 44.0]), 0.0, 40.0).tolist() == [0.0, 1.0, 1.1]
  h = upper_hull([2, 4, 6], [30, 40, 44])
  # On [1, 5]: [1,2] below the router -> the weak score 0 (PGR 0);
  # [2,4]: (30+40)/2*2 = 70; [4,5]: h(5) = 42 -> (40+42)/2 = 41. Mean score
  # 111/4 = 27.75, APGR = 27.75 / 40 = 0.69375.
  assert apgr(h, weak, strong) == pytest.approx(0.69375)
  # A router whose hull is the straight line from weak to strong: APGR 0.5.
  assert apgr(upper_hull([1, 5], [0, 40]), weak, strong) == pytest.approx(0.5)
  with pytest.raises(ValueError, match="undefined"):
    anchors({"x": (1.0, 5.0), "y": (2.0, 5.0)})
  with pytest.raises(ValueError, match="at least two"):
    anchors({"x": (1.0, 5.0)})


def test_frontier_summary():
  s = frontier_summary([2, 4, 6, 3], [30, 40, 44, 20], labels=["l1", "l2", "l3", "l4"],
                       single_models=SINGLE)
  assert s["hull"]["labels"] == ["l1", "l2", "l3"]
  assert s["apgr"] == pytest.approx(0.69375)
  assert s["pgr_at_hull"] == pytest.approx([0.75, 1.0, 1.1])
  # AIQ over the hull's range [2, 6]: 70 + (40+44)/2*2 = 154 -> 38.5
  assert s["aiq"] == pytest.approx(154 / 4) and s["aiq_range"] == [2.0, 6.0]
  s2 = frontier_summary([2, 4, 6], [30, 40, 44], cost_range=(1, 5), single_models=SINGLE)
  assert s2["aiq"] == pytest.approx(111 / 4)  # below the router: the weak score (0)


def test_frontier_from_results_dicts():
  from mtr_jax.evaluation.frontier import frontier_from_results
  routers = [{"router": {"spec": f"checkpoint:ck,lam={lam}"}, "point": {"cost": c, "score": s}}
             for lam, c, s in ((0.1, 6, 44), (0.5, 4, 40), (1.0, 2, 30))]
  singles = [{"router": {"spec": f"model:{m}", "model": m}, "point": {"cost": c, "score": s}}
             for m, (c, s) in SINGLE.items()]
  s = frontier_from_results(routers, singles, cost_range=(1, 5))
  assert s["apgr"] == pytest.approx(0.69375) and s["aiq"] == pytest.approx(111 / 4)
  assert s["hull"]["labels"] == ["checkpoint:ck,lam=1.0", "checkpoint:ck,lam=0.5",
                                 "checkpoint:ck,lam=0.1"]
  with pytest.raises(ValueError, match="not a single-model result"):
    frontier_from_results(routers, routers)
