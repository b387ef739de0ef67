"""Chinese ELECTRA for pretraining: a generator (MLM) and a discriminator (replaced-token
detection) on transformers' Electra modules, sharing their embeddings.

- The token, position and type embeddings and the embedding LayerNorm are one module, used
  by both networks; the generator's output layer is the shared token embedding matrix.
  With ``embedding_sharing="gdes"`` (DeBERTa-v3's gradient-disentangled embedding sharing)
  the module is the generator's alone: the discriminator reads its token vectors with the
  gradient stopped, plus a residual table (zero at the start) in the discriminator's own
  token embeddings, and has its own positions, types and LayerNorm.  The RTD loss then
  cannot pull the shared vectors; the export merges the two tables into one.
- The generator is a fraction of the discriminator (default 1/4 of the hidden size, heads
  and FFN; same depth).  Its LM head runs only on the masked positions (gathered first).
- Generator samples are drawn in fp32 at a temperature, by inverse CDF (``multinomial``,
  one uniform per masked position) or Gumbel-max (``gumbel``, one per vocabulary entry);
  the uniforms are keyed by sequence and position (:mod:`zhnlp.pretraining.sampling`),
  made on the device.  A sample equal to the original token counts as original.
- Objectives (the rows of the ELECTRA paper): ``electra`` (MLM + ``rtd_weight`` x RTD over
  all real tokens), ``electra-15`` (RTD only on the masked positions), ``mlm`` (a BERT-style
  baseline: the full-size network trained as a masked LM, no discriminator),
  ``replace-mlm`` (the main network is a masked LM whose masked inputs are the generator's
  samples instead of ``[MASK]``), ``all-tokens-mlm`` (the same, predicting every token; no
  copy mechanism), ``two-stage`` (a full-size generator trained alone, then copied into the
  discriminator and frozen while the discriminator trains: see ``start_phase_two``).
- ALBERT's options: a factorised embedding (``embedding_size`` below ``hidden_size``),
  cross-layer sharing (``all``, ``attention`` or ``ffn``), and sentence-order prediction as
  an extra loss (``sop_weight``) on the discriminator's ``[CLS]``.

Losses come back as sums; the training loop divides them by the token counts of the whole
(accumulated, all-rank) batch, so that accumulation and data parallelism change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from zhnlp.dropout import use_cheap_dropout
from zhnlp.errors import ZhnlpError
from zhnlp.pretraining.sampling import inverse_cdf, keyed_uniform
from zhnlp.pretraining.sizes import EMBEDDING_SHARING, OBJECTIVES, SHARING, SIZES, Objective


@dataclass
class ModelConfig:
    """Everything that defines the pretraining model; saved as ``pretraining_config.json``."""

    vocab_size: int
    size: dict[str, int] = field(default_factory=lambda: dict(SIZES["small"]))
    max_position_embeddings: int = 512
    generator_fraction: float = 0.25
    objective: str = "electra"
    rtd_weight: float = 50.0
    temperature: float = 1.0
    # multinomial: inverse CDF with one keyed uniform per masked position; gumbel: ELECTRA's
    # Gumbel-max with one per vocabulary entry (the same distribution, 21,128x the numbers)
    sampling: str = "multinomial"
    layer_sharing: str = "none"
    embedding_sharing: str = "shared"  # or gdes (see the module's docstring)
    sop_weight: float = 0.0
    dropout: float = 0.1
    # the generator's own size (a released generator's), instead of generator_fraction's
    generator_size: dict[str, int] | None = None
    # the format the model came in and is exported in: electra, or bert (a BERT-style masked
    # LM continued with the mlm objective, see init.py)
    architecture: str = "electra"

    @classmethod
    def named(cls, name: str, vocab_size: int, **overrides: object) -> ModelConfig:
        """``tiny``, ``small``, ``base``, or a path to a JSON file of this class's fields."""
        if name in SIZES:
            return cls(vocab_size=vocab_size, **{"size": dict(SIZES[name]), **overrides})
        try:
            with open(name, encoding="utf-8") as handle:
                fields = json.load(handle)
        except FileNotFoundError:
            raise ZhnlpError(f"unknown config {name!r}: {', '.join(SIZES)} or a JSON file") \
                from None
        except json.JSONDecodeError as exc:
            raise ZhnlpError(f"{name}: not JSON ({exc})") from None
        fields.setdefault("vocab_size", vocab_size)
        try:
            return cls(**{**fields, **overrides})
        except TypeError as exc:
            raise ZhnlpError(f"{name}: {exc}") from None

    @property
    def spec(self) -> Objective:
        """What the objective trains, on which positions (see :class:`Objective`)."""
        return OBJECTIVES[self.objective]

    def check(self) -> None:
        """Refuse settings that cannot work, before any training."""
        s = self.size
        need = {"embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size"}
        if set(s) != need or any(not isinstance(v, int) or v < 1 for v in s.values()):
            raise ZhnlpError(f"model size needs positive integers {sorted(need)}")
        if s["hidden_size"] % s["num_attention_heads"]:
            raise ZhnlpError(f"hidden_size {s['hidden_size']} is not a multiple of "
                             f"num_attention_heads {s['num_attention_heads']}")
        if self.objective not in OBJECTIVES:
            raise ZhnlpError(f"unknown objective {self.objective!r} ({', '.join(OBJECTIVES)})")
        if self.layer_sharing not in SHARING:
            raise ZhnlpError(f"unknown layer sharing {self.layer_sharing!r}")
        if self.embedding_sharing not in EMBEDDING_SHARING:
            raise ZhnlpError(f"unknown embedding sharing {self.embedding_sharing!r} "
                             f"({', '.join(EMBEDDING_SHARING)})")
        if self.embedding_sharing == "gdes" and (self.spec.main != "rtd"
                                                 or self.spec.two_stage):
            # two-stage trains one network at a time: no two losses pull the embeddings
            raise ZhnlpError(f"gdes embedding sharing needs a discriminator trained beside "
                             f"the generator, which objective {self.objective!r} lacks")
        if self.sampling not in ("gumbel", "multinomial"):
            raise ZhnlpError(f"unknown sampling {self.sampling!r} (gumbel, multinomial)")
        if self.architecture not in ("electra", "bert"):
            raise ZhnlpError(f"unknown architecture {self.architecture!r} (electra, bert)")
        if self.architecture == "bert" and (self.objective != "mlm" or
                                            s["embedding_size"] != s["hidden_size"]):
            raise ZhnlpError("a BERT model trains with the mlm objective, its embeddings as "
                             "wide as its hidden states")
        if not 0 < self.generator_fraction <= 1:
            raise ZhnlpError("generator_fraction must be in (0, 1]")
        g = self.generator_size
        if g is not None and (set(g) != need or any(not isinstance(v, int) or v < 1
                                                    for v in g.values())):
            raise ZhnlpError(f"generator size needs positive integers {sorted(need)}")
        if g is not None and g["embedding_size"] != s["embedding_size"]:
            raise ZhnlpError(f"the generator's embedding_size {g['embedding_size']} is not the "
                             f"discriminator's {s['embedding_size']}: they share embeddings")

    def _electra(self, size: dict[str, int]) -> ElectraConfig:
        return ElectraConfig(vocab_size=self.vocab_size,
                             max_position_embeddings=self.max_position_embeddings,
                             hidden_dropout_prob=self.dropout,
                             attention_probs_dropout_prob=self.dropout, **size)

    def discriminator_config(self) -> ElectraConfig:
        return self._electra(self.size)

    def generator_config(self) -> ElectraConfig:
        if self.generator_size is not None:
            return self._electra(self.generator_size)
        s, f = self.size, (1.0 if self.spec.full_generator else self.generator_fraction)
        heads = max(1, round(s["num_attention_heads"] * f))
        return self._electra({
            "embedding_size": s["embedding_size"], "num_hidden_layers": s["num_hidden_layers"],
            "hidden_size": max(heads, round(s["hidden_size"] * f / heads) * heads),
            "num_attention_heads": heads,
            "intermediate_size": max(1, round(s["intermediate_size"] * f))})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def share_layers(encoder: nn.Module, how: str) -> None:
    """ALBERT's cross-layer sharing: every layer uses the first layer's modules."""
    if how == "none":
        return
    first = encoder.layer[0]
    for layer in encoder.layer[1:]:
        if how in ("all", "attention"):
            layer.attention = first.attention
        if how in ("all", "ffn"):
            layer.intermediate = first.intermediate
            layer.output = first.output


class ElectraPretrainingModel(nn.Module):
    """Generator + discriminator with shared (or gradient-disentangled) embeddings;
    ``forward`` returns loss sums."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.generator = ElectraForMaskedLM(config.generator_config())
        self.discriminator: ElectraForPreTraining | ElectraForMaskedLM | None = None
        if config.spec.main == "mlm":
            self.discriminator = ElectraForMaskedLM(config.discriminator_config())
        elif config.spec.main == "rtd":
            self.discriminator = ElectraForPreTraining(config.discriminator_config())
        self.phase = 1  # two-stage: 1 trains the generator, 2 the discriminator
        if self.disentangled:
            with torch.no_grad():
                self.residual_embeddings.weight.zero_()
        elif self.discriminator is not None:
            self.generator.electra.embeddings = self.discriminator.electra.embeddings
        if self.discriminator is not None:
            share_layers(self.discriminator.electra.encoder, config.layer_sharing)
        share_layers(self.generator.electra.encoder, config.layer_sharing)
        self.tie()
        hidden = config.size["hidden_size"]
        self.sop_head = nn.Linear(hidden, 2) if config.sop_weight > 0 else None
        use_cheap_dropout(self)

    def tie(self) -> None:
        """The generator's output layer is the (shared) token embedding matrix."""
        self.generator.generator_lm_head.weight = self.embeddings.word_embeddings.weight
        if isinstance(self.discriminator, ElectraForMaskedLM):
            self.discriminator.generator_lm_head.weight = self.embeddings.word_embeddings.weight

    def start_phase_two(self, *, copy: bool = True) -> None:
        """Two-stage training: the discriminator starts from the generator, which is frozen.

        The embeddings stay shared and keep training with the discriminator.  ``copy=False``
        when the weights come from a checkpoint taken in phase two.
        """
        if not self.config.spec.two_stage:
            raise ZhnlpError("only the two-stage objective has a second phase")
        if copy:
            target = self.discriminator.electra
            for name in ("encoder", "embeddings_project"):
                if hasattr(target, name):
                    getattr(target, name).load_state_dict(
                        getattr(self.generator.electra, name).state_dict())
        shared = {id(p) for p in self.embeddings.parameters()}
        for p in self.generator.parameters():
            if id(p) not in shared:
                p.requires_grad_(False)
        self.phase = 2

    @property
    def embeddings(self) -> nn.Module:
        """The generator's embeddings: under ``shared`` the discriminator's as well."""
        return self.generator.electra.embeddings

    @property
    def disentangled(self) -> bool:
        return self.config.embedding_sharing == "gdes"

    @property
    def residual_embeddings(self) -> nn.Embedding:
        """gdes: the discriminator's token table, which holds its residual."""
        assert self.discriminator is not None
        return self.discriminator.electra.embeddings.word_embeddings

    def discriminator_inputs(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the discriminator reads for ``ids``: the tokens themselves, or under gdes
        the generator's vectors (no gradient back into them) plus the residual."""
        if not self.disentangled:
            return {"input_ids": ids}
        shared = F.embedding(ids, self.embeddings.word_embeddings.weight.detach())
        return {"inputs_embeds": shared + self.residual_embeddings(ids)}

    def hidden_states(self, ids: torch.Tensor, attention: torch.Tensor,
                      types: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The exported encoder's vectors for the text ``ids``, the embeddings' output first,
        then each layer's: the discriminator's (the generator's where there is none)."""
        if self.discriminator is None:
            net, inputs = self.generator.electra, {"input_ids": ids}
        else:
            net, inputs = self.discriminator.electra, self.discriminator_inputs(ids)
        return net(**inputs, attention_mask=attention, token_type_ids=types,
                   output_hidden_states=True).hidden_states

    @contextmanager
    def merged_embeddings(self) -> Iterator[None]:
        """Inside, the discriminator's token table is what it reads (gdes: the generator's
        plus the residual), so that it can be saved as a plain ELECTRA; restored after."""
        if not self.disentangled:
            yield
            return
        table = self.residual_embeddings.weight
        residual = table.detach().clone()
        with torch.no_grad():
            table.add_(self.embeddings.word_embeddings.weight)
        try:
            yield
        finally:
            with torch.no_grad():
                table.copy_(residual)

    def start_from_discriminator_embeddings(self) -> None:
        """gdes, after loading a released pair: the generator takes the discriminator's
        embeddings (in a released pair they are the shared ones), the residual starts at 0."""
        if not self.disentangled:
            return
        self.embeddings.load_state_dict(self.discriminator.electra.embeddings.state_dict())
        with torch.no_grad():
            self.residual_embeddings.weight.zero_()

    def sample(self, logits: torch.Tensor, positions: torch.Tensor,
               seeds: torch.Tensor | None, *, weights: torch.Tensor | None = None,
               ) -> torch.Tensor:
        """Tokens drawn from the generator's distribution, in fp32.

        ``positions`` holds each masked position's (sequence, place); with ``seeds`` (one per
        sequence) a draw is a function of its sequence's seed and its place alone
        (:func:`keyed_uniform`, on the device), not of the batch it is in.  Gumbel-max takes
        a uniform per vocabulary entry, multinomial one per position (a two-level inverse
        CDF over ``weights``, ``exp(logits - max)``, which the loss has computed already).
        """
        logits = logits.float()
        width = 1 if self.config.sampling == "multinomial" else logits.shape[1]
        if seeds is None:
            u = torch.rand((logits.shape[0], width), device=logits.device)
        else:
            u = keyed_uniform(seeds[positions[:, 0]], positions[:, 1], width)
        temperature = self.config.temperature
        if self.config.sampling == "multinomial":
            if weights is None:
                weights = (logits - logits.max(-1, keepdim=True).values).exp()
            if temperature != 1:
                weights = weights.pow(1 / temperature)  # exp((logits - max) / T)
            return inverse_cdf(weights, u)
        return (logits / temperature - torch.log(-torch.log(u))).argmax(-1)

    def loss(self, sums: dict[str, torch.Tensor], counts: dict[str, float]) -> torch.Tensor:
        """The objective from loss sums and the token counts of the whole optimizer batch
        (``masked``, ``real``, ``sequences``: over all micro-batches and all ranks)."""
        spec = self.config.spec
        total = torch.zeros((), device=sums["mlm"].device)
        if self.phase == 1 or not spec.two_stage:
            total = total + sums["mlm"] / max(counts["masked"], 1)
        over = max(counts[spec.main_on], 1)
        if "main_mlm" in sums:
            total = total + sums["main_mlm"] / over
        if "rtd" in sums:
            total = total + self.config.rtd_weight * sums["rtd"] / over
        if "sop" in sums:
            total = total + self.config.sop_weight * sums["sop"] / max(counts["sequences"], 1)
        return total

    def forward(self, batch: dict[str, torch.Tensor], *, scores: bool = False,
                ) -> dict[str, torch.Tensor]:
        """Loss sums (``mlm``, ``rtd``, ``sop``) and the counts behind the metrics; with
        ``scores``, also the discriminator's logits and truths on its positions
        (``rtd_scores``, ``rtd_truth``: what an AUC needs) and which of them were masked
        (``rtd_masked``).

        ``batch`` is a masked batch (see :mod:`zhnlp.pretraining.loader`): ``input_ids`` (masked),
        ``labels`` (-100 off the masked positions), ``original_ids``, ``attention_mask``,
        ``token_type_ids``, and optionally ``sample_seed`` and ``sentence_order_label``.
        """
        ids, labels = batch["input_ids"], batch["labels"]
        attention, types = batch["attention_mask"], batch["token_type_ids"]
        original = batch["original_ids"]
        masked = labels != -100
        length = ids.shape[1]
        # the masked positions as flat indices, counted by the collator on the host: selecting
        # with them (not with a boolean mask) keeps the device from waiting for a count
        flat = batch.get("masked_positions")
        if flat is None:
            flat = masked.flatten().nonzero().squeeze(-1)
        hidden = self.generator.electra(input_ids=ids, attention_mask=attention,
                                        token_type_ids=types).last_hidden_state
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(
            hidden.flatten(0, 1).index_select(0, flat)))  # the masked positions only
        targets = original.flatten().index_select(0, flat)
        mlm, weights, best = SoftmaxCrossEntropy.apply(logits.float(), targets)
        out: dict[str, torch.Tensor] = {"mlm": mlm, "mlm_correct": (best == targets).sum()}
        spec = self.config.spec
        if self.discriminator is None or (spec.two_stage and self.phase == 1):
            return out
        with torch.no_grad():
            positions = torch.stack([flat // length, flat % length], 1)
            sampled = self.sample(logits.detach(), positions, batch.get("sample_seed"),
                                  weights=weights)
        fake = original.flatten().index_copy(0, flat, sampled).view_as(original)
        real = attention > 0
        replaced = (fake != original) & real
        out["replaced_masked"] = (replaced & masked).sum()
        where = masked if spec.main_on == "masked" else real  # the main loss's positions
        if isinstance(self.discriminator, ElectraForMaskedLM):
            main = self.discriminator
            h = main.electra(input_ids=fake, attention_mask=attention,
                             token_type_ids=types).last_hidden_state
            if spec.main_on == "masked":
                main_logits = main.generator_lm_head(main.generator_predictions(
                    h.flatten(0, 1).index_select(0, flat)))
                main_targets = targets
            else:  # every real token: the head runs on all, padding ignored
                main_logits = main.generator_lm_head(main.generator_predictions(h)).flatten(0, 1)
                main_targets = original.masked_fill(~real, -100).flatten()
            out["main_mlm"] = F.cross_entropy(main_logits.float(), main_targets,
                                              reduction="sum", ignore_index=-100)
            out["main_mlm_correct"] = (main_logits.argmax(-1) == main_targets).sum()
            return out
        d = self.discriminator.electra(**self.discriminator_inputs(fake),
                                       attention_mask=attention,
                                       token_type_ids=types).last_hidden_state
        d_logits = self.discriminator.discriminator_predictions(d).float()
        # over the main loss's positions by weight, not by selection: no count to wait for
        out["rtd"] = F.binary_cross_entropy_with_logits(
            d_logits, replaced.float(), weight=where.float(), reduction="sum")
        predicted = (d_logits > 0) & where
        out.update(rtd_correct=(where & ((d_logits > 0) == replaced)).sum(),
                   rtd_tp=(predicted & replaced).sum(), rtd_predicted=predicted.sum(),
                   rtd_replaced=(replaced & where).sum())
        if scores:
            out.update(rtd_scores=d_logits[where], rtd_truth=replaced[where],
                       rtd_masked=masked[where])
        if self.sop_head is not None and "sentence_order_label" in batch:
            sop_logits = self.sop_head(d[:, 0])
            out["sop"] = F.cross_entropy(sop_logits.float(), batch["sentence_order_label"],
                                         reduction="sum")
        return out


class SoftmaxCrossEntropy(torch.autograd.Function):
    """The summed cross-entropy of fp32 logits, handing back what its forward pass computes
    anyway: ``exp(logits - max)`` (the sampling weights) and the argmax (the accuracy).  The
    (masked positions x vocabulary) logits are the largest tensor of a small model's step;
    this reads them three times where loss, argmax and sampling apart read them eight."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor,
                targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        top, best = logits.max(-1, keepdim=True)
        weights = (logits - top).exp_()
        total = weights.sum(-1, keepdim=True)
        loss = (total.log() + top - logits.gather(1, targets[:, None])).sum()
        ctx.save_for_backward(weights, total, targets)
        ctx.mark_non_differentiable(weights, best)
        return loss, weights, best.squeeze(-1)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor) -> tuple[torch.Tensor, None]:
        weights, total, targets = ctx.saved_tensors
        g = weights * (grad / total)  # softmax x grad
        g.scatter_add_(1, targets[:, None], (-grad).expand(len(targets), 1))
        return g, None
