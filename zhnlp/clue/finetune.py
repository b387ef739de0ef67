"""Fine-tuning, evaluation and prediction for every CLUE task, through its adapter.

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
import shutil
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import IO, Any

import numpy as np
import torch

from zhnlp.clue import Task, get_task
from zhnlp.clue.base import Encoded
from zhnlp.devices import autocast, pick_device
from zhnlp.errors import InputError, ZhnlpError
from zhnlp.io import atomic_dir, atomic_write
from zhnlp.model_sizes import SIZES
from zhnlp.parallel import chunked
from zhnlp.progress import progress_bar

TASK_FILE = "zhnlp_task.json"  # beside a fine-tuned checkpoint: its task and settings
RESUME_FILE = "resume.pt"  # in a run directory while the run is unfinished
PAD_LOGIT = -1e4  # positions cut off a batch: never the best


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
    device: str = "auto"  # auto: the GPU when there is one
    # task options (ignored by the tasks that do not take them)
    options: dict[str, Any] = field(default_factory=dict)


def checkpoint_in(folder: str) -> str | None:
    """The checkpoint a folder stands for: itself when it holds one (``config.json``), the
    best checkpoint of a ``zhnlp finetune`` output folder (``best/``), or None."""
    for path in (folder, os.path.join(folder, "best")):
        if os.path.exists(os.path.join(path, "config.json")):
            return path
    return None


def resolve_model(model: str) -> str:
    """A config name as it is; a ``zhnlp finetune`` output folder as its best checkpoint; a
    ``zhnlp pretrain`` run directory as its discriminator (what ELECTRA fine-tunes); any other
    directory must be a checkpoint."""
    if model in SIZES:
        return model
    if not os.path.isdir(model):
        raise ZhnlpError(f"--model {model!r} is neither a checkpoint directory nor one of "
                         f"{', '.join(SIZES)}")
    found = checkpoint_in(model)
    if found is None and os.path.exists(os.path.join(model, "discriminator", "config.json")):
        found = os.path.join(model, "discriminator")
    if found is None:
        raise InputError(model, "not a checkpoint directory (no config.json)")
    return found


def load_tokenizer(path: str) -> Any:
    """The transformers tokenizer of a checkpoint, or a one-line error naming the folder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # malformed files raise anything from ValueError to a Rust error
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(path, f"no readable tokenizer here ({reason[:200]})") from None


def _tokenizer(cfg: FinetuneConfig, task: Task, train: list[Any]) -> Any:
    if cfg.model in SIZES:
        from zhnlp.vocab import save_tokenizer, train_tokenizer

        tokdir = os.path.join(cfg.out, "tokenizer")
        if not os.path.exists(os.path.join(tokdir, "tokenizer.json")):
            save_tokenizer(train_tokenizer(task.texts(train), 8000), tokdir)
        return load_tokenizer(tokdir)
    return load_tokenizer(cfg.model)


def _label_args(task: Task, labels: list[str]) -> dict[str, Any]:
    if task.head not in ("SequenceClassification", "TokenClassification"):
        return {}
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}}


def _model(cfg: FinetuneConfig, task: Task, labels: list[str], vocab_size: int,
           seed: int) -> torch.nn.Module:
    import transformers

    torch.manual_seed(seed)
    if cfg.model in SIZES:
        config = transformers.ElectraConfig(vocab_size=vocab_size, **SIZES[cfg.model],
                                            **_label_args(task, labels))
        return getattr(transformers, f"ElectraFor{task.head}")(config)
    from transformers.utils import logging as hf_logging

    # a new task head on a pretrained body is the point here: transformers' load report,
    # which lists its tensors as missing, is noise for this caller
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return getattr(transformers, f"AutoModelFor{task.head}").from_pretrained(
            cfg.model, ignore_mismatched_sizes=True, **_label_args(task, labels))
    finally:
        hf_logging.set_verbosity(verbosity)


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


def batch_of(enc: Encoded, rows: torch.Tensor, *, targets: bool,
             device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The inputs (and targets) of ``rows`` on ``device``, cut to the longest sequence among
    them; a target with the inputs' shape (token tags) is cut alike."""
    ids = enc.inputs["input_ids"]
    width = int(enc.inputs["attention_mask"][rows].sum(-1).max())
    batch = {k: v[rows][..., :width].long() for k, v in enc.inputs.items()}
    if targets:
        for k, v in enc.targets.items():
            batch[k] = v[rows][..., :width].contiguous() if v.ndim == ids.ndim else v[rows]
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def _compact(enc: Encoded) -> Encoded:
    """Token ids, masks and segment ids as int32 (a data set is held whole in memory: CMNLI's
    390k pairs take 0.6 GB so, 1.2 GB as the tokenizer's int64); batches widen them again."""
    enc.inputs = {k: v.to(torch.int32) for k, v in enc.inputs.items()}
    return enc


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
            out = model(**batch_of(enc, rows, targets=False, device=device))
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


def _predict(model: torch.nn.Module, task: Task, tokenizer: Any, examples: list[Any],
             labels: list[str], max_len: int, enc: Encoded | None = None, *,
             quiet: bool = True) -> list[Any]:
    enc = enc if enc is not None else task.encode(tokenizer, examples, labels, max_len)
    return task.decode(run_model(model, task, enc, quiet=quiet), enc, examples, labels)


def _save(model: torch.nn.Module, tokenizer: Any, task: Task, cfg: FinetuneConfig,
          path: str) -> None:
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        task.save_extra(tmp)
        with open(os.path.join(tmp, TASK_FILE), "w", encoding="utf-8") as handle:
            json.dump({"task": cfg.task, "max_len": cfg.max_len, "options": cfg.options},
                      handle, indent=1)


def _resume_state(cfg: FinetuneConfig) -> dict[str, Any] | None:
    """The state an interrupted run of the same settings left in ``out/resume.pt``."""
    path = os.path.join(cfg.out, RESUME_FILE)
    if not os.path.exists(path):
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config"] != asdict(cfg):
        raise ZhnlpError(f"{cfg.out} holds an unfinished run with other settings "
                         f"({RESUME_FILE}); give another --out or delete that file")
    return state


def finetune(cfg: FinetuneConfig, *, quiet: bool = True, force: bool = False,
             ) -> dict[str, object]:
    """Fine-tune once per seed; keep the best dev checkpoint of all in ``out/best``.

    A finished run in ``out`` (its ``results.json``, no ``resume.pt``) is refused unless
    ``force``: a new run would replace its best checkpoint.

    Returns (and writes to ``out/results.json``) the dev scores per seed and epoch, the mean,
    median and max of the task's metric, the trivial baseline's scores, and the throughput.
    The state after each epoch goes to ``out/resume.pt`` (atomically), so an interrupted
    run started again with the same settings goes on from its last finished epoch and ends
    as an uninterrupted one would.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours is enough
    finished = os.path.join(cfg.out, "results.json")
    if os.path.exists(finished) and not os.path.exists(os.path.join(cfg.out, RESUME_FILE)):
        if not force:
            raise ZhnlpError(f"{cfg.out}: holds a finished run (results.json, best/); add "
                             "--force to replace it or choose another --out")
        for old in ("results.json", "curve.png", "best", "tokenizer"):  # nothing stale mixes in
            path = os.path.join(cfg.out, old)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    cfg = replace(cfg, model=resolve_model(cfg.model))
    device = pick_device(cfg.device)
    task = get_task(cfg.task, **cfg.options)
    labels = task.labels(cfg.data)
    train = task.load(cfg.data, "train", labels)
    dev = task.load(cfg.data, "dev", labels)
    os.makedirs(cfg.out, exist_ok=True)
    tokenizer = _tokenizer(cfg, task, train)
    train_enc = _compact(task.encode(tokenizer, train, labels, cfg.max_len))
    dev_enc = _compact(task.encode(tokenizer, dev, labels, cfg.max_len))
    results: dict[str, Any] = {
        "task": cfg.task, "metric": task.metric, "config": asdict(cfg),
        "files": {s: task.find(cfg.data, s) for s in ("train", "dev")},
        "examples": {"train": len(train), "dev": len(dev)},
        "baseline": task.baseline(train, dev), "train_summary": task.describe(train),
        "seeds": {}}
    # single-label classification gets a confusion matrix of its best checkpoint's dev labels
    classifies = task.head == "SequenceClassification" and bool(labels)
    resume = _resume_state(cfg)
    # run-wide counters; a resumed run takes them from its state
    run = resume["run"] if resume else {"best_overall": -math.inf, "train_seconds": 0.0,
                                        "eval_seconds": 0.0, "train_seen": 0, "dev_seen": 0,
                                        "seeds": {}}
    steps = cfg.epochs * math.ceil(len(train_enc) / cfg.batch_size)
    warmup = max(1, int(cfg.warmup * steps))
    for seed in cfg.seeds:
        if str(seed) in run["seeds"]:
            continue
        model = _model(cfg, task, labels, len(tokenizer), seed).to(device)
        extra = task.start(model)
        groups = layerwise_groups(model, cfg.lr, cfg.layer_decay, cfg.weight_decay)
        if extra:
            groups.append({"params": extra, "lr": cfg.lr, "weight_decay": 0.0})
        opt = torch.optim.AdamW(groups)
        params = [p for g in groups for p in g["params"]]
        base_lrs = [g["lr"] for g in opt.param_groups]
        gen = torch.Generator().manual_seed(seed)
        seed_state = {"curve": [], "best": -math.inf, "waited": 0, "step": 0, "epoch": 0}
        if resume and resume["seed"] == seed:
            model.load_state_dict(resume["model"])
            opt.load_state_dict(resume["optimizer"])
            with torch.no_grad():
                for p, saved in zip(extra, resume["extra"]):
                    p.copy_(saved)
            gen.set_state(resume["generator"])
            torch.set_rng_state(resume["torch_rng"])
            if resume["cuda_rng"] is not None and device.type == "cuda":
                torch.cuda.set_rng_state(resume["cuda_rng"], device)
            seed_state = resume["seed_state"]
        bar = progress_bar(steps, desc=f"{cfg.task} seed {seed}", unit="step", quiet=quiet)
        bar.update(seed_state["step"])
        while seed_state["epoch"] < cfg.epochs and seed_state["waited"] < cfg.patience:
            model.train()
            started = time.perf_counter()
            order = torch.randperm(len(train_enc), generator=gen)
            for start in range(0, len(order), cfg.batch_size):
                step = seed_state["step"]
                scale = (step + 1) / warmup if step < warmup else \
                    max(0.0, (steps - step) / max(1, steps - warmup))
                for group, base in zip(opt.param_groups, base_lrs):
                    group["lr"] = base * scale
                batch = batch_of(train_enc, order[start:start + cfg.batch_size], targets=True,
                                 device=device)
                with autocast(device):
                    loss = task.loss(model, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                seed_state["step"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            run["train_seconds"] += time.perf_counter() - started
            run["train_seen"] += len(train)
            started = time.perf_counter()
            predicted = _predict(model, task, tokenizer, dev, labels, cfg.max_len, dev_enc,
                                 quiet=quiet)
            scores = task.score(predicted, dev)
            run["eval_seconds"] += time.perf_counter() - started
            run["dev_seen"] += len(dev)
            seed_state["curve"].append(scores)
            seed_state["epoch"] += 1
            if scores[task.metric] > seed_state["best"]:
                seed_state["best"], seed_state["waited"] = scores[task.metric], 0
                if seed_state["best"] > run["best_overall"]:
                    run["best_overall"] = seed_state["best"]
                    _save(model, tokenizer, task, cfg, os.path.join(cfg.out, "best"))
                    if classifies:  # the best checkpoint's dev labels, for its confusion
                        run["best_predicted"] = predicted
            else:
                seed_state["waited"] += 1
            with atomic_write(os.path.join(cfg.out, RESUME_FILE), "wb") as handle:
                torch.save({"config": asdict(cfg), "seed": seed, "run": run,
                            "seed_state": seed_state, "model": model.state_dict(),
                            "optimizer": opt.state_dict(), "extra": [p.detach() for p in extra],
                            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state(device)
                            if device.type == "cuda" else None},
                           handle)
        bar.close()
        run["seeds"][str(seed)] = {"best": seed_state["best"], "by_epoch": seed_state["curve"]}
    results["seeds"] = {str(s): run["seeds"][str(s)] for s in cfg.seeds}
    bests = [s["best"] for s in results["seeds"].values()]
    results.update(mean=statistics.mean(bests), median=statistics.median(bests), max=max(bests),
                   throughput={"train_examples_per_s": run["train_seen"] / run["train_seconds"],
                               "predict_examples_per_s": run["dev_seen"] / run["eval_seconds"]})
    if classifies:
        matrix = confusion([e.label for e in dev], run["best_predicted"], labels)
        results["confusion"] = {"labels": labels, "counts": matrix.tolist()}
        _plot_confusion(matrix, labels, os.path.join(cfg.out, "confusion.png"))
    with atomic_write(os.path.join(cfg.out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, ensure_ascii=False)
    _plot(results, os.path.join(cfg.out, "curve.png"))
    os.remove(os.path.join(cfg.out, RESUME_FILE))
    return results


def confusion(gold: list[str], predicted: list[str], labels: list[str]) -> np.ndarray:
    """Counts of (gold label, predicted label), rows and columns in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[g] for g in gold], [index[p] for p in predicted]), 1)
    return matrix


def _plot_confusion(matrix: np.ndarray, labels: list[str], path: str) -> None:
    """Each gold label's row as shares of its examples, with the counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold (dev)")
    if len(labels) <= 30:
        for (i, j), n in np.ndenumerate(matrix):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the gold label's examples")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def _plot(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = results["metric"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, r in results["seeds"].items():
        ax.plot(range(1, len(r["by_epoch"]) + 1), [s[metric] for s in r["by_epoch"]],
                marker="o", label=f"seed {seed}")
    ax.axhline(results["baseline"][metric], color="grey", linestyle="--", label="baseline")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"dev {metric}")
    ax.set_title(results["task"])
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def load_finetuned(task_name: str, data: str | None, model_dir: str, split: str, *,
                   labelled: bool, options: dict[str, Any] | None = None, read: bool = True,
                   ) -> tuple[Task, list[str], list[Any], torch.nn.Module, Any, int]:
    """(task, labels, examples of ``split``, model, tokenizer, max_len) of a fine-tuned
    checkpoint, with the task settings it was trained with (``zhnlp_task.json``) where it
    has them; the data is read before the weights, so bad input fails fast."""
    import transformers
    from transformers.utils import logging as hf_logging

    model_dir, saved = finetuned_settings(model_dir)
    config = os.path.join(model_dir, "config.json")
    if saved and saved.get("task") != task_name:
        raise ZhnlpError(f"{model_dir}: fine-tuned for {saved.get('task')}, not {task_name}")
    # the files and fields given now take the place of those the model was trained with
    task = get_task(task_name, **{**saved.get("options", {}),
                                  **{k: v for k, v in (options or {}).items() if v is not None}})
    with open(config, encoding="utf-8") as handle:
        id2label = json.load(handle).get("id2label", {})
    trained = [id2label.get(str(i)) for i in range(len(id2label))]
    labels = trained if task.labels_in_model else task.labels(data)
    if labels:
        if set(trained) != set(labels):
            raise ZhnlpError(f"{model_dir}: fine-tuned for labels {trained[:5]}..., not "
                             f"{task_name}'s")
        labels = trained
    examples = task.load(data, split, labels, labelled=labelled) if read else []
    hf_logging.disable_progress_bar()
    model = getattr(transformers, f"AutoModelFor{task.head}").from_pretrained(model_dir)
    model.to(pick_device())
    tokenizer = load_tokenizer(model_dir)
    task.load_extra(model_dir)
    return task, labels, examples, model, tokenizer, int(saved.get("max_len", 128))


def evaluate(task_name: str, data: str | None, model_dir: str, *, quiet: bool = True,
             options: dict[str, Any] | None = None) -> dict[str, float]:
    """The task's scores of a fine-tuned checkpoint on the dev split."""
    task, labels, dev, model, tokenizer, max_len = load_finetuned(
        task_name, data, model_dir, "dev", labelled=True, options=options)
    return task.score(_predict(model, task, tokenizer, dev, labels, max_len, quiet=quiet), dev)


def predict(task_name: str, data: str | None, model_dir: str, out_dir: str,
            split: str = "test", *, quiet: bool = True,
            options: dict[str, Any] | None = None) -> str:
    """Write the task's submission file for ``split`` in ``out_dir``; returns its path."""
    task, labels, examples, model, tokenizer, max_len = load_finetuned(
        task_name, data, model_dir, split, labelled=False, options=options)
    predicted = _predict(model, task, tokenizer, examples, labels, max_len, quiet=quiet)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, task.submission_name(data))
    with atomic_write(path, "w", encoding="utf-8") as handle:
        task.write(predicted, examples, handle)
    return path


def finetuned_settings(model_dir: str) -> tuple[str, dict[str, Any]]:
    """(the checkpoint a folder stands for, its ``zhnlp_task.json`` settings or {} for a
    checkpoint that zhnlp did not fine-tune)."""
    found = checkpoint_in(model_dir)
    if found is None:
        raise InputError(model_dir, "not a fine-tuned checkpoint (no config.json, nor a "
                         "finetune output folder with best/config.json)")
    path = os.path.join(found, TASK_FILE)
    if not os.path.exists(path):
        return found, {}
    with open(path, encoding="utf-8") as handle:
        return found, json.load(handle)


def trained_task(model_dir: str) -> str:
    """The task a fine-tuned checkpoint (or finetune output folder) was trained for."""
    _, saved = finetuned_settings(model_dir)
    if "task" not in saved:
        raise InputError(model_dir, f"not a zhnlp fine-tuned checkpoint (no {TASK_FILE})")
    return str(saved["task"])


def label_texts(model_dir: str, source: str, handle: IO[str], *, top_k: int = 1,
                batch_size: int = 512, options: dict[str, Any] | None = None,
                quiet: bool = True) -> int:
    """Label new text with a fine-tuned classifier; returns the number of inputs labelled.

    ``source`` is plain text (one input a line; ``.gz``/``.bz2``; ``-`` for stdin), read and
    labelled in batches of ``batch_size`` lines, or a file in the task's own format (CSV,
    TSV, JSON lines with the fields it was trained with, or ``options``; a CLUE task's JSON
    lines).  Each input gives a JSON line: ``id`` (its line number, or the file's own id),
    text, label and the label's probability, and the ``top_k`` best labels with theirs when
    ``top_k`` > 1.
    """
    from zhnlp.clue.own import TABLES
    from zhnlp.io import iter_text

    name = trained_task(model_dir)
    task, labels, _, model, tokenizer, max_len = load_finetuned(
        name, None, model_dir, "test", labelled=False, options=options, read=False)
    if task.head != "SequenceClassification":
        raise ZhnlpError(f"{model_dir}: a {name} model; --input labels texts with a "
                         "classification model (use --task for the others)")
    examples: Iterable[Any]
    if source.endswith(TABLES):  # the task's own format: its fields, or CLUE's JSON lines
        examples = task.read(source, labels, labelled=False)
    else:
        from zhnlp.clue.classification import Example

        lines = (line for chunk in iter_text(source, quiet=True) for line in chunk.splitlines())
        numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
        examples = (Example(line, None, None, n) for n, line in numbered)
    bar = progress_bar(desc="labelling", unit="input", quiet=quiet)
    done = 0
    with bar:
        for batch in chunked(examples, batch_size):
            if batch[0].b is None and getattr(task, "text_pair_field", None):
                raise ZhnlpError(f"{model_dir}: classifies pairs of texts; give a table with "
                                 "both fields as --input")
            enc = task.encode(tokenizer, batch, labels, max_len)
            logits = run_model(model, task, enc, quiet=True)["logits"]
            probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
            best = np.argsort(-probs, axis=-1)[:, :top_k]
            for e, p, order in zip(batch, probs, best):
                row = {"id": e.id, "text": e.a, "label": labels[order[0]],
                       "probability": round(float(p[order[0]]), 6)}
                if e.b is not None:
                    row["text_pair"] = e.b
                if top_k > 1:
                    row["top_k"] = [{"label": labels[i], "probability": round(float(p[i]), 6)}
                                    for i in order]
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            done += len(batch)
            bar.update(len(batch))
    return done
