"""The controlled pretraining study: do discovered words, whole-word masks and ELECTRA make
an encoder that helps downstream?  One command per step, each resumable:

    .venv/bin/python benchmarks/study.py corpus              # the pretraining corpus, shards
    .venv/bin/python benchmarks/study.py pretrain ARM        # one arm's pretraining run
    .venv/bin/python benchmarks/study.py finetune ARM [--tasks eprstmt,tnews]  # its rows
    .venv/bin/python benchmarks/study.py finetune ARM --tasks cluener --lrs 3e-3  # a probe
    .venv/bin/python benchmarks/study.py report              # table and plots
    .venv/bin/python benchmarks/study.py representation      # encoders' token vectors
    .venv/bin/python benchmarks/study.py all --scale demo    # all of it, scaled down (make study)

Arms (same model size, tokenizer and tokens seen; only the pretraining differs): none (the
same architecture randomly initialised), mlm-wwm, electra-char, electra-jieba,
electra-lexicon, electra15-lexicon.  Fine-tuning: per task, each learning rate of the grid
with the first seed, then the other seeds at the rate best on dev.

Every zhnlp command run is appended to ``<work>/commands.txt``; checkpoints stay in
``benchmarks/out/study/<scale>/`` (not committed); the full study's rows, curves and plots
go to ``benchmarks/study/`` (committed), a scaled-down run's stay in its work folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from zhnlp.io import atomic_write, sha256_file

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
ZHNLP = str(Path(sys.executable).parent / "zhnlp")

@dataclass(frozen=True)
class Arm:
    """How an arm's encoder is made: pretrained on ``shards-SHARDS`` with ``options`` (none:
    not pretrained), from scratch or continuing arm ``init``'s export, or arm ``encoder``'s
    export as it is; fine-tuned on ``tasks`` (None: every task of the scale) with
    ``finetune_options``."""

    shards: str | None
    options: tuple[str, ...] = ()
    init: str | None = None
    tasks: tuple[str, ...] | None = None
    task_tokenizer: bool = False  # not pretrained, a tokenizer learned from the task's text
    encoder: str | None = None
    finetune_options: tuple[str, ...] = ()


WWM = ("--objective", "electra", "--masking", "wwm")
ARMS: dict[str, Arm] = {
    "none": Arm(None),
    "mlm-wwm": Arm("lexicon", ("--objective", "mlm", "--masking", "wwm")),
    "electra-char": Arm("lexicon", ("--objective", "electra", "--masking", "char")),
    "electra-jieba": Arm("jieba", WWM),
    "electra-lexicon": Arm("lexicon", WWM),
    "electra15-lexicon": Arm("lexicon", ("--objective", "electra-15", "--masking", "wwm")),
    # domain adaptation: electra-lexicon continued for the same budget on in-domain text
    # (reviews and EPRSTMT's unlabeled text, its own discovered words) or on general text
    "adapt-domain": Arm("domain", WWM, init="electra-lexicon", tasks=("eprstmt",)),
    "adapt-general": Arm("lexicon", WWM, init="electra-lexicon", tasks=("eprstmt",)),
    # `none` with a tokenizer learned from each task's training text instead of Chinese
    # BERT's vocabulary: how much the tokenizer alone decides
    "none-task-tokenizer": Arm(None, task_tokenizer=True),
    # electra-char's discriminator with its top two layers (the most collapsed: study.py
    # representation) drawn afresh: is the collapse what makes it worse than random weights?
    "electra-char-reinit2": Arm(None, encoder="electra-char", tasks=("cluener",),
                                finetune_options=("--reinit-layers", "2")),
    # every layer drawn afresh, only the embeddings pretrained: are they what harms?
    "electra-char-reinit4": Arm(None, encoder="electra-char", tasks=("cluener",),
                                finetune_options=("--reinit-layers", "4")),
    # electra-char with DeBERTa-v3's gradient-disentangled embeddings: the RTD loss kept out
    # of the shared token vectors, is it the discriminator's gradient that narrows them?
    "electra-char-gdes": Arm("lexicon", ("--objective", "electra", "--masking", "char",
                                         "--embedding-sharing", "gdes")),
    # its layers, then also the projection from its 128-wide embeddings into the 256-wide
    # layers, drawn afresh: is it the embedding tables that harm, or that projection?
    "electra-char-gdes-reinit4": Arm(None, encoder="electra-char-gdes", tasks=("cluener",),
                                     finetune_options=("--reinit-layers", "4")),
    "electra-char-gdes-reinit4p": Arm(None, encoder="electra-char-gdes", tasks=("cluener",),
                                      finetune_options=("--reinit-layers", "4",
                                                        "--reinit-projection")),
    # fine-tuned without layer-wise learning-rate decay (finetune's default 0.8 gives a
    # 4-layer model's embeddings a third of the head's rate): does the decay, not the
    # pretraining, keep the pretrained encoders below random weights?
    "none-nodecay": Arm(None, finetune_options=("--layer-decay", "1")),
    "electra-char-gdes-nodecay": Arm(None, encoder="electra-char-gdes",
                                     finetune_options=("--layer-decay", "1")),
    "mlm-wwm-nodecay": Arm(None, encoder="mlm-wwm", finetune_options=("--layer-decay", "1")),
    "electra-lexicon-nodecay": Arm(None, encoder="electra-lexicon",
                                   finetune_options=("--layer-decay", "1")),
    # mlm-wwm's export as it is now: the decay's own baseline where the export that
    # mlm-wwm's rows came from is gone (a pretraining run here is another run)
    "mlm-wwm-rerun": Arm(None, encoder="mlm-wwm", tasks=("cluener",)),
}


@dataclass(frozen=True)
class FinetuneTask:
    name: str
    data: Path
    epochs: int
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scale:
    model: str
    steps: int
    batch_size: int
    chars: int | None  # the corpus cut to this many characters (None: all of it)
    lrs: tuple[float, ...]  # the fine-tuning grid, the same for every arm
    seeds: tuple[int, ...]
    tasks: tuple[FinetuneTask, ...]
    eval_every: int
    adapt_steps: int  # the budget of each domain-adaptation arm


FEWCLUE = DATA / "fewclue"
SCALES = {
    "full": Scale("mini", 3000, 32, None, (3e-4, 1e-3), (0, 1, 2), (
        # cheapest first, so that the first rows come early
        FinetuneTask("eprstmt", FEWCLUE / "eprstmt", 10),
        FinetuneTask("tnews", FEWCLUE / "tnews", 8),
        FinetuneTask("csl", FEWCLUE / "csl", 10),
        FinetuneTask("ocnli", DATA / "ocnli", 4, ("--batch-size", "32")),
        FinetuneTask("cluener", DATA / "cluener", 3, ("--batch-size", "32"))), 500, 600),
    "demo": Scale("tiny", 150, 32, 1_500_000, (1.2e-3,), (0,), (
        FinetuneTask("eprstmt", FEWCLUE / "eprstmt", 5),
        FinetuneTask("tnews", FEWCLUE / "tnews", 3)), 75, 50),
}

# FewCLUE unlabeled text made for this use; chid's is left out (its idioms are blanked)
UNLABELED = ("tnews", "eprstmt", "bustm")
# every split of every evaluation set: no line of their text may be pretrained on
EVAL_FILES = [*(DATA / "cluener").glob("*.json"), *(DATA / "ocnli").glob("*.json"),
              *(p for t in ("tnews", "eprstmt", "csl", "bustm")
                for p in (FEWCLUE / t).glob("*.json") if p.name != "unlabeled.json"
                and not p.name.startswith("label"))]
TEXT_FIELDS = ("text", "sentence", "sentence1", "sentence2", "abst", "content")


def run(work: Path, *args: str) -> None:
    """Run a zhnlp command, recording it."""
    with open(work / "commands.txt", "a", encoding="utf-8") as handle:
        handle.write(shlex.join(["zhnlp", *args]) + "\n")
    subprocess.run([ZHNLP, *args], check=True)


def json_texts(path: Path) -> list[str]:
    """The text fields of a CLUE JSON-lines file."""
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts += [row[f].strip() for f in TEXT_FIELDS if isinstance(row.get(f), str)]
    return texts


def build_corpus(path: Path, named: tuple[str, ...], unlabeled: tuple[str, ...],
                 chars_wanted: int | None = None) -> dict[str, int]:
    """A corpus at ``path``: the ``named`` corpora and the ``unlabeled`` text of FewCLUE
    tasks, documents separated by blank lines, repeated lines and every line of the
    evaluation sets left out, cut after ``chars_wanted`` characters."""
    paths = {n: subprocess.run([ZHNLP, "corpus", "get", n], check=True, text=True,
                               capture_output=True).stdout.strip() for n in named}
    held = {t for eval_file in EVAL_FILES for t in json_texts(eval_file)}
    seen: set[str] = set()
    stats = {"eval_lines_dropped": 0, "repeated_lines_dropped": 0}

    def documents():
        for name, source in paths.items():
            with open(source, encoding="utf-8") as handle:
                if name != "news":  # a document a line
                    yield from ((name, [line.strip(), ""]) for line in handle)
                    continue
                document: list[str] = []  # news: documents end at a blank line
                for line in handle:
                    document.append(line.strip())
                    if not document[-1]:
                        yield name, document
                        document = []
                if document:
                    yield name, [*document, ""]
        for task in unlabeled:
            for text in json_texts(FEWCLUE / task / "unlabeled.json"):
                yield f"fewclue-{task}", [text, ""]

    chars = 0
    with atomic_write(str(path), "w", encoding="utf-8") as out:
        for source, lines in documents():
            for line in lines:
                if line and line in held:
                    stats["eval_lines_dropped"] += 1
                    continue
                if line and line in seen:
                    stats["repeated_lines_dropped"] += 1
                    continue
                seen.add(line)
                out.write(line + "\n")
                chars += len(line)
                stats[f"chars_{source}"] = stats.get(f"chars_{source}", 0) + len(line)
            if chars_wanted and chars >= chars_wanted:
                break
    stats["chars"] = chars
    return stats


def prepare_corpus(work: Path, scale: Scale) -> None:
    """The corpus, the tokenizer (Chinese BERT's vocabulary), the discovered lexicon and the
    shards: jieba alone, jieba with the lexicon; and the in-domain corpus with its own
    lexicon for the domain-adaptation arms."""
    corpora = {"corpus": (("news", "reviews", "headlines", "msra-text"), UNLABELED),
               "domain": (("reviews",), ("eprstmt",))}
    stats_file = work / "corpus.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    for name, (named, unlabeled) in corpora.items():
        if not (work / f"{name}.txt").exists() or name not in stats:
            stats[name] = build_corpus(work / f"{name}.txt", named, unlabeled,
                                       scale.chars if name == "corpus" else None)
        if "sha256" not in stats[name]:  # arms compare only on the same text
            stats[name]["sha256"] = sha256_file(work / f"{name}.txt")
        stats_file.write_text(json.dumps(stats, indent=1))
    if not (work / "tok" / "tokenizer.json").exists():
        run(work, "build-vocab", str(work / "corpus.txt"), "-o", str(work / "tok"),
            "--vocab", str(DATA / "vocab" / "bert-chinese-vocab.txt"))
    for text, lexicon in (("corpus", "lexicon"), ("domain", "lexicon-domain")):
        if not (work / f"{lexicon}.tsv").exists():
            # words only, as every arm so far was pretrained (terms joined the defaults later)
            run(work, "discover-words", str(work / f"{text}.txt"), "-o",
                str(work / f"{lexicon}.tsv"), "--kinds", "word")
    for kind, text, lexicon in (("jieba", "corpus", None), ("lexicon", "corpus", "lexicon"),
                                ("domain", "domain", "lexicon-domain")):
        out = work / f"shards-{kind}"
        if not (out / "manifest.json").exists():
            run(work, "prepare", str(work / f"{text}.txt"), "--tokenizer", str(work / "tok"),
                "-o", str(out), "--docs", "blank", "--pack", "full", "--backend", "rjieba",
                "--valid-share", "0.01", "--workers", "2",
                *(["--lexicon", str(work / f"{lexicon}.tsv")] if lexicon else []))


def pretrain(work: Path, scale: Scale, arm: str) -> None:
    """One arm's pretraining run in ``runs/ARM`` (resumed where a kill left it)."""
    spec = ARMS[arm]
    if spec.shards is None:
        return
    out = work / "runs" / arm
    steps = scale.adapt_steps if spec.init else scale.steps
    if (out / "metrics.csv").exists() and _last_step(out) >= steps:
        return
    # a continued run draws other batches than its start did (seed 1), and takes its size
    # from the checkpoint it continues
    start = ["--init", str(work / "runs" / spec.init), "--seed", "1"] if spec.init else \
        ["--config", scale.model, "--seed", "0"]
    run(work, "pretrain", "--data", str(work / f"shards-{spec.shards}"), *start,
        "--out", str(out), "--max-steps", str(steps), "--batch-size", str(scale.batch_size),
        "--eval-every", str(min(scale.eval_every, steps)), "--save-every", "250",
        "--log-every", "25", *spec.options,
        *(["--resume"] if (out / "checkpoint.pt").exists() else []))


def _last_step(out: Path) -> int:
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return int(rows[-1]["step"]) if rows else 0


def encoder_of(work: Path, scale: Scale, arm: str) -> list[str]:
    """The finetune --model arguments of an arm: its exported encoder (the MLM arm's is the
    generator, as large as the others' discriminator), or for an arm neither pretrained
    nor borrowing an export (``none``) that same architecture and tokenizer, randomly
    initialised; then the arm's own fine-tuning options."""
    if ARMS[arm].task_tokenizer:
        return ["--model", scale.model]
    spec = ARMS[arm]
    if spec.shards is None and spec.encoder is None:
        # every pretrained arm's export has the same shape and tokenizer (an ELECTRA arm's
        # discriminator, the MLM arm's full-size generator)
        for donor, donor_spec in ARMS.items():
            export = export_of(work, donor)
            if donor_spec.shards and (export / "config.json").exists():
                return ["--model", str(export), "--random-init", *spec.finetune_options]
        sys.exit(f"error: `{arm}` takes its architecture from a pretrained arm's export: "
                 "pretrain one first (e.g. mlm-wwm)")
    return ["--model", str(export_of(work, spec.encoder or arm)), *spec.finetune_options]


def export_of(work: Path, arm: str) -> Path:
    """Where a pretrained arm's encoder is exported: the MLM arm's generator, as large as
    the others' discriminator."""
    part = "generator" if "mlm" in ARMS[arm].options else "discriminator"
    return work / "runs" / arm / part


def finetune(work: Path, results: Path, scale: Scale, arm: str,
             only: set[str] | None = None, extra_lrs: tuple[float, ...] = ()) -> None:
    """Each task (of ``only``, if given): every learning rate of the grid (and of
    ``extra_lrs``, a probe beyond it) with the first seed, then the other seeds at the best
    one; one row per (task, lr, seed) in ``results/finetune-ARM.csv`` (a file an arm, read
    again before each write, so that arms, or one arm's tasks, can be fine-tuned side by
    side).  The main table reads the grid's rows alone (see ``table``)."""
    model = encoder_of(work, scale, arm)
    for task in tasks_of(scale, arm, only):
        by_lr = {lr: _finetune_one(work, results, scale, arm, task, model, lr, scale.seeds[0])
                 for lr in (*scale.lrs, *extra_lrs)}
        best = max(by_lr, key=lambda lr: by_lr[lr])
        for seed in scale.seeds[1:]:
            _finetune_one(work, results, scale, arm, task, model, best, seed)


def tasks_of(scale: Scale, arm: str, only: set[str] | None) -> list[FinetuneTask]:
    """The tasks an arm is fine-tuned on: its own list (or every task of the scale), cut
    to ``only`` if given."""
    return [t for t in scale.tasks if (ARMS[arm].tasks is None or t.name in ARMS[arm].tasks)
            and (only is None or t.name in only)]


def finetune_longer(work: Path, results: Path, scale: Scale, arm: str, epochs: int,
                    only: set[str] | None = None) -> None:
    """Each task (of ``only``) fine-tuned ``epochs`` epochs instead of its own, every seed,
    at the rate the grid chose at its own epochs: for the arm, or, where the arm has no
    such rows, for the arm whose encoder it fine-tunes (the grid is not searched again:
    only the epochs differ from the table's cell).  Work in ``work/epochsN``, rows in
    ``results/epochsN/finetune-ARM.csv``."""
    model = encoder_of(work, scale, arm)
    longer_work, longer_results = work / f"epochs{epochs}", results / f"epochs{epochs}"
    longer_work.mkdir(parents=True, exist_ok=True)
    longer_results.mkdir(parents=True, exist_ok=True)
    chosen = table(read_rows(results), scale.seeds, scale.lrs)
    for task in tasks_of(scale, arm, only):
        cell = chosen.get((arm, task.name)) or chosen.get((ARMS[arm].encoder, task.name))
        if cell is None:
            sys.exit(f"error: {arm} has no {task.name} rows at {task.epochs} epochs to take "
                     f"the rate from: run `study.py finetune {arm} --tasks {task.name}` first")
        for seed in scale.seeds:
            _finetune_one(longer_work, longer_results, scale, arm,
                          replace(task, epochs=epochs), model, float(cell["lr"]), seed)


def _finetune_one(work: Path, results: Path, scale: Scale, arm: str, task: FinetuneTask,
                  model: list[str], lr: float, seed: int) -> float:
    key = (arm, task.name, f"{lr:g}", str(seed))
    for row in read_rows(results, arm):
        if (row["arm"], row["task"], row["lr"], row["seed"]) == key:
            return float(row["score"])
    out = work / "ft" / arm / task.name / f"lr{lr:g}-seed{seed}"
    run(work, "finetune", "--task", task.name, "--data", str(task.data), *model,
        "--out", str(out), "--epochs", str(task.epochs), "--lr", f"{lr:g}", "--seeds",
        str(seed), "--patience", str(task.epochs), "--force", "-q", *task.options)
    found = json.loads((out / "results.json").read_text())
    row = dict(zip(("arm", "task", "lr", "seed"), key), metric=found["metric"],
               score=found["mean"], baseline=found["baseline"][found["metric"]],
               epochs=task.epochs, seconds=round(1 / found["throughput"]["train_examples_per_s"]
                                                 * found["examples"]["train"] * task.epochs),
               by_epoch=by_epoch(found, seed))
    write_rows(results, arm, [*read_rows(results, arm), row])
    return float(found["mean"])


def by_epoch(results: dict, seed: int) -> str:
    """A finetune ``results.json``'s dev score after each epoch of one seed, space-separated."""
    curve = results["seeds"][str(seed)]["by_epoch"]
    return " ".join(f"{scores[results['metric']]:.4f}" for scores in curve)


# by_epoch: the dev score after each epoch (rows written before 2026-12-07 lack it)
FIELDS = ["arm", "task", "lr", "seed", "metric", "score", "baseline", "epochs", "seconds",
          "by_epoch"]


def read_rows(results: Path, arm: str | None = None) -> list[dict[str, str]]:
    """The fine-tuning rows of ``arm``, or of every arm."""
    rows: list[dict[str, str]] = []
    for path in sorted(results.glob(f"finetune-{arm or '*'}.csv")):
        with open(path, newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def write_rows(results: Path, arm: str, rows: list[dict]) -> None:
    with atomic_write(str(results / f"finetune-{arm}.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def table(rows: list[dict[str, str]], seeds: tuple[int, ...],
          lrs: tuple[float, ...] | None = None) -> dict[tuple[str, str], dict]:
    """Per (arm, task): the learning rate (of ``lrs``; None: of every rate tried) best on
    dev for the first seed and the mean, standard deviation and count of the scores of every
    seed at that rate."""
    if lrs is not None:
        rows = [r for r in rows if float(r["lr"]) in lrs]
    cells: dict[tuple[str, str], dict] = {}
    for arm, task in sorted({(r["arm"], r["task"]) for r in rows}):
        mine = [r for r in rows if (r["arm"], r["task"]) == (arm, task)]
        first = [r for r in mine if r["seed"] == str(seeds[0])]
        lr = max(first, key=lambda r: float(r["score"]))["lr"]
        scores = [float(r["score"]) for r in mine if r["lr"] == lr]
        cells[arm, task] = {"lr": lr, "mean": statistics.mean(scores), "n": len(scores),
                            "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                            "metric": mine[0]["metric"], "baseline": float(mine[0]["baseline"])}
    return cells


CURVES = [("mlm_accuracy", "generator MLM accuracy"), ("rtd_loss", "discriminator loss"),
          ("rtd_recall", "recall on replaced tokens"), ("valid_mlm_loss", "held-out MLM loss"),
          ("valid_rtd_auc", "held-out discriminator AUC"),
          # comparable between ELECTRA and ELECTRA-15 (runs before 2026-12-06 lack it)
          ("valid_rtd_auc_masked", "held-out discriminator AUC, masked positions"),
          ("valid_rank_last", "encoder's last layer: effective rank")]


def _probe_table(rows: list[dict[str, str]], scale: Scale, path: Path) -> None:
    """``path``: for each (arm, task) tried beyond the grid (``finetune --lrs``), the first
    seed's score at every rate, and mean ± std at the grid's best rate and at the best of all;
    nothing written if no cell was."""
    probed = sorted({(r["arm"], r["task"]) for r in rows if float(r["lr"]) not in scale.lrs},
                    key=lambda key: (list(ARMS).index(key[0]), key[1]))
    if not probed:
        return
    grid, wide = table(rows, scale.seeds, scale.lrs), table(rows, scale.seeds)
    rates = sorted({float(r["lr"]) for r in rows if (r["arm"], r["task"]) in probed})
    lines = ["| arm | task | " + " | ".join(f"lr {lr:g}, seed {scale.seeds[0]}" for lr in rates)
             + " | grid's best | best of all |", "|---" * (len(rates) + 4) + "|"]
    for key in probed:
        first = {float(r["lr"]): float(r["score"]) for r in rows
                 if (r["arm"], r["task"]) == key and r["seed"] == str(scale.seeds[0])}
        cells = [f"{first[lr]:.4f}" if lr in first else "" for lr in rates]
        best = [f"{c['mean']:.4f} ± {c['std']:.4f} (n={c['n']}, lr {c['lr']})"
                for c in (grid[key], wide[key])]
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells + best) + " |")
    path.write_text("\n".join(lines) + "\n")


def _longer_tables(results: Path, scale: Scale, cells: dict[tuple[str, str], dict]) -> None:
    """``results/epochsN/table.md`` for each ``finetune --epochs N`` run: per (arm, task)
    the cell at N epochs beside the main table's cell of the same arm at the task's own;
    ``by-epoch.png``: each arm's dev score after each epoch, mean and range over seeds."""
    import matplotlib.pyplot as plt

    def cell(c: dict) -> str:
        return f"{c['mean']:.4f} ± {c['std']:.4f} (n={c['n']})"

    for folder in sorted(results.glob("epochs*")):
        rows = read_rows(folder)
        longer = table(rows, scale.seeds)
        if not longer:
            continue
        epochs = folder.name.removeprefix("epochs")
        lines = [f"| arm | task | lr | {epochs} epochs | the task's own epochs |",
                 "|---|---|---|---|---|"]
        for arm, task in sorted(longer, key=lambda k: (list(ARMS).index(k[0]), k[1])):
            own = cell(cells[arm, task]) if (arm, task) in cells else ""
            lines.append(f"| {arm} | {task} | {longer[arm, task]['lr']} | "
                         f"{cell(longer[arm, task])} | {own} |")
        (folder / "table.md").write_text("\n".join(lines) + "\n")
        rows = [r for r in rows if r.get("by_epoch")]
        tasks = sorted({r["task"] for r in rows})
        if not tasks:
            continue
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            for arm in [a for a in ARMS if any(r["arm"] == a for r in rows)]:
                curves = np.array([[float(x) for x in r["by_epoch"].split()] for r in rows
                                   if (r["arm"], r["task"]) == (arm, task)])
                if not len(curves):
                    continue
                epoch = np.arange(1, curves.shape[1] + 1)
                line, = ax.plot(epoch, curves.mean(0), marker="o", ms=3,
                                label=f"{arm} (n={len(curves)})")
                ax.fill_between(epoch, curves.min(0), curves.max(0), alpha=0.2,
                                color=line.get_color())
            ax.set_xlabel("epoch")
            ax.set_ylabel(f"dev {rows[0]['metric']}")
            ax.set_title(f"{task}, {epochs} epochs", fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "by-epoch.png", dpi=120)
        plt.close(fig)


def report(work: Path, results: Path, scale: Scale) -> None:
    """``results/table.md`` (arms x tasks, mean ± std), ``results/table.png`` and the
    pretraining curves of every arm (``curves.png``; their metrics in ``curves/ARM.csv``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(results)
    cells = table(rows, scale.seeds, scale.lrs)
    _probe_table(rows, scale, results / "lr-probe.md")
    _longer_tables(results, scale, cells)
    arms = [a for a in ARMS if any(k[0] == a for k in cells)]
    tasks = [t.name for t in scale.tasks if any(k[1] == t.name for k in cells)]
    lines = ["| arm | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for arm in arms:
        row = [f"{cells[arm, t]['mean']:.4f} ± {cells[arm, t]['std']:.4f} "
               f"(n={cells[arm, t]['n']}, lr {cells[arm, t]['lr']})" if (arm, t) in cells
               else "" for t in tasks]
        lines.append(f"| {arm} | " + " | ".join(row) + " |")
    base = [f"{cells[next(k for k in cells if k[1] == t)]['baseline']:.4f}" for t in tasks]
    lines.append("| majority / all-O | " + " | ".join(base) + " |")
    (results / "table.md").write_text("\n".join(lines) + "\n")
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(3.2 * max(1, len(tasks)), 3.4))
    for ax, task in zip(axes if len(tasks) > 1 else [axes], tasks):
        have = [a for a in arms if (a, task) in cells]
        ax.bar(range(len(have)), [cells[a, task]["mean"] for a in have],
               yerr=[cells[a, task]["std"] for a in have], capsize=3, color="tab:blue")
        ax.set_xticks(range(len(have)), have, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{task} ({cells[have[0], task]['metric']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(results / "table.png", dpi=120)
    plt.close(fig)
    curves = results / "curves"
    curves.mkdir(exist_ok=True)
    runs: dict[str, tuple[int, list[dict[str, str]]]] = {}
    for colour, arm in enumerate(ARMS):  # one colour an arm in every panel, whatever it lacks
        run_metrics, path = work / "runs" / arm / "metrics.csv", curves / f"{arm}.csv"
        if run_metrics.exists():
            # two runs of one arm differ from the first logged step on
            if path.exists() and _first_rows(path) != _first_rows(run_metrics):
                print(f"{path} is another run of {arm} than {run_metrics}: kept (move it "
                      "aside to plot this run)", file=sys.stderr)
            else:
                path.write_bytes(run_metrics.read_bytes())
        if path.exists():  # run here, or committed by an earlier session
            with open(path, newline="") as handle:
                runs[arm] = colour, list(csv.DictReader(handle))

    def points(rows: list[dict[str, str]], column: str) -> list[tuple[int, float]]:
        return [(int(r["step"]), float(r[column])) for r in rows
                if r.get(column) not in (None, "", "nan")]

    series = {column: {arm: points(rows, column) for arm, (_, rows) in runs.items()}
              for column, _ in CURVES}
    # a panel for a metric that no run logged (older runs lack the later columns) is left out
    panels = [(column, title) for column, title in CURVES if any(series[column].values())]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False)
    for ax, (column, title) in zip(axes[0], panels):
        for arm, (colour, _) in runs.items():
            if series[column][arm]:
                ax.plot(*zip(*series[column][arm]), label=arm, color=f"C{colour % 10}",
                        linestyle="-" if colour < 10 else "--")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(results / "curves.png", dpi=120)
    plt.close(fig)


def representation(work: Path, results: Path, texts: int = 400) -> None:
    """How alike and how spread an encoder's token vectors are, layer by layer, on
    CLUENER's dev text: the mean cosine of random pairs (1: every token one direction) and
    the effective rank of the centred vectors (exp of the entropy of the singular values).
    One row per layer of each arm with an export here, and of ``none`` (that architecture,
    random), in ``results/representation.csv`` (other arms' rows kept): is a pretrained
    encoder that fine-tunes worse than a random one collapsed?"""
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer, logging

    from zhnlp.representation import effective_rank, mean_cosine

    logging.set_verbosity_error()  # an MLM export's head is left out of the encoder: expected
    sentences = json_texts(DATA / "cluener" / "dev.json")[:texts]
    exports = {arm: export_of(work, arm) for arm, spec in ARMS.items() if spec.shards}
    exports = {arm: path for arm, path in exports.items() if (path / "config.json").exists()}
    if not exports:
        sys.exit("error: no pretrained arm's export here: pretrain one first")
    rows = []
    for arm, path in {"none": next(iter(exports.values())), **exports}.items():
        torch.manual_seed(0)
        model = (AutoModel.from_config(AutoConfig.from_pretrained(path)) if arm == "none"
                 else AutoModel.from_pretrained(path)).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
        layers: dict[int, list[np.ndarray]] = {}
        with torch.no_grad():
            for start in range(0, len(sentences), 32):
                batch = tokenizer(sentences[start:start + 32], padding=True, truncation=True,
                                  max_length=128, return_tensors="pt")
                keep = batch["attention_mask"].bool()
                keep[:, 0] = False  # [CLS]
                for layer, hidden in enumerate(model(**batch, output_hidden_states=True)
                                               .hidden_states):
                    layers.setdefault(layer, []).append(hidden[keep].numpy())
        for layer, parts in layers.items():
            vectors = np.concatenate(parts)
            rows.append({"arm": arm, "layer": layer, "tokens": len(vectors),
                         "mean_cosine": round(mean_cosine(vectors), 4),
                         "effective_rank": round(effective_rank(vectors), 1),
                         "width": vectors.shape[1]})
            print(*rows[-1].values(), sep="\t")
    path = results / "representation.csv"
    if path.exists():  # arms measured before, whose exports are not here, keep their rows
        with open(path, newline="") as handle:
            done = {row["arm"] for row in rows}
            rows = [row for row in csv.DictReader(handle) if row["arm"] not in done] + rows
    order = {arm: i for i, arm in enumerate(ARMS)}
    rows.sort(key=lambda row: (order.get(row["arm"], len(order)), int(row["layer"])))
    with atomic_write(str(path), "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _first_rows(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [handle.readline() for _ in range(2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["corpus", "pretrain", "finetune", "report",
                                     "representation", "all"])
    ap.add_argument("arm", nargs="?", choices=list(ARMS))
    ap.add_argument("--scale", choices=list(SCALES), default="full")
    ap.add_argument("--tasks", help="fine-tune on these tasks only (comma-separated; "
                    "default: every task of the scale)")
    ap.add_argument("--lrs", type=lambda text: tuple(float(x) for x in text.split(",")),
                    default=(), help="finetune: also these learning rates (comma-separated), "
                    "a probe beyond the grid: the table keeps the grid's rows, lr-probe.md "
                    "shows both")
    ap.add_argument("--epochs", type=int, help="finetune: every task this many epochs "
                    "instead of its own, at the rate chosen at its own (rows in "
                    "study/epochsN/)")
    args = ap.parse_args()
    if not (DATA / "vocab").exists():
        sys.exit(f"error: {DATA} is absent: the study needs the real data sets")
    scale = SCALES[args.scale]
    only = set(args.tasks.split(",")) if args.tasks else None
    if only and only - {t.name for t in scale.tasks}:
        ap.error(f"--tasks: not a task of the {args.scale} scale: "
                 f"{','.join(sorted(only - {t.name for t in scale.tasks}))}")
    work = HERE / "out" / "study" / args.scale
    # the full study's rows and plots are committed; a scaled-down run's stay with its work
    results = HERE / "study" if args.scale == "full" else work
    work.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    if args.step in ("pretrain", "finetune") and args.arm is None:
        ap.error(f"{args.step} needs an ARM")
    if args.epochs and args.lrs:
        # --epochs reuses the rate the grid chose; a probe's rates would be dropped silently
        ap.error("--epochs and --lrs: choose one (--epochs fine-tunes at the rate the grid "
                 "chose at the task's own epochs)")
    arms = [args.arm] if args.arm else list(ARMS)
    if args.step in ("corpus", "all"):
        prepare_corpus(work, scale)
        (results / "corpus.json").write_bytes((work / "corpus.json").read_bytes())
    # `none` borrows the architecture and tokenizer of a pretrained arm's export, the
    # adaptation arms continue electra-lexicon
    order = sorted(arms, key=lambda a: ARMS[a].shards is None or ARMS[a].init is not None)
    if args.step in ("pretrain", "all"):
        for arm in order:
            pretrain(work, scale, arm)
    if args.step in ("finetune", "all"):
        for arm in order:
            if args.epochs:
                finetune_longer(work, results, scale, arm, args.epochs, only)
            else:
                finetune(work, results, scale, arm, only, args.lrs)
    if args.step == "representation":
        representation(work, results)
    if args.step in ("report", "all"):
        report(work, results, scale)
        print((results / "table.md").read_text())


if __name__ == "__main__":
    main()
