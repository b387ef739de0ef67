"""A fine-tuned model at work: its outputs on encoded examples, a task's dev scores, the
submission file of a split, and labels for new text (``predict --input``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import IO, Any

import numpy as np
import torch

from zhnlp.devices import autocast
from zhnlp.finetuning.checkpoints import load_finetuned, trained_task
from zhnlp.finetuning.tasks import Task
from zhnlp.finetuning.tasks.base import Encoded
from zhnlp.io import atomic_write
from zhnlp.parallel import chunked
from zhnlp.progress import progress_bar

PAD_LOGIT = -1e4  # positions cut off a batch: never the best


def batch_of(enc: Encoded, rows: torch.Tensor, *, targets: bool, per_token: bool,
             device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The inputs (and targets) of ``rows`` on ``device``, cut to the longest sequence among
    them; a per-token target (one tag a position) is cut alike."""
    ids = enc.inputs["input_ids"]
    width = int(enc.inputs["attention_mask"][rows].sum(-1).max())
    batch = {k: v[rows][..., :width].long() for k, v in enc.inputs.items()}
    if targets:
        for k, v in enc.targets.items():
            cut = per_token and v.ndim == ids.ndim
            batch[k] = v[rows][..., :width].contiguous() if cut else v[rows]
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def run_model(model: torch.nn.Module, task: Task, enc: Encoded, batch_size: int = 64, *,
              quiet: bool = True) -> dict[str, np.ndarray]:
    """The task's outputs for every row of ``enc``, in order (per-token outputs padded back to
    the full width with a very low logit)."""
    model.eval()
    device = next(model.parameters()).device
    width = enc.inputs["input_ids"].shape[-1]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in task.outputs}
    bar = progress_bar(len(enc), desc="predicting", unit="input", quiet=quiet)
    with torch.no_grad(), autocast(device), bar:
        for start in range(0, len(enc), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(enc)))
            out = model(**batch_of(enc, rows, targets=False, per_token=task.per_token,
                                   device=device))
            for k in task.outputs:
                value = out[k].float().cpu().numpy()
                if task.per_token:
                    pad = [(0, 0)] * value.ndim
                    # per-token outputs: (rows, positions) or (rows, positions, labels)
                    pad[1] = (0, width - value.shape[1])
                    value = np.pad(value, pad, constant_values=PAD_LOGIT)
                parts[k].append(value)
            bar.update(len(rows))
    return {k: np.concatenate(v) for k, v in parts.items()}


def predict_examples(model: torch.nn.Module, task: Task, tokenizer: Any, examples: list[Any],
                     labels: list[str], max_len: int, enc: Encoded | None = None, *,
                     quiet: bool = True) -> list[Any]:
    """One prediction per example (``enc``: the examples already encoded)."""
    enc = enc if enc is not None else task.encode(tokenizer, examples, labels, max_len)
    return task.decode(run_model(model, task, enc, quiet=quiet), enc, examples, labels)


def evaluate(task: str | Task, data: str | None, model_dir: str, *, quiet: bool = True,
             options: dict[str, Any] | None = None) -> dict[str, float]:
    """The task's scores of a fine-tuned checkpoint on the dev split, its metric first."""
    task, labels, dev, model, tokenizer, max_len = load_finetuned(
        task, data, model_dir, "dev", labelled=True, options=options)
    scores = task.score(predict_examples(model, task, tokenizer, dev, labels, max_len,
                                         quiet=quiet), dev)
    return {task.metric: scores[task.metric], **scores}


def predict(task: str | Task, data: str | None, model_dir: str, out_dir: str,
            split: str = "test", *, quiet: bool = True,
            options: dict[str, Any] | None = None) -> str:
    """Write the task's submission file for ``split`` in ``out_dir``; returns its path."""
    task, labels, examples, model, tokenizer, max_len = load_finetuned(
        task, data, model_dir, split, labelled=False, options=options)
    predicted = predict_examples(model, task, tokenizer, examples, labels, max_len,
                                 quiet=quiet)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, task.submission_name(data))
    with atomic_write(path, "w", encoding="utf-8") as handle:
        task.write(predicted, examples, handle)
    return path


def label_texts(model_dir: str, source: str, handle: IO[str], *, top_k: int = 1,
                batch_size: int = 512, options: dict[str, Any] | None = None,
                quiet: bool = True) -> int:
    """Label new text with a fine-tuned model; returns the number of inputs labelled.

    ``source`` is plain text (one input a line; ``.gz``/``.bz2``; ``-`` for stdin), read and
    labelled in batches of ``batch_size`` lines, or a file in the task's own format (CSV,
    TSV, JSON lines with the fields it was trained with, or ``options``; a CLUE task's JSON
    lines).  Each input gives a JSON line: ``id`` (its line number, or the file's own id),
    the text, and what the task found (:meth:`Task.explain`: a label and its probability,
    the ``top_k`` best; the labels above one half for a multi-label model; entity spans).
    """
    from zhnlp.io import iter_text

    task, labels, _, model, tokenizer, max_len = load_finetuned(
        trained_task(model_dir), None, model_dir, "test", labelled=False, options=options,
        read=False)
    examples: Iterable[Any]
    if source.endswith(task.input_suffixes):
        examples = task.read(source, labels, labelled=False)
    else:
        lines = (line for chunk in iter_text(source, quiet=True) for line in chunk.splitlines())
        examples = (task.new_example(line, n) for n, line in enumerate(lines, 1)
                    if line.strip())
    bar = progress_bar(desc="labelling", unit="input", quiet=quiet)
    done = 0
    with bar:
        for batch in chunked(examples, batch_size):
            enc = task.encode(tokenizer, batch, labels, max_len)
            outputs = run_model(model, task, enc, quiet=True)
            for row in task.explain(outputs, enc, batch, labels, top_k):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            done += len(batch)
            bar.update(len(batch))
    return done
