"""Continued pretraining: a released ELECTRA checkpoint as the start of a run (``--init``).

``--init DIR`` takes what ``zhnlp pretrain`` exports (``DIR/discriminator`` and
``DIR/generator``), the same pair from Hugging Face, or a single discriminator (``DIR`` itself,
or ``--init DISC --init-generator GEN`` for two folders).  The model's size is the
checkpoint's; the generator is the released one, or (a discriminator alone) a fresh one at
``generator_fraction``; either way the embeddings are the discriminator's, shared, and the
generator's output layer is tied to them.  The shards must have been prepared with the
checkpoint's vocabulary, or with an extension of it (the checkpoint's tokens keep their ids,
new ones come after): the embedding rows of the new tokens start at the mean of the old rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import torch

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.pretraining.model import ElectraPretrainingModel, ModelConfig
from zhnlp.pretraining.sizes import OBJECTIVES, SIZES

SIZE_KEYS = tuple(SIZES["small"])
# ELECTRA objectives whose discriminator detects replaced tokens, as a released one does
CONTINUABLE = tuple(name for name, o in OBJECTIVES.items() if o.main == "rtd" and not o.two_stage)
# parameters with one row (or entry) per token: grown for an extended vocabulary
PER_TOKEN = ("embeddings.word_embeddings.weight", "generator_lm_head.bias",
             "generator_lm_head.weight")


@dataclass(frozen=True)
class Released:
    """The checkpoint folders a run starts from."""

    discriminator: str
    generator: str | None


def find_released(init: str, generator: str | None = None) -> Released:
    """The discriminator (and generator) folders ``--init`` names: ``DIR/discriminator`` and
    ``DIR/generator`` where they are, else ``DIR`` itself as a discriminator; ``generator``
    (``--init-generator``) takes the place of a generator found beside it."""
    if os.path.isfile(os.path.join(init, "discriminator", "config.json")):
        beside = os.path.join(init, "generator")
        found = Released(os.path.join(init, "discriminator"),
                         beside if os.path.isfile(os.path.join(beside, "config.json")) else None)
    elif os.path.isfile(os.path.join(init, "config.json")):
        found = Released(init, None)
    else:
        raise InputError(init, "no checkpoint here (neither config.json nor "
                         "discriminator/config.json)")
    if generator is not None:
        if not os.path.isfile(os.path.join(generator, "config.json")):
            raise InputError(generator, "no checkpoint here (no config.json)")
        found = Released(found.discriminator, generator)
    return found


def _config(path: str, architecture: str) -> dict[str, Any]:
    """A checkpoint's config.json, checked to be an ELECTRA ``architecture``."""
    with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
        try:
            config = json.load(handle)
        except json.JSONDecodeError as exc:
            raise InputError(os.path.join(path, "config.json"), f"not JSON ({exc.msg})",
                             line=exc.lineno) from None
    if config.get("model_type") != "electra":
        raise InputError(path, f"a {config.get('model_type')!r} checkpoint; --init takes "
                         "ELECTRA checkpoints")
    kinds = config.get("architectures") or [architecture]
    if architecture not in kinds:
        role = "discriminator" if architecture == "ElectraForPreTraining" else "generator"
        raise InputError(path, f"holds {', '.join(kinds)}, not an {architecture} (a {role})")
    return config


def _size(config: dict[str, Any]) -> dict[str, int]:
    size = {k: config.get(k) for k in SIZE_KEYS}
    if size["embedding_size"] is None:  # transformers' default: the hidden size
        size["embedding_size"] = config.get("hidden_size")
    return size  # type: ignore[return-value]


def model_config(released: Released, vocab_size: int, **overrides: Any) -> ModelConfig:
    """The pretraining model that ``released`` fills: its sizes and positions, the shards'
    vocabulary, the other settings from ``overrides``."""
    disc = _config(released.discriminator, "ElectraForPreTraining")
    fields: dict[str, Any] = {**overrides, "size": _size(disc),
                              "max_position_embeddings": disc.get("max_position_embeddings",
                                                                  512)}
    if released.generator is not None:
        gen = _config(released.generator, "ElectraForMaskedLM")
        fields["generator_size"] = _size(gen)
        if gen.get("max_position_embeddings", 512) != fields["max_position_embeddings"]:
            raise InputError(released.generator, "has other positions than its "
                             "discriminator: not a pair")
    mcfg = ModelConfig(vocab_size=vocab_size, **fields)
    if mcfg.objective not in CONTINUABLE:
        raise ZhnlpError(f"--init continues ELECTRA pretraining ({', '.join(CONTINUABLE)}); "
                         f"objective {mcfg.objective!r} cannot start from a checkpoint")
    if mcfg.layer_sharing != "none":
        raise ZhnlpError("--init: a released checkpoint shares no layers (--layer-sharing "
                         "none)")
    mcfg.check()
    return mcfg


def check_vocabulary(released: Released, vocab: dict[str, int], data: str) -> int:
    """How many token rows the checkpoint has, once the shards' vocabulary (``vocab``, token
    -> id) is checked to be the checkpoint's or an extension of it; a one-line error
    otherwise, before any training."""
    from zhnlp.vocab import tokenizer_of

    rows = int(_config(released.discriminator, "ElectraForPreTraining")["vocab_size"])
    theirs = tokenizer_of(released.discriminator).get_vocab()
    moved = [(tok, i) for tok, i in theirs.items() if vocab.get(tok) != i]
    squeezed = [(tok, i) for tok, i in vocab.items() if tok not in theirs and i < rows]
    if moved or squeezed:
        tok, i = (moved or squeezed)[0]
        where = (f"{tok!r} is id {i} there, {vocab.get(tok)} in the shards" if moved else
                 f"the shards' {tok!r} takes id {i}, a row of the checkpoint")
        raise ZhnlpError(f"{data}: prepared with another vocabulary than {released.discriminator}"
                         f" ({len(moved) + len(squeezed)} tokens differ; {where}); prepare the "
                         f"shards with its tokenizer, or one that build-vocab --extend made "
                         "from it")
    return rows


def _grown(value: torch.Tensor, rows: int) -> torch.Tensor:
    """A per-token parameter with rows for the new tokens: the mean of the old ones."""
    if value.shape[0] == rows:
        return value
    extra = value.mean(0, keepdim=True).expand(rows - value.shape[0], *value.shape[1:])
    return torch.cat([value, extra])


def _load(part: torch.nn.Module, path: str, cls: Any, rows: int) -> None:
    """The weights of the checkpoint in ``path`` into ``part``, every tensor, nothing left
    out; per-token parameters grown to ``rows``."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        released, info = cls.from_pretrained(path, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", ()) if not k.endswith("position_ids")]
    if missing:
        raise InputError(path, f"lacks weights the model needs ({', '.join(sorted(missing)[:3])})")
    state = {k: _grown(v, rows) if k.endswith(PER_TOKEN) else v
             for k, v in released.state_dict().items()}
    own = part.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise InputError(path, f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the model "
                         f"{tuple(own[wrong[0]].shape)}")
    part.load_state_dict(state, strict=True)


def load_released(model: ElectraPretrainingModel, released: Released) -> None:
    """Fill ``model`` with the released weights: the generator's first (where there is one),
    then the discriminator's, whose embeddings are the shared ones."""
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    rows = model.config.vocab_size
    if released.generator is not None:
        _load(model.generator, released.generator, ElectraForMaskedLM, rows)
    assert model.discriminator is not None
    _load(model.discriminator, released.discriminator, ElectraForPreTraining, rows)
    model.tie()
