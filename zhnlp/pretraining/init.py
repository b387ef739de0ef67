"""Continued pretraining: a released checkpoint as the start of a run (``--init``).

``--init DIR`` takes what ``zhnlp pretrain`` exports (``DIR/discriminator`` and
``DIR/generator``), the same pair from Hugging Face, or a single discriminator (``DIR`` itself,
or ``--init DISC --init-generator GEN`` for two folders).  The model's size is the
checkpoint's; the generator is the released one, or (a discriminator alone) a fresh one at
``generator_fraction``; either way the embeddings are the discriminator's, shared, and the
generator's output layer is tied to them.  The shards must have been prepared with the
checkpoint's vocabulary, or with an extension of it (the checkpoint's tokens keep their ids,
new ones come after): the embedding rows of the new tokens start at the mean of the old rows.

A BERT-style masked LM (``model_type`` bert: Chinese-BERT-wwm, RoBERTa-wwm-ext, MacBERT) is
continued as one, with ``--objective mlm`` and whole-word masking: its weights map one to one
onto an ELECTRA generator of the same size (:data:`BERT_TO_ELECTRA`; the pooler and the
next-sentence head are not part of a masked LM), and the run exports it back as a
``BertForMaskedLM`` (:func:`as_bert`).
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
# a BERT masked LM's parameter names -> an ELECTRA generator's (prefixes, first match)
BERT_TO_ELECTRA = (("bert.", "electra."), ("cls.predictions.transform.", "generator_predictions."),
                   ("cls.predictions.decoder.weight", "generator_lm_head.weight"),
                   ("cls.predictions.bias", "generator_lm_head.bias"))


@dataclass(frozen=True)
class Released:
    """The checkpoint folders a run starts from: an ELECTRA discriminator (and generator), or
    a BERT-style masked LM."""

    discriminator: str | None
    generator: str | None
    masked_lm: str | None = None

    @property
    def folder(self) -> str:
        """The checkpoint whose vocabulary and positions the run takes."""
        return self.masked_lm or self.discriminator  # type: ignore[return-value]


def renamed(name: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """``name`` with the first matching prefix of ``pairs`` replaced; None without one."""
    for old, new in pairs:
        if name.startswith(old):
            return new + name[len(old):]
    return None


def electra_name(bert_name: str) -> str | None:
    """An ELECTRA generator's name for a BERT masked LM's parameter (None: not kept)."""
    return renamed(bert_name, BERT_TO_ELECTRA)


def bert_name(electra: str) -> str | None:
    """A BERT masked LM's name for an ELECTRA generator's parameter."""
    return renamed(electra, tuple((new, old) for old, new in BERT_TO_ELECTRA))


def find_released(init: str, generator: str | None = None) -> Released:
    """The discriminator (and generator) folders ``--init`` names: ``DIR/discriminator`` and
    ``DIR/generator`` where they are, else ``DIR`` itself as a discriminator; ``generator``
    (``--init-generator``) takes the place of a generator found beside it."""
    if os.path.isfile(os.path.join(init, "discriminator", "config.json")):
        beside = os.path.join(init, "generator")
        found = Released(os.path.join(init, "discriminator"),
                         beside if os.path.isfile(os.path.join(beside, "config.json")) else None)
    elif os.path.isfile(os.path.join(init, "config.json")):
        if _read_config(init).get("model_type") == "bert":
            if generator is not None:
                raise InputError(generator, "--init-generator goes with an ELECTRA "
                                 f"discriminator; {init} is a BERT-style masked LM")
            return Released(None, None, masked_lm=init)
        found = Released(init, None)
    else:
        raise InputError(init, "no checkpoint here (neither config.json nor "
                         "discriminator/config.json)")
    if generator is not None:
        if not os.path.isfile(os.path.join(generator, "config.json")):
            raise InputError(generator, "no checkpoint here (no config.json)")
        found = Released(found.discriminator, generator)
    return found


def _read_config(path: str) -> dict[str, Any]:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise InputError(os.path.join(path, "config.json"), f"not JSON ({exc.msg})",
                             line=exc.lineno) from None


def _config(path: str, architecture: str) -> dict[str, Any]:
    """A checkpoint's config.json, checked to be an ELECTRA ``architecture``."""
    config = _read_config(path)
    if config.get("model_type") != "electra":
        raise InputError(path, f"a {config.get('model_type')!r} checkpoint; --init takes "
                         "ELECTRA checkpoints and BERT-style masked LMs (model_type bert)")
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
    if released.masked_lm is not None:
        fields = _bert_fields(released.masked_lm, overrides)
    else:
        fields = _electra_fields(released, overrides)
    mcfg = ModelConfig(vocab_size=vocab_size, **fields)
    if released.masked_lm is None and mcfg.objective not in CONTINUABLE:
        raise ZhnlpError(f"--init continues ELECTRA pretraining ({', '.join(CONTINUABLE)}) "
                         f"or a BERT-style masked LM (mlm); objective {mcfg.objective!r} cannot "
                         "start from an ELECTRA checkpoint")
    if mcfg.layer_sharing != "none":
        raise ZhnlpError("--init: a released checkpoint shares no layers (--layer-sharing "
                         "none)")
    mcfg.check()
    return mcfg


def _electra_fields(released: Released, overrides: dict[str, Any]) -> dict[str, Any]:
    """ModelConfig's fields for an ELECTRA discriminator (and generator): their sizes."""
    disc = _config(released.discriminator, "ElectraForPreTraining")  # type: ignore[arg-type]
    fields: dict[str, Any] = {**overrides, "size": _size(disc),
                              "max_position_embeddings": disc.get("max_position_embeddings",
                                                                  512)}
    if released.generator is not None:
        gen = _config(released.generator, "ElectraForMaskedLM")
        fields["generator_size"] = _size(gen)
        if gen.get("max_position_embeddings", 512) != fields["max_position_embeddings"]:
            raise InputError(released.generator, "has other positions than its "
                             "discriminator: not a pair")
    return fields


def _bert_fields(path: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """ModelConfig's fields for the masked LM (``--objective mlm``) a BERT checkpoint fills:
    its sizes, embeddings as wide as its hidden states."""
    config = _read_config(path)
    if overrides.get("objective") != "mlm":
        raise ZhnlpError(f"{path}: a BERT-style masked LM continues as one: add --objective mlm")
    if config.get("hidden_act", "gelu") != "gelu" or config.get("type_vocab_size", 2) != 2 \
            or config.get("position_embedding_type", "absolute") != "absolute":
        raise InputError(path, "not a BERT of the standard kind (gelu, 2 segment types, "
                         "absolute positions), which is what an ELECTRA generator can hold")
    # a BertModel has no factorised embedding, whatever config.json says
    size = {**_size(config), "embedding_size": config.get("hidden_size")}
    return {**overrides, "size": size, "architecture": "bert",
            "max_position_embeddings": config.get("max_position_embeddings", 512)}


def check_vocabulary(released: Released, vocab: dict[str, int], data: str) -> int:
    """How many token rows the checkpoint has, once the shards' vocabulary (``vocab``, token
    -> id) is checked to be the checkpoint's or an extension of it; a one-line error
    otherwise, before any training."""
    from zhnlp.vocab import tokenizer_of

    rows = int(_read_config(released.folder)["vocab_size"])
    theirs = tokenizer_of(released.folder).get_vocab()
    moved = [(tok, i) for tok, i in theirs.items() if vocab.get(tok) != i]
    squeezed = [(tok, i) for tok, i in vocab.items() if tok not in theirs and i < rows]
    if moved or squeezed:
        tok, i = (moved or squeezed)[0]
        where = (f"{tok!r} is id {i} there, {vocab.get(tok)} in the shards" if moved else
                 f"the shards' {tok!r} takes id {i}, a row of the checkpoint")
        raise ZhnlpError(f"{data}: prepared with another vocabulary than {released.folder}"
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


def _load(part: torch.nn.Module, path: str, cls: Any, rows: int,
          rename: Any = None) -> None:
    """The weights of the checkpoint in ``path`` into ``part``, every tensor, nothing left
    out (named by ``rename`` where given, which drops what it maps to None); per-token
    parameters grown to ``rows``."""
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
    named = released.state_dict()
    if rename is not None:
        named = {rename(k): v for k, v in named.items() if rename(k) is not None}
    state = {k: _grown(v, rows) if k.endswith(PER_TOKEN) else v for k, v in named.items()}
    own = part.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise InputError(path, f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the model "
                         f"{tuple(own[wrong[0]].shape)}")
    part.load_state_dict(state, strict=True)


def load_released(model: ElectraPretrainingModel, released: Released) -> None:
    """Fill ``model`` with the released weights: the generator's first (where there is one),
    then the discriminator's, whose embeddings are the shared ones (under gdes copied into
    the generator's, the residual at 0)."""
    from transformers import BertForMaskedLM, ElectraForMaskedLM, ElectraForPreTraining

    rows = model.config.vocab_size
    if released.masked_lm is not None:
        _load(model.generator, released.masked_lm, BertForMaskedLM, rows, rename=electra_name)
        model.tie()
        return
    if released.generator is not None:
        _load(model.generator, released.generator, ElectraForMaskedLM, rows)
    assert model.discriminator is not None and released.discriminator is not None
    _load(model.discriminator, released.discriminator, ElectraForPreTraining, rows)
    model.start_from_discriminator_embeddings()
    model.tie()


def as_bert(generator: torch.nn.Module) -> torch.nn.Module:
    """The ELECTRA generator of a run continued from a BERT checkpoint, as the
    ``BertForMaskedLM`` it came from (the same weights, renamed; no pooler)."""
    from transformers import BertConfig, BertForMaskedLM

    c = generator.config
    bert = BertForMaskedLM(BertConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_hidden_layers,
        num_attention_heads=c.num_attention_heads, intermediate_size=c.intermediate_size,
        max_position_embeddings=c.max_position_embeddings, type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.layer_norm_eps, hidden_dropout_prob=c.hidden_dropout_prob,
        attention_probs_dropout_prob=c.attention_probs_dropout_prob))
    state = {bert_name(k): v for k, v in generator.state_dict().items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    # the decoder's bias is the prediction head's bias, one tensor under two names
    assert set(missing) <= {"cls.predictions.decoder.bias"} and not unexpected, (missing,
                                                                                  unexpected)
    return bert
