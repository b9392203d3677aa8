"""The paper's figures as PNG files (matplotlib, Agg canvas; pyplot is not used).

  pareto_plot(rows, path)       every router at (mean cost, mean score), log cost; the
                                swept router's points joined by their upper hull
  comparison_bars(rows, path)   score and cost bars: GPT-5, the best baselines and
                                MTRouter, each cost annotated ('-58% cost')
  embedding_map(names, z, path) a PCA map of the model embeddings z_m
  model_embeddings(checkpoint)  z_m of a checkpoint's pool (scoring.encode_models)

Rows are plain dicts like report.json's (`router`, `mean_cost`, `mean_score`), with
optional `label` (the text at the point; default the router's short name) and
`kind` (model | random | baseline | mtrouter; default inferred, "provider/model"
being a single model); `rows_from_results` makes rows of evaluate.py results.
Each plot writes `path` (exactly figsize x dpi pixels) and returns it; a footnote
says the numbers come from the simulated-agent testbed unless `note` says not.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import Bbox

from mtr_jax.evaluation.frontier import upper_hull

NOTE = ("Simulated-agent testbed: real text environments, simulated LLM agents with "
        "calibrated profiles; no LLM was called.")
MTROUTER = "MTRouter (ours)"
KINDS = ("model", "random", "baseline", "mtrouter")
STYLE = {"model": dict(marker="o", color="#8c8c8c", s=55, label="single model"),
         "random": dict(marker="X", color="#222222", s=70, label="random router"),
         "baseline": dict(marker="D", color="#1f77b4", s=50, label="baseline router"),
         "mtrouter": dict(marker="*", color="#d62728", s=190, label="MTRouter")}
# Label positions tried around a point: (dx, dy) in points, alignment.
_OFFSETS = [(6, 5, "left", "bottom"), (6, -5, "left", "top"), (-6, 5, "right", "bottom"),
            (-6, -5, "right", "top"), (0, 9, "center", "bottom"), (0, -9, "center", "top"),
            (10, 0, "left", "center"), (-10, 0, "right", "center")]
_OFFSETS += [(2.2 * dx, 2.2 * dy, ha, va) for dx, dy, ha, va in _OFFSETS]


def short_name(name: str) -> str:
  """'model:openai/gpt-5' -> 'gpt-5'."""
  return name.removeprefix("model:").rsplit("/", 1)[-1]


def row_kind(row: Mapping[str, Any], swept: str = MTROUTER) -> str:
  kind = row.get("kind")
  if kind and kind not in KINDS:
    raise ValueError(f"row {row.get('router')!r}: kind {kind!r} not in {KINDS}")
  if kind:
    return kind
  name = str(row["router"])
  if name == swept or "mtrouter" in name.lower():
    return "mtrouter"
  if "random" in name.lower():
    return "random"
  return "model" if ("/" in name or name.startswith("model:")) else "baseline"


def cost_score_series(rows: Sequence[Mapping[str, Any]],
                      swept: str = MTROUTER) -> dict[str, list[tuple[float, float]]]:
  """Each router's (mean cost, mean score) points, in row order; every MTRouter row
  (one per lambda or job) is a point of the one series "MTRouter"."""
  series: dict[str, list[tuple[float, float]]] = {}
  for r in rows:
    name = "MTRouter" if row_kind(r, swept) == "mtrouter" else str(r["router"])
    series.setdefault(name, []).append((float(r["mean_cost"]), float(r["mean_score"])))
  return series


def rows_from_results(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
  """Rows from evaluate.py results dicts (results.json), one per dict with a point."""
  rows = []
  for r in (r for r in results if r.get("point")):
    router = r.get("router") or {}
    spec, mode = str(router.get("spec") or r.get("folder") or "?"), router.get("mode")
    name, kind = ((router["model"], "model") if router.get("model")
                  else ("random router", "random") if mode == "roulette"
                  else (MTROUTER, "mtrouter") if mode in ("learned", "mixed")
                  else (Path(spec.partition(":")[2] or spec).name, "baseline"))
    ov = r.get("overall", {})
    rows.append({"router": name, "kind": kind, "mean_cost": r["point"]["cost"],
                 "mean_score": r["point"]["score"], "episodes": ov.get("episodes"),
                 "success_rate": ov.get("success_rate")})
  return rows


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
  Path(path).parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=dpi)
  return Path(path)


def _figure(figsize, dpi) -> Figure:
  return FigureCanvasAgg(Figure(figsize=figsize, dpi=dpi, layout="constrained")).figure


def _footnote(fig: Figure, note: str | None) -> None:
  if note:
    text = textwrap.fill(note, int(fig.get_figwidth() * 17))
    lines = text.count("\n") + 1
    bottom = (0.02 + 0.13 * lines) / fig.get_figheight()
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
    fig.text(0.01, 0.008, text, fontsize=7.5, color="#555555", ha="left", va="bottom")


def _dollar_ticks(axis, lo: float, hi: float) -> None:
  """Ticks at 1-2-5 (or 1 per decade over wide ranges) dollars, labelled '$0.02'."""
  mantissas = (1, 2, 5) if math.log10(hi / lo) <= 2.5 else (1,)
  ticks = [m * 10.0 ** e for e in range(-7, 5) for m in mantissas if lo <= m * 10.0 ** e <= hi]
  if len(ticks) >= 2:
    axis.set_ticks(ticks)
  axis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:g}"))
  axis.set_minor_formatter(NullFormatter())


def _overlap(a, b) -> float:
  w = min(a.x1, b.x1) - max(a.x0, b.x0)
  h = min(a.y1, b.y1) - max(a.y0, b.y0)
  return w * h if w > 0 and h > 0 else 0.0


def _gap(bb, p) -> float:
  """Distance in pixels from point p to the box bb (0 inside)."""
  return math.hypot(max(bb.x0 - p[0], 0, p[0] - bb.x1), max(bb.y0 - p[1], 0, p[1] - bb.y1))


def place_labels(ax, xs, ys, texts, *, fontsize: float = 8.5, color="#222222",
                 obstacles_xy=None, sizes=None) -> list:
  """Annotates each (x, y) with its text at the candidate offset that overlaps
  other labels, points (`sizes`: marker areas in pt^2, as in scatter) and
  `obstacles_xy` least and stays inside the axes."""
  fig = ax.figure
  fig.canvas.draw()  # fix the layout first: positions are taken in pixels
  renderer = fig.canvas.get_renderer()
  to_px = ax.transData.transform
  px_per_pt = fig.dpi / 72
  sizes = np.full(len(xs), 50.0) if sizes is None else np.asarray(sizes, float)
  pts = [to_px((x, y)) for x, y in zip(xs, ys)]
  extra = [to_px(p) for p in (obstacles_xy if obstacles_xy is not None else [])]
  radii = [(math.sqrt(s) / 2 + 1.5) * px_per_pt for s in sizes] + [3 * px_per_pt] * len(extra)
  blocks = [Bbox([[x - r, y - r], [x + r, y + r]]) for (x, y), r in zip(pts + extra, radii)]
  frame = ax.get_window_extent(renderer)
  # Crowded points first: they have the fewest good places.
  crowd = [sum(math.dist(p, q) < 40 * fig.dpi / 72 for q in pts) for p in pts]
  placed, out = [], [None] * len(texts)

  def candidate(i, dx, dy, ha, va):
    ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                      ha=ha, va=va, fontsize=fontsize, color=color, annotation_clip=False)
    ann.set_in_layout(False)
    return ann, ann.get_window_extent(renderer).expanded(1.06, 1.4)

  for i in sorted((i for i in range(len(texts)) if texts[i]), key=lambda i: -crowd[i]):
    scored = []
    for rank, offset in enumerate(_OFFSETS):
      ann, bb = candidate(i, *offset)
      ann.remove()
      outside = bb.width * bb.height - _overlap(bb, frame)
      # A label nearer to another point than to its own reads as that point's.
      closer = sum(_gap(bb, q) < _gap(bb, pts[i]) for j, q in enumerate(pts) if j != i)
      far = rank >= len(_OFFSETS) // 2
      scored.append((sum(_overlap(bb, o) for o in placed) * 3 + outside * 5
                     + sum(_overlap(bb, o) for o in blocks) + closer * 300 + far * 150
                     + rank * 0.5, rank))
    out[i], bb = candidate(i, *_OFFSETS[min(scored)[1]])
    placed.append(bb)
  return out


def _hull_curve(costs, scores, n: int = 40):
  """The hull drawn as mixing in linear cost (it bends on a log axis)."""
  hull = upper_hull(costs, scores)
  if len(hull.costs) == 1:
    return hull, hull.costs, hull.scores
  xs = np.concatenate([np.linspace(a, b, n) for a, b in zip(hull.costs[:-1], hull.costs[1:])])
  return hull, xs, np.interp(xs, hull.costs, hull.scores)


def pareto_plot(rows: Sequence[Mapping[str, Any]], path: str | Path, *,
                swept: str = MTROUTER, title: str = "Cost vs score of every router",
                note: str | None = NOTE, figsize=(9.0, 5.6), dpi: int = 150) -> Path:
  """Every router as a point on a log-cost axis; the swept router's points joined
  by their upper convex hull; labelled points; a footnote."""
  if not rows:
    raise ValueError("pareto_plot: no rows")
  fig = _figure(figsize, dpi)
  ax = fig.add_subplot()
  kinds = [row_kind(r, swept) for r in rows]
  cost = np.array([max(float(r["mean_cost"]), 1e-9) for r in rows])
  score = np.array([float(r["mean_score"]) for r in rows])
  handles, obstacles = [], []
  swept_idx = [i for i, k in enumerate(kinds) if k == "mtrouter"]
  if swept_idx:
    hull, hx, hy = _hull_curve(cost[swept_idx], score[swept_idx])
    ax.plot(hx, hy, color=STYLE["mtrouter"]["color"], lw=1.8, ls="--", zorder=2)
    obstacles = list(zip(hx[::4], hy[::4]))
    handles.append(Line2D([], [], color=STYLE["mtrouter"]["color"], lw=1.8, ls="--",
                          label="MTRouter upper hull"))
    vertices = set(zip(hull.costs.tolist(), hull.scores.tolist()))
    on_hull = {i for i in swept_idx if (cost[i], score[i]) in vertices}  # duplicates too
  for kind in KINDS:
    idx = [i for i, k in enumerate(kinds) if k == kind]
    if not idx:
      continue
    st = dict(STYLE[kind])
    label = st.pop("label")
    ours = kind == "mtrouter"
    face = [st["color"] if not ours or i in on_hull else "white" for i in idx]
    ax.scatter(cost[idx], score[idx], facecolors=face, marker=st["marker"], s=st["s"],
               edgecolors=st["color"] if ours else "white", linewidths=1.2 if ours else 0.6,
               zorder=3 if ours else 4)  # a model on a star stays visible
    if ours and len(on_hull) < len(idx):
      label += " (hollow: below its hull)"
    handles.append(Line2D([], [], ls="", marker=st["marker"], color=st["color"],
                          markersize=9 if kind == "mtrouter" else 7, label=label))
  ax.set_xscale("log")
  lo, hi = np.log10(cost.min()), np.log10(cost.max())
  pad = max(0.12 * (hi - lo), 0.08)
  ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad))
  _dollar_ticks(ax.xaxis, 10 ** (lo - pad), 10 ** (hi + pad))
  span = max(score.max() - score.min(), 1.0)
  ax.set_ylim(score.min() - 0.12 * span, score.max() + 0.12 * span)
  ax.set_xlabel("Mean cost per episode (USD, log scale)", fontsize=10)
  ax.set_ylabel("Mean score", fontsize=10)
  ax.set_title(f"{title} (simulated-agent testbed)" if note == NOTE else title, fontsize=12)
  ax.grid(True, which="both", alpha=0.22)
  ax.tick_params(labelsize=9)
  ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
            frameon=False)
  _footnote(fig, note)
  groups: dict[tuple, list[int]] = {}  # routers at one point share one label
  for i in range(len(rows)):
    groups.setdefault((cost[i], score[i]), []).append(i)
  texts = [", ".join(dict.fromkeys(rows[i].get("label") or short_name(rows[i]["router"])
                                   for i in g)) for g in groups.values()]
  place_labels(ax, [c for c, _ in groups], [s for _, s in groups], texts,
               obstacles_xy=obstacles,
               sizes=[max(STYLE[kinds[i]]["s"] for i in g) for g in groups.values()])
  return _save(fig, path, dpi)


def _find(rows, name: str):
  for r in rows:
    if r["router"] == name or short_name(r["router"]) == short_name(name):
      return r
  raise ValueError(f"no row for {name!r} (routers: {[r['router'] for r in rows]})")


def best_swept(rows: Sequence[Mapping[str, Any]], swept: str = MTROUTER) -> Mapping[str, Any]:
  """MTRouter's best-scoring row (ties: the cheaper). Objectives are not compared:
  each lambda of a sweep has its own."""
  ours = [r for r in rows if row_kind(r, swept) == "mtrouter"]
  if not ours:
    raise ValueError(f"no MTRouter row (router {swept!r} or kind 'mtrouter')")
  return min(ours, key=lambda r: (-r["mean_score"], r["mean_cost"]))


def comparison_rows(rows: Sequence[Mapping[str, Any]], *, reference: str = "openai/gpt-5",
                    swept: str = MTROUTER, n_best: int = 2) -> list[Mapping[str, Any]]:
  """[reference, the n_best best-scoring other non-MTRouter rows, `best_swept`]."""
  ref = _find(rows, reference)
  best_ours = best_swept(rows, swept)
  others = sorted((r for r in rows if r is not ref and row_kind(r, swept) != "mtrouter"),
                  key=lambda r: -r["mean_score"])[:n_best]
  return [ref, *others, best_ours]


def cost_change(cost: float, reference_cost: float) -> str:
  """'-58% cost' (with a true minus sign) for cost against reference_cost."""
  if reference_cost <= 0:
    return "n/a"
  return f"{(cost / reference_cost - 1) * 100:+.0f}% cost".replace("-", "\u2212")


def comparison_bars(rows: Sequence[Mapping[str, Any]], path: str | Path, *,
                    reference: str = "openai/gpt-5", swept: str = MTROUTER, n_best: int = 2,
                    title: str | None = None, note: str | None = NOTE,
                    figsize=(9.5, 4.6), dpi: int = 150) -> Path:
  """Score and cost bars for `comparison_rows` (the reference model, the best
  other routers, MTRouter), each cost annotated with `cost_change` against the
  reference ('-58% cost')."""
  chosen = comparison_rows(rows, reference=reference, swept=swept, n_best=n_best)
  ref, others, best_ours = chosen[0], chosen[1:-1], chosen[-1]
  ours_name = "MTRouter" + (f" ({best_ours['label']})" if best_ours.get("label") else "")
  names = [textwrap.fill(ours_name if r is best_ours else short_name(r["router"]), 13)
           for r in chosen]
  colors = ["#555555", *["#9ecae1"] * len(others), STYLE["mtrouter"]["color"]]
  fig = _figure(figsize, dpi)
  ax_s, ax_c = fig.subplots(1, 2)
  x = np.arange(len(chosen))
  scores = np.array([r["mean_score"] for r in chosen], float)
  costs = np.array([r["mean_cost"] for r in chosen], float)
  for ax, values, ylabel, fmt in ((ax_s, scores, "Mean score", "{:.1f}"),
                                  (ax_c, costs, "Mean cost per episode (USD)", "${:.4f}")):
    ax.bar(x, values, color=colors, width=0.62, edgecolor="white")
    ax.set_xticks(x, names, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.tick_params(axis="y", labelsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.axhline(0, color="black", lw=0.8)
    top, bottom = max(values.max(), 0), min(values.min(), 0)
    span = max(top - bottom, 1e-9)
    ax.set_ylim(bottom - (0.12 * span if bottom < 0 else 0), top + 0.28 * span)
    for xi, v in zip(x, values):
      ax.annotate(fmt.format(v), (xi, v), xytext=(0, 3 if v >= 0 else -3),
                  textcoords="offset points", ha="center", va="bottom" if v >= 0 else "top",
                  fontsize=8.5)
  for xi, c, r in zip(x, costs, chosen):
    if r is ref:
      text, color = "reference", "#555555"
    else:
      text = cost_change(c, ref["mean_cost"])
      color = "#1a7f37" if c < ref["mean_cost"] else "#b42318"
    ax_c.annotate(text, (xi, c), xytext=(0, 15), textcoords="offset points", ha="center",
                  va="bottom", fontsize=9, fontweight="bold", color=color)
  ax_s.set_title("Score", fontsize=11)
  ax_c.set_title("Cost", fontsize=11)
  fig.suptitle(title or f"MTRouter vs {short_name(ref['router'])} and the best baselines "
               "(simulated-agent testbed)", fontsize=12)
  _footnote(fig, note)
  return _save(fig, path, dpi)


def pca_2d(z_KxM) -> tuple[np.ndarray, np.ndarray]:
  """(xy_Kx2, explained variance ratio of the two axes); signs fixed so that each
  axis's largest loading is positive."""
  z = np.asarray(z_KxM, np.float64)
  z = z - z.mean(axis=0)
  _, s, vt = np.linalg.svd(z, full_matrices=False)
  vt = vt[:2] * np.sign(vt[np.arange(min(2, len(vt))), np.abs(vt[:2]).argmax(axis=1)])[:, None]
  xy = z @ vt.T
  ratio = s[:2] ** 2 / max(float((s ** 2).sum()), 1e-300)
  return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))), np.pad(ratio, (0, 2 - len(ratio)))


def embedding_map(names: Sequence[str], z_KxM, path: str | Path, *,
                  prices: Sequence[float] | None = None, seen: Sequence[bool] | None = None,
                  title: str = "Learned model embeddings $z_m$ (PCA)", note: str | None = NOTE,
                  figsize=(7.0, 5.6), dpi: int = 150) -> Path:
  """A 2-D PCA map of z_m, one labelled point per model, coloured by price
  (input + output $ per M tokens, log scale); models the estimator never saw in
  training (no residual embedding) are drawn hollow."""
  z = np.asarray(z_KxM, np.float64)
  if z.ndim != 2 or z.shape[0] != len(names):
    raise ValueError(f"z_KxM must be [K, M] with K = {len(names)} names, got {z.shape}")
  xy, ratio = pca_2d(z)
  fig = _figure(figsize, dpi)
  ax = fig.add_subplot()
  seen = np.ones(len(names), bool) if seen is None else np.asarray(seen, bool)
  if prices is not None:
    p = np.maximum(np.asarray(prices, float), 1e-6)
    norm = mcolors.LogNorm(p.min(), p.max()) if p.max() > p.min() else None
    cols = [mcolors.to_hex(c)
            for c in colormaps["viridis"](norm(p) if norm else np.full(len(p), 0.5))]
    if norm is not None:
      bar = fig.colorbar(ScalarMappable(norm, "viridis"), ax=ax, pad=0.02)
      bar.set_label("price: input + output, USD per M tokens", fontsize=9)
      bar.ax.tick_params(labelsize=8)
      _dollar_ticks(bar.ax.yaxis, p.min(), p.max())
  else:
    cols = ["#1f77b4"] * len(names)
  for i in range(len(names)):
    ax.scatter(xy[i, 0], xy[i, 1], s=90, zorder=3, linewidths=1.6, edgecolors=cols[i],
               facecolors=cols[i] if seen[i] else "white")
  span = np.where(np.ptp(xy, axis=0) > 0, np.ptp(xy, axis=0), 1.0)
  ax.set_xlim(xy[:, 0].min() - 0.25 * span[0], xy[:, 0].max() + 0.25 * span[0])
  ax.set_ylim(xy[:, 1].min() - 0.2 * span[1], xy[:, 1].max() + 0.2 * span[1])
  ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% of variance)", fontsize=10)
  ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}% of variance)", fontsize=10)
  ax.set_title(title, fontsize=12)
  ax.grid(True, alpha=0.3)
  ax.tick_params(labelsize=9)
  if not seen.all():
    ax.legend(handles=[Line2D([], [], ls="", marker="o", mfc="white", mec="#444444",
                              label="not seen in training")], fontsize=8.5, loc="best")
  _footnote(fig, note)
  place_labels(ax, xy[:, 0], xy[:, 1], [short_name(n) for n in names], fontsize=9,
               sizes=np.full(len(names), 90.0))
  return _save(fig, path, dpi)


def model_embeddings(checkpoint: str | Path, *, which: str = "best",
                     models: Sequence[Any] | None = None) -> dict[str, Any]:
  """z_m of the checkpoint's training pool (or of `models`: ModelSpecs or metadata
  dicts), from its saved feature statistics: {names, z (K x M), prices, seen}."""
  from mtr_jax.estimator.features import FeatureStats, model_features, model_ids
  from mtr_jax.estimator.scoring import encode_models
  from mtr_jax.training.checkpoint import load_estimator
  graphdef, params, meta = load_estimator(checkpoint, which=which)
  models = list(models) if models is not None else list(meta["pool"])
  meta_of = [m if isinstance(m, Mapping) else m.metadata() for m in models]
  names = [m["name"] for m in meta_of]
  feats = model_features(meta_of, FeatureStats.from_dict(meta["feature_stats"]))
  ids = model_ids(names, meta["known_models"])
  z = np.asarray(encode_models(graphdef, params, feats, ids))
  prices = [float(m["input_price"]) + float(m["output_price"]) for m in meta_of]
  return {"names": names, "z": z, "prices": prices, "seen": (ids >= 0).tolist()}
