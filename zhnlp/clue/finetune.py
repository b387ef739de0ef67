"""Fine-tuning, evaluation and prediction for the CLUE classification tasks.

``--model`` is a checkpoint directory (ours from ``zhnlp pretrain``, or any Hugging Face
BERT/RoBERTa/ELECTRA directory with its tokenizer) or a config name (``tiny``, ``small``) for
a randomly initialised ELECTRA whose tokenizer is learned from the task's training text.
AdamW with warm-up and linear decay, layer-wise learning-rate decay, evaluation on dev after
each epoch, the best checkpoint kept (atomically), early stopping, several seeds.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from zhnlp.clue.classification import ClassificationTask, Example, get_task
from zhnlp.errors import InputError, ZhnlpError
from zhnlp.io import atomic_dir, atomic_write
from zhnlp.model_sizes import SIZES
from zhnlp.progress import progress_bar

TRAIN_FILES = ("train.json", "train_few_all.json")
DEV_FILES = ("dev.json", "dev_few_all.json")


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run."""

    task: str
    data: str
    model: str
    out: str
    epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-4
    layer_decay: float = 0.8
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_len: int = 128
    patience: int = 2
    seeds: tuple[int, ...] = (0,)


def find_file(data: str, names: tuple[str, ...]) -> str:
    for name in names:
        if os.path.exists(os.path.join(data, name)):
            return os.path.join(data, name)
    raise InputError(data, f"none of {', '.join(names)} here")


def _load_model(cfg: FinetuneConfig, labels: list[str], train: list[Example], seed: int,
                ) -> tuple[torch.nn.Module, object]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    id2label = dict(enumerate(labels))
    label2id = {v: k for k, v in id2label.items()}
    if cfg.model in SIZES:
        from transformers import ElectraConfig, ElectraForSequenceClassification

        from zhnlp.vocab import save_tokenizer, train_tokenizer

        tokdir = os.path.join(cfg.out, "tokenizer")
        if not os.path.exists(os.path.join(tokdir, "tokenizer.json")):
            texts = [t for a, b, _, _ in train for t in (a, b) if t]
            save_tokenizer(train_tokenizer(texts, 8000), tokdir)
        tokenizer = AutoTokenizer.from_pretrained(tokdir)
        torch.manual_seed(seed)
        config = ElectraConfig(vocab_size=len(tokenizer), num_labels=len(labels),
                               id2label=id2label, label2id=label2id, **SIZES[cfg.model])
        return ElectraForSequenceClassification(config), tokenizer
    if not os.path.isdir(cfg.model):
        raise ZhnlpError(f"--model {cfg.model!r} is neither a checkpoint directory nor one of "
                         f"{', '.join(SIZES)}")
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.model, num_labels=len(labels), id2label=id2label, label2id=label2id,
        ignore_mismatched_sizes=True)
    return model, tokenizer


def layerwise_groups(model: torch.nn.Module, lr: float, decay: float,
                     weight_decay: float) -> list[dict[str, object]]:
    """Parameter groups whose learning rate shrinks by ``decay`` per layer below the top:
    the head gets ``lr``, layer ``i`` of ``L`` gets ``lr * decay ** (L - i)``, the
    embeddings ``lr * decay ** (L + 1)``."""
    n_layers = getattr(model.config, "num_hidden_layers", 0)
    groups: dict[tuple[int, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if ".layer." in name:
            depth = n_layers - int(name.split(".layer.")[1].split(".")[0])
        elif "embeddings" in name:
            depth = n_layers + 1
        else:
            depth = 0
        no_decay = p.ndim < 2 or "LayerNorm" in name
        groups.setdefault((depth, no_decay), []).append(p)
    return [{"params": ps, "lr": lr * decay ** depth,
             "weight_decay": 0.0 if no_decay else weight_decay}
            for (depth, no_decay), ps in groups.items()]


def _batches(tokenizer: object, examples: list[Example], label2id: dict[str, int],
             size: int, max_len: int, order: list[int] | None = None):
    order = order if order is not None else list(range(len(examples)))
    for i in range(0, len(order), size):
        chunk = [examples[j] for j in order[i:i + size]]
        a = [e[0] for e in chunk]
        b = [e[1] for e in chunk] if chunk[0][1] is not None else None
        enc = tokenizer(a, b, truncation=True, max_length=max_len, padding=True,
                        return_tensors="pt")
        labels = [label2id[e[2]] for e in chunk] if chunk[0][2] is not None else None
        yield dict(enc), (torch.tensor(labels) if labels is not None else None)


def predict_labels(model: torch.nn.Module, tokenizer: object, examples: list[Example],
                   labels: list[str], batch_size: int = 64, max_len: int = 128) -> list[str]:
    """The predicted label of every example."""
    model.eval()
    out: list[int] = []
    with torch.no_grad():
        for enc, _ in _batches(tokenizer, [(a, b, None, i) for a, b, _, i in examples], {},
                               batch_size, max_len):
            out += model(**enc).logits.argmax(-1).tolist()
    return [labels[i] for i in out]


def accuracy(predicted: list[str], examples: list[Example]) -> float:
    return sum(p == e[2] for p, e in zip(predicted, examples)) / len(examples)


def finetune(cfg: FinetuneConfig, *, quiet: bool = True) -> dict[str, object]:
    """Fine-tune once per seed; keep the best dev checkpoint of all in ``out/best``.

    Returns (and writes to ``out/results.json``) the dev accuracy per seed and epoch, their
    mean, median and max, and the majority-class baseline.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours is enough
    task = get_task(cfg.task)
    labels = task.label_list(cfg.data)
    train = task.read(find_file(cfg.data, TRAIN_FILES), labels)
    dev = task.read(find_file(cfg.data, DEV_FILES), labels)
    label2id = {label: i for i, label in enumerate(labels)}
    os.makedirs(cfg.out, exist_ok=True)
    majority = Counter(e[2] for e in train).most_common(1)[0][0]
    results: dict[str, object] = {"task": cfg.task, "config": asdict(cfg),
                                  "majority_baseline": accuracy([majority] * len(dev), dev),
                                  "seeds": {}}
    best_overall = -1.0
    for seed in cfg.seeds:
        model, tokenizer = _load_model(cfg, labels, train, seed)
        opt = torch.optim.AdamW(layerwise_groups(model, cfg.lr, cfg.layer_decay,
                                                 cfg.weight_decay))
        base_lrs = [g["lr"] for g in opt.param_groups]
        steps = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
        warmup = max(1, int(cfg.warmup * steps))
        gen = torch.Generator().manual_seed(seed)
        curve, best, waited, step = [], -1.0, 0, 0
        bar = progress_bar(steps, desc=f"{cfg.task} seed {seed}", unit="step", quiet=quiet)
        for _epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(len(train), generator=gen).tolist()
            for enc, y in _batches(tokenizer, train, label2id, cfg.batch_size, cfg.max_len,
                                   order):
                scale = (step + 1) / warmup if step < warmup else \
                    max(0.0, (steps - step) / max(1, steps - warmup))
                for group, base in zip(opt.param_groups, base_lrs):
                    group["lr"] = base * scale
                loss = model(**enc, labels=y).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
            acc = accuracy(predict_labels(model, tokenizer, dev, labels,
                                          max_len=cfg.max_len), dev)
            curve.append(acc)
            if acc > best:
                best, waited = acc, 0
                if acc > best_overall:
                    best_overall = acc
                    with atomic_dir(os.path.join(cfg.out, "best")) as tmp:
                        model.save_pretrained(tmp)
                        tokenizer.save_pretrained(tmp)
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        bar.close()
        results["seeds"][str(seed)] = {"best_dev_accuracy": best, "dev_accuracy_by_epoch": curve}
    bests = [s["best_dev_accuracy"] for s in results["seeds"].values()]
    results.update(mean=statistics.mean(bests), median=statistics.median(bests), max=max(bests))
    with atomic_write(os.path.join(cfg.out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, ensure_ascii=False)
    _plot(results, os.path.join(cfg.out, "curve.png"))
    return results


def _plot(results: dict[str, object], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, r in results["seeds"].items():
        ax.plot(range(1, len(r["dev_accuracy_by_epoch"]) + 1), r["dev_accuracy_by_epoch"],
                marker="o", label=f"seed {seed}")
    ax.axhline(results["majority_baseline"], color="grey", linestyle="--", label="majority")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev accuracy")
    ax.set_title(results["task"])
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def evaluate(task_name: str, data: str, model_dir: str, max_len: int = 128) -> float:
    """Accuracy of a fine-tuned checkpoint on the dev file."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(task_name)
    labels = _model_labels(model_dir, task, data)
    dev = task.read(find_file(data, DEV_FILES), labels)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return accuracy(predict_labels(model, tokenizer, dev, labels, max_len=max_len), dev)


def _model_labels(model_dir: str, task: ClassificationTask, data: str) -> list[str]:
    config = Path(model_dir) / "config.json"
    if not config.exists():
        raise InputError(model_dir, "not a fine-tuned checkpoint (no config.json)")
    id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label", {})
    labels = [id2label[str(i)] for i in range(len(id2label))]
    if set(labels) != set(task.label_list(data)):
        raise ZhnlpError(f"{model_dir}: fine-tuned for labels {labels[:5]}..., not "
                         f"{task.name}'s")
    return labels


def predict(task_name: str, data: str, model_dir: str, out_dir: str, split: str = "test",
            max_len: int = 128) -> str:
    """Write the task's submission file for ``split`` in ``out_dir``; returns its path."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(task_name)
    labels = _model_labels(model_dir, task, data)
    names = {"test": ("test.json",), "dev": DEV_FILES, "train": TRAIN_FILES}[split]
    examples = task.read(find_file(data, names), labels, labelled=False)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    predicted = predict_labels(model, tokenizer, examples, labels, max_len=max_len)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, task.submission)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        for (_, _, _, ident), label in zip(examples, predicted):
            handle.write(json.dumps({"id": ident, "label": label}, ensure_ascii=False) + "\n")
    return path
