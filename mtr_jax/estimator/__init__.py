"""The outcome estimator: model metadata features, the Flax modules, pure scoring."""

from mtr_jax.estimator.features import (FEATURE_NAMES, FeatureStats, model_features,
                                        model_ids, pad_candidates, raw_features)
from mtr_jax.estimator.model import (Estimator, EstimatorConfig, ModelEncoder,
                                     QNetwork)
from mtr_jax.estimator.scoring import (MASKED_SCORE, chosen_scores, encode_models,
                                       make_scorer, mask_scores, mse_loss,
                                       residual_l2, score)

__all__ = ["FEATURE_NAMES", "FeatureStats", "model_features", "model_ids",
           "pad_candidates", "raw_features", "Estimator", "EstimatorConfig",
           "ModelEncoder", "QNetwork", "MASKED_SCORE", "chosen_scores",
           "encode_models", "make_scorer", "mask_scores", "mse_loss", "residual_l2",
           "score"]
