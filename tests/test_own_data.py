"""Fine-tuning on a user's own files (``--task text-classification``) and labelling new text
(``predict --input``), on real text: FewCLUE TNEWS's headlines written out as a user's TSV."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import DATA, need
from conftest import zhnlp_here as zhnlp

from zhnlp.clue.own import read_table
from zhnlp.errors import InputError

TNEWS = DATA / "fewclue" / "tnews"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in need(TNEWS / name).read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """THUCNews-style ``label<TAB>title`` lines without a header, as users keep them."""
    root = tmp_path_factory.mktemp("own")
    for split, name in (("train", "train_few_all.json"), ("dev", "dev_few_all.json")):
        with open(root / f"{split}.tsv", "w", encoding="utf-8") as handle:
            for r in _rows(name):
                handle.write(f"{r['label_desc']}\t{r['sentence'].replace(chr(9), ' ')}\n")
    titles = root / "titles.txt"
    titles.write_text("".join(r["sentence"] + "\n" for r in _rows("test.json")[:300]),
                      encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tuned(files):
    out = files / "ft"
    res = zhnlp("finetune", "--task", "text-classification", "--train", str(files / "train.tsv"),
                "--dev", str(files / "dev.tsv"), "--text-field", "1", "--label-field", "0",
                "--model", "tiny", "--out", str(out), "--epochs", "8", "--lr", "1e-3",
                "--batch-size", "32")
    assert res.returncode == 0, res.stderr
    return out, res.stderr.decode()


def test_tiny_model_learns_the_user_labels(tuned):
    out, summary = tuned
    results = json.loads((out / "results.json").read_text())
    config = json.loads((out / "best" / "config.json").read_text())
    labels = sorted({r["label_desc"] for r in _rows("train_few_all.json")})
    assert [config["id2label"][str(i)] for i in range(len(labels))] == labels  # 15, sorted
    assert results["max"] > results["baseline"]["accuracy"] + 0.05, results
    assert "most/least frequent" in summary and "news_story" in summary
    # the confusion matrix is the best checkpoint's: its diagonal is the accuracy
    counts = np.array(results["confusion"]["counts"])
    assert results["confusion"]["labels"] == labels and counts.sum() == 1098
    assert np.trace(counts) / counts.sum() == pytest.approx(results["max"])
    assert (counts.sum(1) == [sum(r["label_desc"] == label for r in _rows("dev_few_all.json"))
                              for label in labels]).all()
    assert (out / "confusion.png").stat().st_size > 10_000
    scores = json.loads(zhnlp("evaluate", "--model", str(out), "--dev",
                              str(out.parent / "dev.tsv"), "--json", "-q").stdout)
    assert scores["accuracy"] == pytest.approx(results["max"])
    assert set(scores) >= {"accuracy", "macro_f1", "f1_news_story"}
    assert 0 < scores["macro_f1"] <= 1


def test_predict_labels_new_text_with_probabilities(tuned, files, tmp_path):
    out, _ = tuned
    target = tmp_path / "labelled.jsonl"
    res = zhnlp("predict", "--model", str(out), "--input", str(files / "titles.txt"),
                "--top-k", "3", "-o", str(target), "-q")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    titles = (files / "titles.txt").read_text("utf-8").splitlines()
    assert [r["text"] for r in rows] == titles and [r["id"] for r in rows] == \
        list(range(1, len(titles) + 1))
    for r in rows:
        probs = [k["probability"] for k in r["top_k"]]
        assert r["label"] == r["top_k"][0]["label"] and r["probability"] == probs[0]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
    assert len({r["label"] for r in rows}) > 2  # not one class for everything
    # transformers' own pipeline on the checkpoint gives the same labels and probabilities
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(out / "best"), device="cpu")
    theirs = classify(titles[:40])
    assert [t["label"] for t in theirs] == [r["label"] for r in rows[:40]]
    assert [round(t["score"], 4) for t in theirs] == [round(r["probability"], 4)
                                                      for r in rows[:40]]


def test_bad_own_files_are_one_line_errors(files, tmp_path):
    train = files / "train.tsv"
    lines = train.read_text("utf-8").splitlines()

    def finetune(*args: str) -> str:
        res = zhnlp("finetune", "--task", "text-classification", "--model", "tiny", "--out",
                    str(tmp_path / "out"), *args, "-q")
        err = res.stderr.decode()
        assert res.returncode == 1 and err.count("\n") == 1 and err.startswith("error: "), err
        assert not (tmp_path / "out").exists()
        return err

    positional = ["--text-field", "1", "--label-field", "0"]
    dev = tmp_path / "dev.tsv"
    dev.write_text("\n".join(lines[:5] + ["no_such_label\t一条新闻"]) + "\n", encoding="utf-8")
    err = finetune("--train", str(train), "--dev", str(dev), *positional)
    assert f"{dev}:6: label 'no_such_label' is not in the training file (labels: " in err
    dev.write_text("\n".join(lines[:3] + ["news_story\t  "]) + "\n", encoding="utf-8")
    assert f"{dev}:4: empty text in field '1'" in finetune("--train", str(train), "--dev",
                                                          str(dev), *positional)
    dev.write_text("\n".join(lines[:3] + ["news_story"]) + "\n", encoding="utf-8")
    assert f"{dev}:4: 1 fields, 2 expected" in finetune("--train", str(train), "--dev",
                                                       str(dev), *positional)
    table = tmp_path / "train.csv"
    with open(table, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "title"])
        writer.writerows(line.split("\t") for line in lines[:50])
    err = finetune("--train", str(table), "--dev", str(table))
    assert f"{table}:1: no column 'label' (columns: category, title)" in err
    err = finetune("--train", str(table), "--dev", str(table), "--label-field", "category")
    assert f"{table}:1: no column 'text' (columns: category, title)" in err
    with open(table, "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(["news_story", "一条新闻", "多出来的一列"])
    err = finetune("--train", str(table), "--dev", str(table), "--text-field", "title",
                   "--label-field", "category")
    assert f"{table}:52: 3 fields, 2 expected" in err
    err = finetune("--train", str(tmp_path / "nowhere.tsv"), "--dev", str(dev))
    assert f"{tmp_path / 'nowhere.tsv'}: no such file" in err


def test_tables_read_alike_in_every_format(files, tmp_path):
    rows = _rows("dev_few_all.json")[:40]
    as_jsonl = tmp_path / "dev.jsonl"
    as_jsonl.write_text("".join(json.dumps({"text": r["sentence"], "label": r["label_desc"]},
                                           ensure_ascii=False) + "\n" for r in rows), "utf-8")
    as_csv = tmp_path / "dev.csv"
    with open(as_csv, "w", encoding="utf-8-sig", newline="") as handle:  # Excel's BOM
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["label", "text"])
        writer.writerows([r["label_desc"], r["sentence"]] for r in rows)
    expected = [{"text": r["sentence"], "label": r["label_desc"]} for r in rows]
    for path in (as_jsonl, as_csv):
        assert [row for _, row in read_table(str(path), ["text", "label"])] == expected
    with pytest.raises(InputError, match=r"dev.jsonl:1: no field 'title' \(fields: text, label"):
        list(read_table(str(as_jsonl), ["title"]))
    with pytest.raises(InputError, match="unknown table format"):
        list(read_table(str(tmp_path / "dev.xlsx"), ["text"]))
