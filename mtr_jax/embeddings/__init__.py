"""History embeddings: the text a history becomes, frozen encoders, an on-disk cache."""

from mtr_jax.embeddings.cache import EmbeddingCache, FingerprintMismatch, text_key
from mtr_jax.embeddings.encoder import (BertEncoder, MiniLMEncoder, TextEncoder, encoder_names,
                                        make_encoder, register_encoder)
from mtr_jax.embeddings.history import extract_task, history_text, split_history

__all__ = ["BertEncoder", "EmbeddingCache", "FingerprintMismatch", "MiniLMEncoder",
           "TextEncoder", "encoder_names", "extract_task", "history_text", "make_encoder",
           "register_encoder", "split_history", "text_key"]
