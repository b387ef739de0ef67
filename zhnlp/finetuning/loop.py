"""The fine-tuning loop, for every task through its adapter.

AdamW with warm-up and linear decay, layer-wise learning-rate decay (:mod:`zhnlp.optim`,
shared with pretraining), an evaluation on dev after each epoch, the best checkpoint kept
(atomically), early stopping, several seeds.  After each epoch the whole state goes to
``out/resume.pt``, so an interrupted run started again with the same settings goes on from its
last finished epoch and ends as an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from zhnlp.devices import autocast, pick_device
from zhnlp.errors import ZhnlpError
from zhnlp.finetuning.checkpoints import (
    default_lr,
    resolve_model,
    save_checkpoint,
    start_model,
    start_tokenizer,
)
from zhnlp.finetuning.inference import batch_of, predict_examples
from zhnlp.finetuning.plots import confusion, plot_confusion, plot_curve
from zhnlp.finetuning.tasks import Task, get_task
from zhnlp.finetuning.tasks.base import Encoded
from zhnlp.io import atomic_write
from zhnlp.optim import layer_depth, lr_scale, param_groups, set_lr
from zhnlp.progress import progress_bar

RESUME_FILE = "resume.pt"  # in a run directory while the run is unfinished
CLIP = 1.0  # gradient norm


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run."""

    task: str | Task  # a name, or an adapter object (its options set when it was made)
    data: str | None
    model: str
    out: str
    epochs: int = 3
    batch_size: int = 16
    lr: float | None = None  # None: scaled to the model's width (checkpoints.default_lr)
    layer_decay: float = 0.8
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_len: int = 128
    patience: int = 2
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"  # auto: the GPU when there is one
    # the task's options (a name's only: an option it does not take is an error)
    options: dict[str, Any] = field(default_factory=dict)
    random_init: bool = False  # the checkpoint's architecture and tokenizer, random weights
    reinit_layers: int = 0  # the checkpoint's top layers, this many, start random
    reinit_projection: bool = False  # and its embeddings' projection into the hidden size


@dataclass
class Data:
    """What every seed of a run trains and is scored on."""

    task: Task
    labels: list[str]
    train: list[Any]
    dev: list[Any]
    tokenizer: Any
    train_enc: Encoded
    dev_enc: Encoded


@dataclass
class SeedRun:
    """One seed's model, optimiser and place in training."""

    seed: int
    model: torch.nn.Module
    extra: list[torch.nn.Parameter]  # trained beside the model (a CRF)
    opt: torch.optim.Optimizer
    peaks: list[float]  # each parameter group's peak learning rate
    gen: torch.Generator  # the order of the training examples
    state: dict[str, Any]  # curve, best, waited, step, epoch


def layerwise_groups(model: torch.nn.Module, lr: float, decay: float,
                     weight_decay: float) -> list[dict[str, object]]:
    """Parameter groups whose learning rate shrinks by ``decay`` per layer below the top:
    the head gets ``lr``, layer ``i`` of ``L`` gets ``lr * decay ** (L - i)``, the
    embeddings ``lr * decay ** (L + 1)``."""
    depth = layer_depth(getattr(model.config, "num_hidden_layers", 0))
    return param_groups(model, lr, weight_decay, layer_decay=decay, depth=depth)


def _compact(enc: Encoded) -> Encoded:
    """Token ids, masks and segment ids as int32 (a data set is held whole in memory: CMNLI's
    390k pairs take 0.6 GB so, 1.2 GB as the tokenizer's int64); batches widen them again."""
    enc.inputs = {k: v.to(torch.int32) for k, v in enc.inputs.items()}
    return enc


def read_data(cfg: FinetuneConfig, task: Task) -> Data:
    """The task's labels, train and dev examples, the tokenizer, and both splits encoded."""
    labels = task.labels(cfg.data)
    train = task.load(cfg.data, "train", labels)
    dev = task.load(cfg.data, "dev", labels)
    os.makedirs(cfg.out, exist_ok=True)
    tokenizer = start_tokenizer(cfg.model, cfg.out, task, train)
    return Data(task, labels, train, dev, tokenizer,
                _compact(task.encode(tokenizer, train, labels, cfg.max_len)),
                _compact(task.encode(tokenizer, dev, labels, cfg.max_len)))


def start_seed(cfg: FinetuneConfig, data: Data, seed: int, device: torch.device,
               resume: dict[str, Any] | None) -> SeedRun:
    """A seed's fresh model and optimiser, or those of ``resume`` (an interrupted run's state
    for this seed)."""
    model = start_model(cfg.model, data.task, data.labels, len(data.tokenizer), seed,
                        random_init=cfg.random_init,
                        reinit_layers=cfg.reinit_layers,
                        reinit_projection=cfg.reinit_projection).to(device)
    extra = data.task.start(model)
    groups = layerwise_groups(model, cfg.lr, cfg.layer_decay, cfg.weight_decay)
    if extra:
        groups.append({"params": extra, "lr": cfg.lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups)
    run = SeedRun(seed, model, extra, opt, [g["lr"] for g in opt.param_groups],
                  torch.Generator().manual_seed(seed),
                  {"curve": [], "best": -math.inf, "waited": 0, "step": 0, "epoch": 0})
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        with torch.no_grad():
            for p, saved in zip(extra, resume["extra"]):
                p.copy_(saved)
        run.gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        if resume["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        run.state = resume["seed_state"]
    return run


def train_epoch(run: SeedRun, data: Data, cfg: FinetuneConfig, total_steps: int,
                bar: Any) -> None:
    """One pass over the training examples in a seeded random order."""
    run.model.train()
    device = next(run.model.parameters()).device
    params = [p for g in run.opt.param_groups for p in g["params"]]
    warmup = max(1, int(cfg.warmup * total_steps))
    order = torch.randperm(len(data.train_enc), generator=run.gen)
    for start in range(0, len(order), cfg.batch_size):
        set_lr(run.opt, run.peaks, lr_scale(run.state["step"], warmup, total_steps))
        batch = batch_of(data.train_enc, order[start:start + cfg.batch_size], targets=True,
                         per_token=data.task.per_token, device=device)
        with autocast(device):
            loss = data.task.loss(run.model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        run.opt.step()
        run.opt.zero_grad(set_to_none=True)
        run.state["step"] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")


def evaluate_dev(run: SeedRun, data: Data, cfg: FinetuneConfig, *, quiet: bool = True,
                 ) -> tuple[dict[str, float], list[Any]]:
    """The dev scores after an epoch, and the predictions they come from."""
    predicted = predict_examples(run.model, data.task, data.tokenizer, data.dev, data.labels,
                                 cfg.max_len, data.dev_enc, quiet=quiet)
    return data.task.score(predicted, data.dev), predicted


def save_resume(cfg: FinetuneConfig, run: SeedRun, totals: dict[str, Any],
                device: torch.device) -> None:
    """Everything an interrupted run needs to go on after this epoch, atomically."""
    with atomic_write(os.path.join(cfg.out, RESUME_FILE), "wb") as handle:
        torch.save({"config": asdict(cfg), "seed": run.seed, "run": totals,
                    "seed_state": run.state, "model": run.model.state_dict(),
                    "optimizer": run.opt.state_dict(), "extra": [p.detach() for p in run.extra],
                    "generator": run.gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(device)
                    if device.type == "cuda" else None},
                   handle)


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


def _clear_finished(out: str, force: bool) -> None:
    """Refuse a finished run in ``out`` (its ``results.json``, no ``resume.pt``) unless
    ``force``: then remove what it left, so nothing stale mixes into the new one."""
    if not os.path.exists(os.path.join(out, "results.json")) or \
            os.path.exists(os.path.join(out, RESUME_FILE)):
        return
    if not force:
        raise ZhnlpError(f"{out}: holds a finished run (results.json, best/); add "
                         "--force to replace it or choose another --out")
    for old in ("results.json", "curve.png", "confusion.png", "best", "tokenizer"):
        path = os.path.join(out, old)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def _classifies(task: Task, labels: list[str]) -> bool:
    """Single-label classification: its dev labels make a confusion matrix."""
    return task.head == "SequenceClassification" and bool(labels) and \
        not getattr(task, "multi_label", None)


def finetune(cfg: FinetuneConfig, *, quiet: bool = True, force: bool = False,
             ) -> dict[str, object]:
    """Fine-tune once per seed; keep the best dev checkpoint of all in ``out/best``.

    A finished run in ``out`` is refused unless ``force``: a new run would replace its best
    checkpoint.  Returns (and writes to ``out/results.json``) the dev scores per seed and
    epoch, the mean, median, max and standard deviation (over seeds) of the task's metric,
    the trivial baseline's scores and the throughput; ``out/curve.png`` plots them
    (``confusion.png``: the best checkpoint's dev labels, for a classifier).
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours is enough
    _clear_finished(cfg.out, force)
    task = get_task(cfg.task, **cfg.options)
    model = resolve_model(cfg.model)
    cfg = replace(cfg, task=task.name, model=model, lr=cfg.lr or default_lr(model))
    device = pick_device(cfg.device)
    data = read_data(cfg, task)
    resume = _resume_state(cfg)
    # run-wide counters; a resumed run takes them from its state
    totals = resume["run"] if resume else {"best_overall": -math.inf, "train_seconds": 0.0,
                                           "eval_seconds": 0.0, "train_seen": 0,
                                           "dev_seen": 0, "seeds": {}}
    steps = cfg.epochs * math.ceil(len(data.train_enc) / cfg.batch_size)
    for seed in cfg.seeds:
        if str(seed) in totals["seeds"]:
            continue
        run = start_seed(cfg, data, seed, device,
                         resume if resume and resume["seed"] == seed else None)
        bar = progress_bar(steps, desc=f"{task.name} seed {seed}", unit="step", quiet=quiet)
        bar.update(run.state["step"])
        while run.state["epoch"] < cfg.epochs and run.state["waited"] < cfg.patience:
            started = time.perf_counter()
            train_epoch(run, data, cfg, steps, bar)
            totals["train_seconds"] += time.perf_counter() - started
            totals["train_seen"] += len(data.train)
            started = time.perf_counter()
            scores, predicted = evaluate_dev(run, data, cfg, quiet=quiet)
            totals["eval_seconds"] += time.perf_counter() - started
            totals["dev_seen"] += len(data.dev)
            run.state["curve"].append(scores)
            run.state["epoch"] += 1
            if scores[task.metric] > run.state["best"]:
                run.state["best"], run.state["waited"] = scores[task.metric], 0
                if run.state["best"] > totals["best_overall"]:
                    totals["best_overall"] = run.state["best"]
                    save_checkpoint(run.model, data.tokenizer, task,
                                    {"task": task.name, "max_len": cfg.max_len,
                                     "options": cfg.options}, os.path.join(cfg.out, "best"))
                    if _classifies(task, data.labels):
                        totals["best_predicted"] = predicted
            else:
                run.state["waited"] += 1
            save_resume(cfg, run, totals, device)
        bar.close()
        totals["seeds"][str(seed)] = {"best": run.state["best"], "by_epoch": run.state["curve"]}
    results = _results(cfg, data, totals)
    os.remove(os.path.join(cfg.out, RESUME_FILE))
    return results


def _results(cfg: FinetuneConfig, data: Data, totals: dict[str, Any]) -> dict[str, Any]:
    """The run's results (written to ``out/results.json``) and its plots."""
    task = data.task
    seeds = {str(s): totals["seeds"][str(s)] for s in cfg.seeds}
    bests = [s["best"] for s in seeds.values()]
    results: dict[str, Any] = {
        "task": task.name, "metric": task.metric, "config": asdict(cfg),
        "files": {s: task.find(cfg.data, s) for s in ("train", "dev")},
        "examples": {"train": len(data.train), "dev": len(data.dev)},
        "baseline": task.baseline(data.train, data.dev),
        "train_summary": task.describe(data.train), "seeds": seeds,
        "mean": statistics.mean(bests), "median": statistics.median(bests), "max": max(bests),
        "std": statistics.stdev(bests) if len(bests) > 1 else 0.0,
        "throughput": {"train_examples_per_s": totals["train_seen"] / totals["train_seconds"],
                       "predict_examples_per_s": totals["dev_seen"] / totals["eval_seconds"]}}
    if _classifies(task, data.labels):
        matrix = confusion([e.label for e in data.dev], totals["best_predicted"], data.labels)
        results["confusion"] = {"labels": data.labels, "counts": matrix.tolist()}
        plot_confusion(matrix, data.labels, os.path.join(cfg.out, "confusion.png"))
    with atomic_write(os.path.join(cfg.out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, ensure_ascii=False)
    plot_curve(results, os.path.join(cfg.out, "curve.png"))
    return results
