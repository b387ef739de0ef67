"""The named model sizes and the choices of the pretraining model, importable without torch
(the command line lists them in its help)."""

from __future__ import annotations

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"embedding_size": 64, "hidden_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 256},
    "small": {"embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12,
              "num_attention_heads": 4, "intermediate_size": 1024},
    "base": {"embedding_size": 768, "hidden_size": 768, "num_hidden_layers": 12,
             "num_attention_heads": 12, "intermediate_size": 3072},
}
OBJECTIVES = ("electra", "electra-15", "mlm", "replace-mlm", "all-tokens-mlm", "two-stage")
# objectives whose main network predicts tokens (an MLM head) instead of detecting replacements
MAIN_MLM = ("replace-mlm", "all-tokens-mlm")
SHARING = ("none", "all", "attention", "ffn")
