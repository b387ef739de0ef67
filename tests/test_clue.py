"""CLUE classification adapters and the fine-tuning loop on the real FewCLUE files."""

from __future__ import annotations

import json

import pytest
from conftest import DATA, need, zhnlp

from zhnlp.errors import InputError
from zhnlp.finetuning.inference import evaluate, predict
from zhnlp.finetuning.loop import FinetuneConfig, finetune
from zhnlp.finetuning.tasks import get_task
from zhnlp.finetuning.tasks.classification import mark_wsc

FEWCLUE = DATA / "fewclue"


@pytest.mark.parametrize("name", ["tnews", "iflytek", "ocnli", "csl", "cluewsc", "bustm",
                                  "eprstmt", "csldcp"])
def test_every_fewclue_split_reads(name):
    folder = need(FEWCLUE / name)
    task = get_task(name)
    labels = task.labels(str(folder))
    train = task.load(str(folder), "train", labels)
    test = task.load(str(folder), "test", labels, labelled=False)
    assert train and test and all(e.label in labels for e in train)
    assert len(test) == sum(1 for line in open(folder / "test.json", encoding="utf-8")
                            if line.strip())
    expected = {"tnews": 15, "iflytek": 119, "ocnli": 3, "csldcp": 67, "eprstmt": 2}
    if name in expected:
        assert len(labels) == expected[name]
    if train[0].b is not None:
        assert all(e.b for e in train)  # pairs have both sentences
    # FewCLUE's leaderboard names, not CLUE 1.1's
    assert task.submission_name(str(folder)) == {
        "tnews": "tnewsf_predict.json", "iflytek": "iflytekf_predict.json",
        "ocnli": "ocnlif_predict.json", "csl": "cslf_predict.json",
        "cluewsc": "cluewscf_predict.json"}.get(name, f"{name}_predict.json")


def test_ocnli_skips_unlabelled_pairs(tmp_path):
    task = get_task("ocnli")
    rows = [{"sentence1": "甲", "sentence2": "乙", "label": "-", "id": 0},
            {"sentence1": "丙", "sentence2": "丁", "label": "neutral", "id": 1}]
    path = tmp_path / "dev.json"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    assert [e.id for e in task.read(str(path), task.labels(str(tmp_path)))] == [1]
    assert task.submission_name(str(tmp_path)) == "ocnli_50k_predict.json"  # CLUE 1.1


def test_wsc_marks_spans_with_offsets_kept():
    folder = need(FEWCLUE / "cluewsc")
    task = get_task("cluewsc")
    for line in open(folder / "train_few_all.json", encoding="utf-8"):
        obj = json.loads(line)
        t = obj["target"]
        marked = task.text(obj, "x", 1)[0]
        assert f"[{t['span1_text']}]" in marked and f"<{t['span2_text']}>" in marked
        assert marked.replace("[", "").replace("]", "").replace("<", "").replace(">", "") == \
            obj["text"].replace("[", "").replace("]", "").replace("<", "").replace(">", "")
    assert mark_wsc("杨百顺他爹是个卖豆腐的。别人叫他卖豆腐的老杨。", 0, "杨百顺", 15, "他") == \
        "[杨百顺]他爹是个卖豆腐的。别人叫<他>卖豆腐的老杨。"
    with pytest.raises(ValueError):
        mark_wsc("杨百顺他爹", 1, "杨百顺", 3, "他")


def test_readers_name_file_line_and_known_labels(tmp_path):
    task = get_task("eprstmt")
    bad = tmp_path / "train.json"
    bad.write_text('{"id": 0, "sentence": "好", "label": "Positive"}\n{"id": 1, "sentence"\n',
                   encoding="utf-8")
    with pytest.raises(InputError, match=r"train.json:2: not a JSON object"):
        task.read(str(bad), task.labels(str(tmp_path)))
    bad.write_text('{"id": 0, "sentence": "好", "label": "Neutral"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"train.json:1: unknown label 'Neutral' \(known: "
                                         r"Positive, Negative\)"):
        task.read(str(bad), task.labels(str(tmp_path)))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = need(FEWCLUE / "eprstmt")
    out = tmp_path_factory.mktemp("ft")
    results = finetune(FinetuneConfig(task="eprstmt", data=str(folder), model="tiny",
                                      out=str(out), epochs=8, lr=1e-3, patience=8,
                                      seeds=(1,)))
    return folder, out, results


def test_tiny_model_beats_the_majority_class_on_eprstmt(tuned):
    folder, out, results = tuned
    majority = results["baseline"]["accuracy"]
    assert majority == pytest.approx(0.4625)  # 74 of 160 dev reviews
    assert results["max"] > majority + 0.1
    assert (out / "curve.png").exists() and (out / "best" / "config.json").exists()
    assert evaluate("eprstmt", str(folder), str(out / "best"))["accuracy"] == \
        pytest.approx(results["max"])
    assert results["throughput"]["train_examples_per_s"] > 0


def test_predict_writes_the_submission_file(tuned, tmp_path):
    folder, out, _ = tuned
    path = predict("eprstmt", str(folder), str(out / "best"), str(tmp_path))
    assert path.endswith("eprstmt_predict.json")
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    ids = [json.loads(line)["id"] for line in open(folder / "test.json", encoding="utf-8")]
    assert [r["id"] for r in rows] == ids
    assert {r["label"] for r in rows} <= {"Positive", "Negative"}
    res = zhnlp("evaluate", "--task", "eprstmt", "--data", str(folder), "--model",
                str(folder), text=True)
    assert res.returncode == 1 and "not a fine-tuned checkpoint" in res.stderr
    res = zhnlp("finetune", "--task", "eprstmt", "--data", str(tmp_path), "--model", "tiny",
                "--out", str(tmp_path / "o"), text=True)
    assert res.returncode == 1 and "none of train.json, train_few_all.json" in res.stderr
    res = zhnlp("predict", "--data", str(folder), "--model", str(out / "best"), text=True)
    assert res.returncode == 2 and "one of --input, --task or --all-tasks" in res.stderr
    res = zhnlp("evaluate", "--task", "tnews", "--data", str(folder), "--model",
                str(out / "best"), text=True)
    assert res.returncode == 1 and "fine-tuned for eprstmt, not tnews" in res.stderr
    # finetune's output folder stands for its best checkpoint, in evaluate and predict
    scores = [zhnlp("evaluate", "--task", "eprstmt", "--data", str(folder), "--model", model,
                    "--json", "-q", text=True).stdout for model in (str(out), str(out / "best"))]
    assert scores[0] == scores[1] and json.loads(scores[0])["accuracy"] > 0
    res = zhnlp("predict", "--task", "eprstmt", "--data", str(folder), "--model", str(out),
                "-o", str(tmp_path / "again"), "-q")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "again" / "eprstmt_predict.json").read_bytes() == open(path, "rb").read()


def test_an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    import zhnlp.finetuning.loop as ft

    folder = need(FEWCLUE / "eprstmt")

    def config(out):
        return FinetuneConfig(task="eprstmt", data=str(folder), model="tiny", out=str(out),
                              epochs=3, patience=3, seeds=(1, 2))

    whole = finetune(config(tmp_path / "whole"))
    # the default learning rate fits the model: tiny (width 64) gets 1.2e-3, not BERT's 1e-4
    assert whole["config"]["lr"] == 1.2e-3
    bests = [whole["seeds"][s]["best"] for s in ("1", "2")]
    assert whole["std"] == pytest.approx(abs(bests[0] - bests[1]) / 2 ** 0.5)
    real, calls = ft.evaluate_dev, []

    def dies_in_the_second_seed(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # seed 2, after its first epoch was saved
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ft, "evaluate_dev", dies_in_the_second_seed)
    with pytest.raises(KeyboardInterrupt):
        finetune(config(tmp_path / "cut"))
    assert (tmp_path / "cut" / "resume.pt").exists()
    monkeypatch.setattr(ft, "evaluate_dev", real)
    with pytest.raises(Exception, match="unfinished run with other settings"):
        finetune(FinetuneConfig(**{**config(tmp_path / "cut").__dict__, "lr": 2e-3}))
    resumed = finetune(config(tmp_path / "cut"))
    assert resumed["seeds"] == whole["seeds"]
    assert not (tmp_path / "cut" / "resume.pt").exists()
    import torch
    from transformers import AutoModelForSequenceClassification

    a = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "whole" / "best"))
    b = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "cut" / "best"))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))


def test_model_argument_resolves_names_checkpoints_and_pretrain_runs(tmp_path):
    from zhnlp.errors import ZhnlpError
    from zhnlp.finetuning.checkpoints import resolve_model

    assert resolve_model("tiny") == "tiny"
    from zhnlp.finetuning.checkpoints import default_lr

    assert [default_lr(m) for m in ("tiny", "small", "base")] == [1.2e-3, 3e-4, 1e-4]
    (tmp_path / "run" / "discriminator").mkdir(parents=True)
    (tmp_path / "run" / "discriminator" / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path / "run")) == str(tmp_path / "run" / "discriminator")
    assert resolve_model(str(tmp_path / "run" / "discriminator")).endswith("discriminator")
    (tmp_path / "ft" / "best").mkdir(parents=True)  # finetune's output: its best checkpoint
    (tmp_path / "ft" / "best" / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path / "ft")) == str(tmp_path / "ft" / "best")
    with pytest.raises(InputError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ZhnlpError, match="neither a checkpoint directory nor one of tiny"):
        resolve_model(str(tmp_path / "nowhere"))


def test_any_hugging_face_bert_checkpoint_fine_tunes(tmp_path, bert_vocab):
    """A BERT directory as transformers saves it (Chinese BERT's real vocabulary, a small
    random body: nothing is downloaded) for a sentence task and for the tagging task."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from zhnlp.finetuning.loop import layerwise_groups

    tokenizer = BertTokenizerFast(str(bert_vocab))  # the path positionally (transformers 5)
    assert len(tokenizer) == 21128
    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=64,
                                      num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=128))
    bert.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    groups = layerwise_groups(bert, 1.0, 0.5, 0.01)
    lrs = {name: g["lr"] for g in groups for p in g["params"]
           for name, q in bert.named_parameters() if p is q}
    assert lrs["bert.embeddings.word_embeddings.weight"] == 0.5 ** 3
    assert lrs["bert.encoder.layer.0.attention.self.query.weight"] == 0.5 ** 2
    assert lrs["bert.encoder.layer.1.output.dense.weight"] == 0.5
    results = finetune(FinetuneConfig(task="eprstmt", data=str(need(FEWCLUE / "eprstmt")),
                                      model=str(tmp_path / "bert"), out=str(tmp_path / "ft"),
                                      epochs=1))
    assert 0 <= results["max"] <= 1
    best = tmp_path / "ft" / "best"
    assert json.loads((best / "config.json").read_text())["model_type"] == "bert"
    assert evaluate("eprstmt", str(FEWCLUE / "eprstmt"), str(best))["accuracy"] == \
        pytest.approx(results["max"])


def test_a_device_that_is_not_there_is_refused_first(tmp_path):
    res = zhnlp("finetune", "--task", "eprstmt", "--data", str(FEWCLUE / "eprstmt"), "--model",
                "tiny", "--out", str(tmp_path), "--device", "gpu", text=True)
    assert res.returncode == 1 and res.stderr.startswith("error: unknown device 'gpu'")
    assert not list(tmp_path.iterdir())  # refused before any work


def test_ocnli_release_reads_with_unlabelled_pairs_skipped():
    folder = need(DATA / "ocnli")
    task = get_task("ocnli")
    assert task.find(str(folder), "train") == [str(folder / "train.10k.json")]
    dev = task.load(str(folder), "dev", task.labels(str(folder)))
    rows = [json.loads(line) for line in open(folder / "dev.json", encoding="utf-8")]
    assert len(dev) == sum(r["label"] != "-" for r in rows) < len(rows)
    assert {e.label for e in dev} == {"entailment", "neutral", "contradiction"}
