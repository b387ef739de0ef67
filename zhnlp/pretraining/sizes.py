"""The named model sizes and the choices of the pretraining model, importable without torch
(the command line lists them in its help)."""

from __future__ import annotations

from dataclasses import dataclass

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"embedding_size": 64, "hidden_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 256},
    # between the two: four of small's layers, what learns within an hour on a 2-core CPU
    "mini": {"embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 4,
             "num_attention_heads": 4, "intermediate_size": 1024},
    "small": {"embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12,
              "num_attention_heads": 4, "intermediate_size": 1024},
    "base": {"embedding_size": 768, "hidden_size": 768, "num_hidden_layers": 12,
             "num_attention_heads": 12, "intermediate_size": 3072},
}


@dataclass(frozen=True)
class Objective:
    """One pretraining objective (a row of the ELECTRA paper's comparisons).

    Every objective trains the generator as a masked LM on the masked positions.  Beside it,
    the main network is ``rtd`` (an ELECTRA discriminator: which tokens were replaced by the
    generator's samples), ``mlm`` (a masked LM reading the generator's samples: which token
    was there), or none (the generator is the model); its loss covers the ``main_on``
    positions (``masked`` or every ``real`` token) and is divided by their count, an ``rtd``
    loss weighted by ``rtd_weight``.
    """

    main: str | None
    main_on: str = "real"
    full_generator: bool = False  # the generator as large as the main network
    two_stage: bool = False  # the generator alone first, then copied into the main network


OBJECTIVES: dict[str, Objective] = {
    "electra": Objective("rtd"),
    "electra-15": Objective("rtd", main_on="masked"),
    "mlm": Objective(None, main_on="masked", full_generator=True),
    "replace-mlm": Objective("mlm", main_on="masked"),
    "all-tokens-mlm": Objective("mlm"),
    "two-stage": Objective("rtd", full_generator=True, two_stage=True),
}
SHARING = ("none", "all", "attention", "ffn")
# shared: one embedding module, trained by both losses (ELECTRA); gdes: DeBERTa-v3's
# gradient-disentangled sharing (the discriminator reads the generator's token vectors with
# their gradient stopped, plus a residual table of its own)
EMBEDDING_SHARING = ("shared", "gdes")
