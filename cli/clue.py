"""``zhnlp finetune``, ``zhnlp evaluate``, ``zhnlp predict``: the CLUE tasks and the user's own
labelled files (``--task text-classification``), and labelling new text (``predict --input``)."""

from __future__ import annotations

import json
import os
import zipfile

import click
from zhnlp.cli.output import output

from zhnlp.errors import ZhnlpError
from zhnlp.finetuning.tasks import OWN_TASKS, TASK_NAMES
from zhnlp.outputs import claim

DATA = click.option("--data", default=None, metavar="DIR",
                    help="The task's files under CLUE's names (train.json, dev.json, test.json; "
                    "FewCLUE's train_few_all.json, dev_few_all.json; cmrc2018_*.json, "
                    "c3's d-/m- halves); for text-classification and ner, train/dev/test "
                    "with the suffix of their format.")
TASK = click.option("--task", type=click.Choice([*TASK_NAMES, *OWN_TASKS]),
                    help="A CLUE / FewCLUE task, or text-classification / ner on your own "
                    "files.")
OWN_OPTIONS = ("train", "dev", "test", "text_field", "text_pair_field", "label_field",
               "multi_label")


def own_data(command: click.Command) -> click.Command:
    """The options of the tasks on the user's own files (text-classification, ner)."""
    options = [
        click.option("--train", default=None, metavar="FILE", help="text-classification, "
                     "ner: the training file (else DATA/train.csv|tsv|txt|jsonl|bmes...)."),
        click.option("--dev", default=None, metavar="FILE", help="text-classification, "
                     "ner: the dev file (else DATA/dev.*)."),
        click.option("--test", default=None, metavar="FILE", help="text-classification, "
                     "ner: the file to predict with predict --task (else DATA/test.*)."),
        click.option("--text-field", default=None, metavar="NAME",
                     help="text-classification: the text's column or key (default text; a "
                     "number for a headerless CSV/TSV, from 0)."),
        click.option("--text-pair-field", default=None, metavar="NAME",
                     help="text-classification: a second text, for pairs."),
        click.option("--label-field", default=None, metavar="NAME",
                     help="text-classification: the label's column or key (default label)."),
        click.option("--multi-label", default=None, metavar="SEP",
                     help="text-classification: each example has any number of labels, "
                     "separated by SEP in the label field (e.g. '|'); scored by micro-F1."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _own(values: dict[str, str | None]) -> dict[str, str]:
    """The own-data options given (those left out keep the task's defaults)."""
    return {k: v for k, v in values.items() if k in OWN_OPTIONS and v is not None}


def _options(task: str, given: dict[str, object]) -> dict[str, object]:
    """The task options given (None or an unset flag: not given), each one the task takes,
    else a usage error: a misplaced option is never dropped silently."""
    from zhnlp.finetuning.tasks import task_options

    given = {k: v for k, v in given.items() if v is not None and v is not False}
    takes = task_options(task)
    for name in given:
        if name not in takes:
            flags = ", ".join(f"--{t.replace('_', '-')}" for t in takes) or "none"
            raise click.UsageError(f"--{name.replace('_', '-')} is not an option of --task "
                                   f"{task} (its options: {flags})")
    return given


def _need_data(task: str, data: str | None) -> None:
    if data is None and task not in OWN_TASKS:
        raise click.UsageError(f"--task {task} reads its files from --data DIR")


def _fmt(scores: dict[str, float]) -> str:
    """The overall scores on one line, then a per-type F1 table (CLUENER) where there is one."""
    head = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if not k.startswith("f1_"))
    rows = [f"  {k[3:]:14s} F1 {v:.4f}" for k, v in scores.items() if k.startswith("f1_")]
    return "\n".join([head, *rows])


@click.command("finetune")
@TASK
@DATA
@own_data
@click.option("--model", required=True, help="A checkpoint directory (a pretrain run stands "
              "for its discriminator, a finetune OUT for its best checkpoint), or tiny / mini / "
              "small for a randomly initialised ELECTRA with a tokenizer learned from the "
              "training text.")
@click.option("--out", "-o", required=True, metavar="DIR",
              help="Run directory: best/ (the best dev checkpoint), results.json, curve.png.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=None, type=click.FloatRange(0, min_open=True),
              help="Peak learning rate [default: scaled to the model's width, 1e-4 x 768 / "
              "hidden size: tiny 1.2e-3, small 3e-4, base 1e-4].")
@click.option("--layer-decay", default=0.8, show_default=True,
              type=click.FloatRange(0, 1, min_open=True),
              help="Layer-wise learning-rate decay (1: none).")
@click.option("--max-len", default=128, show_default=True, type=click.IntRange(16, 512),
              help="Tokens per model input (CMRC: per window).")
@click.option("--patience", default=2, show_default=True, type=click.IntRange(1),
              help="Epochs without a better dev score before stopping.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated, e.g. 1,2,3.")
@click.option("--doc-stride", default=None, type=click.IntRange(1),
              help="CMRC 2018: tokens shared by neighbouring windows of a long context "
              "[default: 64].")
@click.option("--max-answer-len", default=None, type=click.IntRange(1),
              help="CMRC 2018: longest answer decoded, in tokens [default: 64].")
@click.option("--crf", is_flag=True, help="cluener, ner: a CRF over the character tags.")
@click.option("--device", default="auto", show_default=True,
              help="auto (the GPU when there is one, bf16 where it has it), cpu, cuda, cuda:1.")
@click.option("--random-init", is_flag=True,
              help="MODEL's architecture and tokenizer with random weights: the "
              "no-pretraining baseline to compare a pretrained checkpoint with.")
@click.option("--reinit-layers", default=0, show_default=True, type=click.IntRange(0),
              help="Start the top N encoder layers of MODEL random again (the rest keep "
              "their pretrained weights): for a checkpoint whose top layers fit its "
              "pretraining task too closely.")
@click.option("--reinit-projection", is_flag=True,
              help="Start MODEL's projection from its (narrower) embeddings into the "
              "hidden size random again, as ELECTRA-Small has one; with --reinit-layers "
              "over every layer, only the embedding tables stay pretrained.")
@click.option("--force", is_flag=True, help="Replace a finished run in OUT (its best/ too).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def finetune_cmd(task: str | None, data: str | None, model: str, out: str, epochs: int,
                 batch_size: int, lr: float | None, layer_decay: float, max_len: int,
                 patience: int, seeds: str, doc_stride: int | None, max_answer_len: int | None,
                 crf: bool, device: str, random_init: bool, reinit_layers: int,
                 reinit_projection: bool, force: bool,
                 quiet: bool, **own: str | None) -> None:
    """Fine-tune MODEL on TASK; keep the best dev checkpoint in OUT/best.

    \b
    Example:
      zhnlp finetune --task eprstmt --data ../shared/data/fewclue/eprstmt \\
          --model run/discriminator --out ft/eprstmt --epochs 5 --seeds 1,2,3
      zhnlp finetune --task text-classification --train news.tsv --dev dev.tsv \\
          --text-field 1 --label-field 0 --model tiny --out ft/news --lr 1e-3
    """
    from zhnlp.finetuning.loop import FinetuneConfig, finetune

    if task is None:
        raise click.UsageError("give --task")
    _need_data(task, data)
    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers",
                                 param_hint="--seeds") from None
    options = _options(task, {"doc_stride": doc_stride, "max_answer_len": max_answer_len,
                              "crf": crf, **_own(own)})
    inputs = [data, model if os.path.isdir(model) else None, own["train"], own["dev"]]
    with claim(out, inputs, folder=True):
        results = finetune(FinetuneConfig(task=task, data=data, model=model, out=out,
                                          epochs=epochs, batch_size=batch_size, lr=lr,
                                          layer_decay=layer_decay, max_len=max_len,
                                          patience=patience, seeds=seed_list, device=device,
                                          options=options, random_init=random_init,
                                          reinit_layers=reinit_layers,
                                          reinit_projection=reinit_projection),
                           quiet=quiet, force=force)
    if not quiet:
        metric = results["metric"]
        speed = results["throughput"]
        if results["train_summary"]:
            click.echo(f"{task} training labels: {results['train_summary']}", err=True)
        click.echo(f"{task} dev {metric}: mean {results['mean']:.4f} (std "
                   f"{results['std']:.4f}), median {results['median']:.4f}, max "
                   f"{results['max']:.4f} over {len(seed_list)} seed(s) at lr "
                   f"{results['config']['lr']:g}; baseline {results['baseline'][metric]:.4f}; "
                   f"{speed['train_examples_per_s']:.1f} train / "
                   f"{speed['predict_examples_per_s']:.1f} predict examples/s", err=True)


@click.command("evaluate")
@TASK
@DATA
@own_data
@click.option("--model", required=True,
              help="finetune's OUT (its best checkpoint), or a fine-tuned checkpoint folder.")
@click.option("--json", "as_json", is_flag=True, help="All scores as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="Print the main score alone, no progress bar.")
def evaluate_cmd(task: str | None, data: str | None, model: str, as_json: bool, quiet: bool,
                 **own: str | None) -> None:
    """Print the dev scores of a fine-tuned MODEL (accuracy; CMRC EM/F1; CLUENER P/R/F1).

    \b
    Example:
      zhnlp evaluate --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/eprstmt
      zhnlp evaluate --model ft/news --dev other-dev.tsv     # the task the model was tuned for
    """
    from zhnlp.finetuning.checkpoints import trained_task
    from zhnlp.finetuning.inference import evaluate

    task = task or trained_task(model)
    _need_data(task, data)
    scores = evaluate(task, data, model, quiet=quiet, options=_options(task, _own(own)))
    if as_json:
        click.echo(json.dumps(scores))
    elif quiet:  # the task's metric comes first
        click.echo(f"{next(iter(scores.values())):.4f}")
    else:
        click.echo(f"{task} dev: {_fmt(scores)}")


@click.command("predict")
@TASK
@click.option("--all-tasks", is_flag=True,
              help="Every task with data in DATA/<task> and a checkpoint in "
              "MODEL/<task>[/best], zipped into OUT (a .zip) for the leaderboard.")
@click.option("--input", "source", default=None, metavar="FILE",
              help="New text to label with a classification or ner MODEL: a .csv/.tsv/.jsonl "
              "table (ner: JSON lines with a text field) "
              "with the model's fields, or plain text, one input a line (- for stdin).")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(1),
              help="With --input: also list the K most probable labels.")
@DATA
@own_data
@click.option("--model", required=True, help="finetune's OUT (its best checkpoint), or a "
              "fine-tuned checkpoint folder; with --all-tasks, the folder holding one run per "
              "task.")
@click.option("--split", type=click.Choice(["test", "dev", "train"]), default="test",
              show_default=True)
@click.option("--out", "-o", default=None, metavar="PATH",
              help="Folder for the submission file (its official name) [default: .]; "
              "with --all-tasks, the zip [default: submit.zip]; with --input, the JSON-lines "
              "file [default: stdout].")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def predict_cmd(task: str | None, all_tasks: bool, source: str | None, top_k: int,
                data: str | None, model: str, split: str, out: str | None, quiet: bool,
                **own: str | None) -> None:
    """Label new text (--input), or write TASK's submission file, or every task's files
    zipped (--all-tasks).

    \b
    Example:
      zhnlp predict --model ft/news --input titles.txt --top-k 3 -o labelled.jsonl
      zhnlp predict --model ft/entities --input - < new.txt     # entity spans per line
      zhnlp predict --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/ -o sub/
      zhnlp predict --all-tasks --data ../shared/data/fewclue --model ft/ -o submit.zip
    """
    if sum((all_tasks, task is not None, source is not None)) != 1:
        raise click.UsageError("give one of --input, --task or --all-tasks")
    if source is not None:
        from zhnlp.finetuning.inference import label_texts

        with claim(out, [source, model]), output(out) as handle:
            options = _own(own)
            if options:
                from zhnlp.finetuning.checkpoints import trained_task

                options = _options(trained_task(model), options)
            done = label_texts(model, source, handle, top_k=top_k, options=options,
                               quiet=quiet)
        if not quiet:
            click.echo(f"{done:,} inputs labelled" + (f" -> {out}" if out else ""), err=True)
        return
    if all_tasks:
        from zhnlp.finetuning.submission import predict_all

        if data is None:
            raise click.UsageError("--all-tasks reads DATA/<task>: give --data")
        out = out or "submit.zip"
        if os.path.isfile(out) and not zipfile.is_zipfile(out):
            raise ZhnlpError(f"{out}: exists and is not a zip file; choose another --out")
        with claim(out, [data, model]):
            done = predict_all(data, model, out, split, quiet=quiet)
        if not quiet:
            for name, file, lines in done:
                click.echo(f"{name:10s} {file:26s} {lines} lines", err=True)
            click.echo(out)
        return
    from zhnlp.finetuning.inference import predict
    from zhnlp.finetuning.tasks import get_task

    assert task is not None
    _need_data(task, data)
    if out is not None and os.path.isfile(out):
        raise ZhnlpError(f"{out}: is a file; --out is the folder for the submission file")
    with claim(os.path.join(out or ".", get_task(task).submission_name(data)),
               [data, model, own["test"]]):
        path = predict(task, data, model, out or ".", split, quiet=quiet,
                       options=_options(task, _own(own)))
    if not quiet:
        click.echo(path)
