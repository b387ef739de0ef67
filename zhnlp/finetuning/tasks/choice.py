"""What the multiple-choice tasks (C3, CHID) share: each question is read as one text paired
with each of its choices, scored by ``AutoModelForMultipleChoice``; questions with fewer
choices than the widest are padded with empty choices that are never trained as answers
nor chosen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zhnlp.finetuning.tasks.base import Encoded, Task, accuracy


def encode_choices(tokenizer: Any, first: Sequence[str], second: Sequence[Sequence[str]],
                   n_choices: int, max_len: int) -> tuple[dict[str, Any], np.ndarray]:
    """Multiple-choice inputs of shape (questions, n_choices, length): ``first[i]`` paired with
    each of ``second[i]``, missing choices padded with empty text and flagged invalid.  A
    pair too long loses tokens from its longer text first, in practice the context, so the
    choice stays whole unless it alone is longer than half the input."""
    valid = np.zeros((len(first), n_choices), dtype=bool)
    a, b = [], []
    for i, (text, choices) in enumerate(zip(first, second)):
        valid[i, :len(choices)] = True
        padded = list(choices) + [""] * (n_choices - len(choices))
        a += [text] * n_choices
        b += padded
    enc = tokenizer(a, b, truncation="longest_first", max_length=max_len, padding=True,
                    return_tensors="pt")
    return {k: v.view(len(first), n_choices, -1) for k, v in enc.items()}, valid


def choice_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy over the valid choices only (padding choices get no probability)."""
    import torch

    inputs = {k: v for k, v in batch.items() if k not in ("labels", "valid")}
    logits = model(**inputs).logits.masked_fill(~batch["valid"], float("-inf"))
    return torch.nn.functional.cross_entropy(logits, batch["labels"])


class MultipleChoiceTask(Task):
    """A task whose examples have an ``answer`` index (None when unlabelled)."""

    head = "MultipleChoice"
    n_choices: int | None = None  # choices per model input; default: the most any example has

    def pairs(self, tokenizer: Any, examples: Sequence[Any], max_len: int,
              ) -> tuple[list[str], list[Sequence[str]]]:
        """The first text of each example and the second text of each of its choices."""
        raise NotImplementedError

    def encode(self, tokenizer: Any, examples: Sequence[Any], labels: list[str],
               max_len: int) -> Encoded:
        import torch

        first, second = self.pairs(tokenizer, examples, max_len)
        inputs, valid = encode_choices(tokenizer, first, second,
                                       self.n_choices or max(map(len, second)), max_len)
        targets = {"valid": torch.from_numpy(valid)}
        if examples[0].answer is not None:
            targets["labels"] = torch.tensor([e.answer for e in examples])
        return Encoded(inputs, targets, np.arange(len(examples)), {"valid": valid})

    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        return choice_loss(model, batch)

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Any], labels: list[str]) -> list[int]:
        return np.where(enc.extra["valid"], outputs["logits"], -np.inf).argmax(-1).tolist()

    def score(self, predicted: Sequence[int], examples: Sequence[Any]) -> dict[str, float]:
        return {"accuracy": accuracy(predicted, [e.answer for e in examples])}
