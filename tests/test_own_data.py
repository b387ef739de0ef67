"""Fine-tuning on a user's own files (``--task text-classification``) and labelling new text
(``predict --input``), on real text: FewCLUE TNEWS's headlines written out as a user's TSV."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from conftest import DATA, need
from conftest import zhnlp_here as zhnlp

from zhnlp.errors import InputError
from zhnlp.finetuning.tasks.own import read_table

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
    assert [t["score"] for t in theirs] == \
        pytest.approx([r["probability"] for r in rows[:40]], abs=2e-4)


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


# --------------------------------------------------------------------------- entities

CLUENER = DATA / "cluener"


def _conll(rows: list[dict], scheme: str) -> str:
    """CLUENER's JSON lines as ``character TAG`` lines in ``scheme`` (what MSRA NER ships)."""
    from zhnlp.finetuning.scoring import entities
    from zhnlp.finetuning.tasks.tagging import scheme_tags

    out = []
    for r in rows:
        text = r["text"].replace(" ", "_")  # a CoNLL line cannot hold a space as its character
        tags = scheme_tags(len(text), sorted(entities(r.get("label", {}))), scheme)
        out += [f"{c} {t}" for c, t in zip(text, tags)] + [""]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("scheme", ["BIO", "BIOES", "BMES"])
def test_conll_in_every_scheme_gives_back_the_gold_entities(tmp_path, scheme):
    from zhnlp.finetuning.scoring import entities
    from zhnlp.finetuning.tasks.cluener import bio_tags
    from zhnlp.finetuning.tasks.tagging import read_conll

    rows = [json.loads(x) for x in need(CLUENER / "dev.json").read_text("utf-8").splitlines()]
    path = tmp_path / f"dev.{scheme.lower()}"
    path.write_text(_conll(rows, scheme), encoding="utf-8")
    read = read_conll(str(path))
    assert len(read) == len(rows) == 1343
    for (_, text, found), r in zip(read, rows):
        gold = sorted(entities(r["label"]))
        _, dropped = bio_tags(len(text), gold)  # BIO holds no overlapping entities
        assert text == r["text"].replace(" ", "_")
        assert found <= set(gold) and len(found) == len(gold) - dropped
    # and back: the spans read give the file's tags exactly
    from zhnlp.finetuning.tasks.tagging import scheme_tags

    written = [f"{c} {t}" for _, text, found in read
               for c, t in [*zip(text, scheme_tags(len(text), sorted(found), scheme)), ("", "")]]
    assert "\n".join(w.strip() for w in written) + "\n" == path.read_text("utf-8")


def test_bad_conll_files_name_the_line(tmp_path):
    from zhnlp.finetuning.tasks.tagging import read_conll

    rows = [json.loads(x) for x in need(CLUENER / "dev.json").read_text("utf-8").splitlines()]
    good = _conll(rows[:20], "BMES").splitlines()
    cases = {
        "starts inside": (["浙 I-company", "商 E-company"], 1, "I-company cannot start an entity"),
        "wrong type": (["浙 B-company", "商 E-name"], 2, "E-name cannot start an entity "
                       "(after B-company)"),
        # E-/S- tags elsewhere make the file BIOES/BMES, where an entity must be closed
        "left open": (["浙 B-company", "商 O", "", "京 S-name"], 2,
                      "not closed with E-company"),
        "three fields": (["浙 B company"], 1, "expected one character and its tag"),
        "no tag": (["浙 X-company"], 1, "neither O nor B-"),
    }
    for name, (lines, line, message) in cases.items():
        path = tmp_path / f"{name}.bmes"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=f":{line}: .*{re.escape(message)}"):
            read_conll(str(path))
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("\n".join(good + [""] + _conll(rows[20:40], "BIOES").splitlines()) + "\n",
                     encoding="utf-8")
    with pytest.raises(InputError, match=r"mixes tag schemes: I- tags .* M- tags \(BMES\)"):
        read_conll(str(mixed))


@pytest.fixture(scope="module")
def ner_tuned(tmp_path_factory):
    """A tiny model tuned on 2,000 CLUENER sentences written as a BMES CoNLL file."""
    root = tmp_path_factory.mktemp("ner")
    train = [json.loads(x) for x in need(CLUENER / "train.json").read_text("utf-8")
             .splitlines()[:2000]]
    dev = [json.loads(x) for x in (CLUENER / "dev.json").read_text("utf-8").splitlines()[:300]]
    (root / "train.bmes").write_text(_conll(train, "BMES"), encoding="utf-8")
    (root / "dev.bmes").write_text(_conll(dev, "BMES"), encoding="utf-8")
    out = root / "ft"
    res = zhnlp("finetune", "--task", "ner", "--data", str(root), "--model", "tiny",
                "--out", str(out), "--epochs", "4", "--lr", "2e-3", "--batch-size", "32",
                "--max-len", "64", "-q")
    assert res.returncode == 0, res.stderr
    return root, out, train, dev


def test_ner_on_conll_files_trains_and_predicts_spans(ner_tuned):
    tmp_path, out, train, dev = ner_tuned
    results = json.loads((out / "results.json").read_text())
    config = json.loads((out / "best" / "config.json").read_text())
    types = sorted({t for r in train for t in r["label"]})
    assert [config["id2label"][str(i)] for i in range(1 + 2 * len(types))] == \
        ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    assert results["baseline"]["f1"] == 0 and results["max"] > 0.05, results["max"]
    # new text: one character a line, no tags
    new = tmp_path / "new.txt"
    new.write_text("\n".join(line.split(" ")[0] if line else ""
                             for line in _conll(dev, "BMES").splitlines()) + "\n", "utf-8")
    res = zhnlp("predict", "--task", "ner", "--model", str(out), "--test", str(new), "-o",
                str(tmp_path / "sub"), "-q")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in (tmp_path / "sub" / "entities.jsonl").read_text("utf-8")
            .splitlines()]
    assert len(rows) == 300 and sum(len(r["entities"]) for r in rows) > 50
    for r in rows:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"] + 1] == e["text"] and e["type"] in types
    unknown = tmp_path / "dev2.bmes"
    unknown.write_text("浙 B-bank\n商 E-bank\n", encoding="utf-8")
    res = zhnlp("evaluate", "--model", str(out), "--dev", str(unknown), "-q")
    assert res.returncode == 1 and f"{unknown}:1: unknown entity type 'bank'" in \
        res.stderr.decode()


def _cjk_only(rows: list[dict]) -> list[dict]:
    """Sentences of Chinese characters and Chinese punctuation alone: transformers' pipeline
    splits Latin words into word pieces where a character model sees letters."""
    return [r for r in rows if re.fullmatch(r"[\u4e00-\u9fff，。、！？；：“”《》（）]+", r["text"])]


def test_ner_labels_new_text_and_works_with_the_transformers_pipeline(ner_tuned, tmp_path):
    """``predict --input`` on plain lines gives each line's entity spans with their text and
    offsets; a line longer than a model input is windowed; ``pipeline("token-classification")``
    on the checkpoint tags the same (its per-token labels decoded give our entities)."""
    from zhnlp.finetuning.tasks.cluener import spans_of, windows

    _, out, _, _ = ner_tuned
    dev = [json.loads(x) for x in (CLUENER / "dev.json").read_text("utf-8").splitlines()]
    texts = [r["text"] for r in _cjk_only(dev[200:])][:150]
    long_line = "".join(texts[:20])  # ~750 characters: a dozen windows of a 64-token input
    assert len(long_line) > 600
    pieces = windows(long_line, 62)
    new = tmp_path / "new.txt"
    new.write_text("\n".join(texts + [long_line] + [long_line[a:b] for a, b in pieces]) + "\n",
                   encoding="utf-8")
    target = tmp_path / "entities.jsonl"
    res = zhnlp("predict", "--model", str(out), "--input", str(new), "-o", str(target), "-q")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in target.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == list(range(1, len(texts) + len(pieces) + 2))
    assert [r["text"] for r in rows[:len(texts) + 1]] == texts + [long_line]
    assert sum(len(r["entities"]) for r in rows[:len(texts)]) > 40
    for r in rows:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"] + 1] == e["text"]
    # the long line is tagged window by window, never truncated: its entities are those of
    # its windows given alone, shifted to their place in the line
    whole = rows[len(texts)]["entities"]
    assert max(e["end"] for e in whole) > 5 * 62
    shifted = [{**e, "start": e["start"] + a, "end": e["end"] + a}
               for (a, _), r in zip(pieces, rows[len(texts) + 1:]) for e in r["entities"]]
    assert whole == shifted

    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(out / "best"), device="cpu")
    for r, tokens in zip(rows[:60], tagger(texts[:60])):
        tags = ["O"] * len(r["text"])
        for t in tokens:  # the labels are named, as in our id2label
            assert t["entity"][:2] in ("B-", "I-") and t["entity"][2:] in TYPES_OF_CLUENER
            tags[t["start"]] = t["entity"]
        assert spans_of(tags) == {(e["type"], e["start"], e["end"]) for e in r["entities"]}


TYPES_OF_CLUENER = {"address", "book", "company", "game", "government", "movie", "name",
                    "organization", "position", "scene"}


def _types_table(rows: list[dict], path, sep: str = "|") -> None:
    """CLUENER sentences labelled with the entity types they hold: a real multi-label task
    (0 to 6 labels a sentence)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "types"])
        writer.writerows([r["text"], sep.join(sorted(r.get("label", {})))] for r in rows)


def test_multi_label_classification_learns_and_labels_new_text(tmp_path):
    rows = [json.loads(x) for x in need(CLUENER / "train.json").read_text("utf-8")
            .splitlines()]
    _types_table(rows[:3000], tmp_path / "train.csv")
    _types_table(rows[3000:3400], tmp_path / "dev.csv")
    out = tmp_path / "ft"
    res = zhnlp("finetune", "--task", "text-classification", "--data", str(tmp_path),
                "--label-field", "types", "--multi-label", "|", "--model", "tiny", "--out",
                str(out), "--epochs", "8", "--lr", "3e-3", "--batch-size", "32",
                "--max-len", "64", "--patience", "8")
    assert res.returncode == 0, res.stderr
    assert "labels an example" in res.stderr.decode()
    results = json.loads((out / "results.json").read_text())
    config = json.loads((out / "best" / "config.json").read_text())
    assert results["metric"] == "micro_f1" and "confusion" not in results
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["id2label"].values()) == sorted(TYPES_OF_CLUENER)
    best = max(results["seeds"]["0"]["by_epoch"], key=lambda s: s["micro_f1"])
    assert best["micro_f1"] > results["baseline"]["micro_f1"] + 0.1, (best, results["baseline"])
    assert 0 < best["macro_f1"] < best["micro_f1"] and 0 < best["exact_match"] < 1
    # by hand: micro-F1 over every (sentence, type) decision of the saved predictions
    res = zhnlp("predict", "--model", str(out), "--input", str(tmp_path / "dev.csv"),
                "--text-field", "text", "--top-k", "3", "-o", str(tmp_path / "p.jsonl"), "-q")
    assert res.returncode == 0, res.stderr
    predicted = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text("utf-8").splitlines()]
    gold = [set(r.get("label", {})) for r in rows[3000:3400]]
    tp = sum(len(g & set(p["labels"])) for g, p in zip(gold, predicted))
    guessed, true = sum(len(p["labels"]) for p in predicted), sum(map(len, gold))
    assert 2 * tp / (guessed + true) == pytest.approx(best["micro_f1"])
    for p in predicted:
        assert all(q >= 0.5 for q in p["probabilities"]) and len(p["top_k"]) == 3
        assert [k["label"] for k in p["top_k"] if k["probability"] >= 0.5] == \
            [label for _, label in sorted(zip(p["probabilities"], p["labels"]), reverse=True)]
    # transformers' pipeline reads the checkpoint as multi-label: sigmoid scores, ours
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(out / "best"), device="cpu",
                        top_k=None)
    for p, theirs in zip(predicted[:30], classify([p["text"] for p in predicted[:30]])):
        assert {t["label"] for t in theirs if t["score"] >= 0.5} == set(p["labels"])
        # the pipeline pads other batches than ours: equal to float noise, not to 4 places
        assert [t["score"] for t in theirs[:3]] == \
            pytest.approx([k["probability"] for k in p["top_k"]], abs=2e-4)


def test_an_option_a_task_does_not_take_is_refused(tmp_path):
    from zhnlp.errors import ZhnlpError
    from zhnlp.finetuning.tasks import get_task, task_options

    res = zhnlp("finetune", "--task", "tnews", "--data", str(TNEWS), "--model", "tiny",
                "--out", str(tmp_path / "o"), "--crf")
    assert res.returncode == 2 and "--crf is not an option of --task tnews (its options: " \
        "none)" in res.stderr.decode()
    res = zhnlp("finetune", "--task", "ner", "--data", str(tmp_path), "--model", "tiny",
                "--out", str(tmp_path / "o"), "--text-field", "title")
    assert res.returncode == 2 and "--text-field is not an option of --task ner (its " \
        "options: --crf, --train, --dev, --test)" in res.stderr.decode()
    assert not (tmp_path / "o").exists()
    with pytest.raises(ZhnlpError, match="'cmrc2018' does not take the option 'max_answer'"):
        get_task("cmrc2018", max_answer=30)
    assert "multi_label" in task_options("text-classification")
    assert get_task("cmrc2018", max_answer_len=30).max_answer_len == 30


def test_a_task_object_or_a_registered_task_fine_tunes(files, tmp_path):
    """The registry takes a Task object as well as a name; a registered subclass is a task
    like the others (here: TNEWS lines read as a two-label task)."""
    from zhnlp.errors import ZhnlpError
    from zhnlp.finetuning.inference import evaluate
    from zhnlp.finetuning.loop import FinetuneConfig, finetune
    from zhnlp.finetuning.tasks import get_task, register
    from zhnlp.finetuning.tasks.own import TextClassification

    task = TextClassification(text_field="1", label_field="0", train=str(files / "train.tsv"),
                              dev=str(files / "dev.tsv"))
    assert get_task(task) is task
    with pytest.raises(ZhnlpError, match="given as an object"):
        get_task(task, crf=True)
    results = finetune(FinetuneConfig(task=task, data=None, model="tiny",
                                      out=str(tmp_path / "obj"), epochs=1, lr=1e-3))
    assert results["task"] == "text-classification"
    assert results["examples"]["train"] == len(_rows("train_few_all.json"))

    class Headlines(TextClassification):
        name = "headlines"

        def __init__(self, train: str | None = None, dev: str | None = None) -> None:
            super().__init__(text_field="1", label_field="0", train=train, dev=dev)
            self.name = "headlines"

    register("headlines", Headlines)
    with pytest.raises(ZhnlpError, match="exists already"):
        register("headlines", Headlines)
    out = tmp_path / "reg"
    results = finetune(FinetuneConfig(task="headlines", data=str(files), model="tiny",
                                      out=str(out), epochs=1, lr=1e-3))
    assert results["task"] == "headlines"
    scores = evaluate("headlines", str(files), str(out))
    assert scores["accuracy"] == pytest.approx(results["max"])
