"""CLUE fine-tuning on this machine: throughput against transformers' Trainer, and what a
randomly initialised tiny ELECTRA reaches on the real dev sets.

(a) Throughput, side by side in one run: zhnlp's fine-tuning loop and transformers' Trainer
    (its usual set-up: pre-tokenised data, dynamic padding, the model's own loss) train the
    same randomly initialised ELECTRA (same tokenizer, batch 16, max length 128, one epoch)
    on the same real training set; then both predict the test split.  Examples per second
    (questions for CMRC/C3, sentences for CLUENER), the ratio zhnlp / Trainer.
(b) Honest scores: ``tiny`` from scratch (no pretraining) on each task's real data, dev score
    against the task's trivial baseline (majority class, chance, all-O, best clause).

    .venv/bin/pip install accelerate   # Trainer needs it; zhnlp does not
    .venv/bin/python benchmarks/clue_finetune.py [--part a|b|both] [--config tiny]
    .venv/bin/python benchmarks/clue_finetune.py --part a --config small --tasks eprstmt,ocnli

Writes benchmarks/out/clue_{throughput,scores}.json and .md, and clue_scores.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zhnlp.finetuning.checkpoints import start_model, start_tokenizer
from zhnlp.finetuning.inference import predict
from zhnlp.finetuning.loop import FinetuneConfig, finetune
from zhnlp.finetuning.tasks import get_task

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out"

# task, data folder, settings of the honest run (b)
RUNS = [
    ("eprstmt", DATA / "fewclue" / "eprstmt", {"epochs": 8, "lr": 1e-3, "seeds": (0, 1, 2)}),
    ("tnews", DATA / "fewclue" / "tnews", {"epochs": 8, "lr": 1e-3, "seeds": (0, 1, 2)}),
    ("ocnli", DATA / "ocnli", {"epochs": 5, "lr": 1e-3}),
    ("cluener", DATA / "cluener", {"epochs": 8, "lr": 2e-3, "batch_size": 32}),
    ("cluener", DATA / "cluener", {"epochs": 8, "lr": 2e-3, "batch_size": 32,
                                   "options": {"crf": True}}),
    ("cmrc2018", DATA / "cmrc2018", {"epochs": 5, "lr": 1e-3, "max_len": 256,
                                     "options": {"doc_stride": 128}}),
    ("c3", DATA / "c3", {"epochs": 3, "lr": 1e-3, "max_len": 256}),
    ("chid", DATA / "fewclue" / "chid", {"epochs": 8, "lr": 1e-3, "seeds": (0, 1, 2)}),
]


def ocnli_dir(tmp: Path) -> Path:
    """OCNLI's folder names its training file train.3k.json: link it as train.json."""
    out = tmp / "ocnli"
    out.mkdir(exist_ok=True)
    for src, dst in (("train.3k.json", "train.json"), ("dev.json", "dev.json"),
                     ("dev.json", "test.json")):
        if not (out / dst).exists():
            os.symlink(DATA / "ocnli" / src, out / dst)
    return out


def trainer_throughput(task_name: str, data: Path, config: str, tmp: Path) -> dict[str, float]:
    """One epoch of transformers' Trainer, then its predict() on the test split."""
    from transformers import (
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    task = get_task(task_name)
    labels = task.labels(str(data))
    train = task.load(str(data), "train", labels)
    test = task.load(str(data), "test", labels, labelled=False)
    cfg = FinetuneConfig(task=task_name, data=str(data), model=config, out=str(tmp / "hf"))
    os.makedirs(cfg.out, exist_ok=True)
    tokenizer = start_tokenizer(cfg.model, cfg.out, task, train)
    model = start_model(cfg.model, task, labels, len(tokenizer), 0)

    def rows(enc, with_labels: bool) -> list[dict[str, list[int]]]:
        mask = enc.inputs["attention_mask"]
        out = []
        for i in range(len(enc)):
            n = int(mask[i].sum())
            row = {k: v[i][:n].tolist() for k, v in enc.inputs.items()}
            if with_labels:
                y = enc.targets["labels"][i]
                row["labels"] = y[:n].tolist() if y.ndim else int(y)
            out.append(row)
        return out

    train_rows = rows(task.encode(tokenizer, train, labels, cfg.max_len), True)
    started = time.perf_counter()
    test_rows = rows(task.encode(tokenizer, test, labels, cfg.max_len), False)
    encode_s = time.perf_counter() - started
    collator = (DataCollatorForTokenClassification(tokenizer) if task.per_token
                else DataCollatorWithPadding(tokenizer))
    args = TrainingArguments(output_dir=str(tmp / "hf-out"), per_device_train_batch_size=16,
                             per_device_eval_batch_size=64, num_train_epochs=1,
                             learning_rate=1e-4,
                             warmup_steps=max(1, len(train_rows) // 160), save_strategy="no",
                             eval_strategy="no", report_to=[], logging_strategy="no",
                             disable_tqdm=True, use_cpu=True, seed=0,
                             dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, data_collator=collator)
    started = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    logits = trainer.predict(test_rows).predictions
    np.asarray(logits).argmax(-1)
    predict_s = time.perf_counter() - started + encode_s
    return {"train_examples_per_s": len(train) / train_s,
            "predict_examples_per_s": len(test) / predict_s}


def zhnlp_throughput(task_name: str, data: Path, config: str, tmp: Path) -> dict[str, float]:
    out = tmp / "zh"
    results = finetune(FinetuneConfig(task=task_name, data=str(data), model=config,
                                      out=str(out), epochs=1, batch_size=16, lr=1e-4,
                                      seeds=(0,)))
    task = get_task(task_name)
    n_test = len(task.load(str(data), "test", task.labels(str(data)), labelled=False))
    started = time.perf_counter()
    predict(task_name, str(data), str(out / "best"), str(tmp / "sub"))
    return {"train_examples_per_s": results["throughput"]["train_examples_per_s"],
            "predict_examples_per_s": n_test / (time.perf_counter() - started)}


def part_a(config: str, tmp: Path, tasks: list[str]) -> list[dict]:
    table = []
    folders = {"eprstmt": DATA / "fewclue" / "eprstmt", "ocnli": ocnli_dir(tmp),
               "cluener": DATA / "cluener"}
    for task_name, data in ((t, folders[t]) for t in tasks):
        work = Path(tempfile.mkdtemp(dir=tmp))
        ours = zhnlp_throughput(task_name, data, config, work)
        theirs = trainer_throughput(task_name, data, config, work)
        row = {"task": task_name, "config": config, "zhnlp": ours, "trainer": theirs,
               "train_ratio": ours["train_examples_per_s"] / theirs["train_examples_per_s"],
               "predict_ratio": ours["predict_examples_per_s"]
               / theirs["predict_examples_per_s"]}
        print(json.dumps(row), flush=True)
        table.append(row)
        shutil.rmtree(work)
    lines = ["| task | config | zhnlp train ex/s | Trainer train ex/s | ratio | zhnlp predict "
             "ex/s | Trainer predict ex/s | ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['task']} | {r['config']} | {r['zhnlp']['train_examples_per_s']:.0f} "
                     f"| {r['trainer']['train_examples_per_s']:.0f} | {r['train_ratio']:.2f}x "
                     f"| {r['zhnlp']['predict_examples_per_s']:.0f} "
                     f"| {r['trainer']['predict_examples_per_s']:.0f} "
                     f"| {r['predict_ratio']:.2f}x |")
    (OUT / f"clue_throughput_{config}.json").write_text(json.dumps(table, indent=1))
    (OUT / f"clue_throughput_{config}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return table


def part_b(config: str, tmp: Path) -> list[dict]:
    table = []
    for task_name, data, settings in RUNS:
        if not data.exists():
            print(f"skip {task_name}: {data} is absent")
            continue
        if task_name == "ocnli":
            data = ocnli_dir(tmp)
        settings = dict(settings)
        options = settings.pop("options", {})
        started = time.perf_counter()
        seeds = settings.pop("seeds", (0,))
        # no early stopping: every run goes its full epochs
        results = finetune(FinetuneConfig(task=task_name, data=str(data), model=config,
                                          out=str(tmp / f"b-{task_name}"), seeds=seeds,
                                          patience=settings["epochs"], options=options,
                                          **settings))
        metric = results["metric"]
        row = {"task": task_name + (" +crf" if options.get("crf") else ""), "metric": metric,
               "dev": results["mean"], "dev_max": results["max"], "seeds": len(seeds),
               "baseline": results["baseline"][metric],
               "train": results["examples"]["train"], "dev_examples": results["examples"]["dev"],
               "epochs": settings["epochs"], "settings": settings,
               "seconds": time.perf_counter() - started,
               "throughput": results["throughput"]}
        print(json.dumps(row), flush=True)
        table.append(row)
    lines = [f"| task | train | dev | metric | {config} from scratch (mean of seeds) | max | "
             "seeds | baseline | epochs | minutes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['task']} | {r['train']} | {r['dev_examples']} | {r['metric']} "
                     f"| {r['dev']:.4f} | {r['dev_max']:.4f} | {r['seeds']} "
                     f"| {r['baseline']:.4f} | {r['epochs']} | {r['seconds'] / 60:.1f} |")
    (OUT / f"clue_scores_{config}.json").write_text(json.dumps(table, indent=1))
    (OUT / f"clue_scores_{config}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(table, OUT / f"clue_scores_{config}.png")
    return table


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, [r["dev"] for r in table], 0.4, label="from scratch (mean of seeds)")
    ax.bar(x + 0.2, [r["baseline"] for r in table], 0.4, label="trivial baseline")
    ax.set_xticks(x, [f"{r['task']}\n({r['metric']})" for r in table], fontsize=8)
    ax.set_ylabel("dev score")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--tasks", default="eprstmt,ocnli,cluener",
                        help="part a: the tasks to time (of eprstmt, ocnli, cluener)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("a", "both"):
            part_a(args.config, Path(tmp), args.tasks.split(","))
        if args.part in ("b", "both"):
            part_b(args.config, Path(tmp))


if __name__ == "__main__":
    main()
