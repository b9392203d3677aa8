"""Evaluation: per-episode and aggregate metrics of a router's episodes
(`metrics`), the cost-score frontier of a swept router (`frontier`), and the
runner that collects a router's episodes and writes `results.json` (`evaluate`).

Import the submodules directly; this package file imports nothing heavy.
"""

from __future__ import annotations
