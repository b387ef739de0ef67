"""CMRC 2018, CHID, C3 and CLUENER adapters on the real files of ../shared/data.

The decoding tests feed the adapters "perfect" model outputs built from the gold targets:
whatever the windows, offsets, padding or tag alignment do wrong shows as a score below 1.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import DATA, need, zhnlp

from zhnlp.errors import InputError
from zhnlp.finetuning.tasks import get_task
from zhnlp.finetuning.tasks.chid import assign
from zhnlp.finetuning.tasks.cluener import TYPES, bio_tags, spans_of
from zhnlp.finetuning.tasks.cmrc import best_span


@pytest.fixture(scope="module")
def bert_tokenizer(tokdir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokdir)


def one_hot(index: np.ndarray, width: int) -> np.ndarray:
    """Logits that pick ``index`` along a last axis of ``width`` (any leading shape)."""
    return np.where(index[..., None] == np.arange(width), 5.0, -5.0)


def gold_tag_logits(enc, labels: list[str]) -> dict[str, np.ndarray]:
    """CLUENER outputs that tag every character as its gold tag says."""
    return {"logits": one_hot(enc.targets["labels"].numpy(), len(labels))}


# ---------------------------------------------------------------- CLUENER

def test_cluener_gold_tags_decode_back_to_the_gold_entities(bert_tokenizer):
    folder = need(DATA / "cluener")
    task = get_task("cluener")
    labels = task.labels(str(folder))
    dev = task.load(str(folder), "dev", labels)
    assert len(dev) == 1343 and len(labels) == 21
    enc = task.encode(bert_tokenizer, dev, labels, 128)
    predicted = task.decode(gold_tag_logits(enc, labels), enc, dev, labels)
    scores = task.score(predicted, dev)
    gold = sum(len(e.entities) for e in dev)
    dropped = sum(bio_tags(len(e.text), sorted(e.entities))[1] for e in dev)
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx((gold - dropped) / gold)  # BIO holds no overlap
    assert task.baseline(dev, dev)["f1"] == 0.0


def test_cluener_bridges_untokenised_characters_and_windows_long_sentences(bert_tokenizer):
    task = get_task("cluener")
    labels = task.labels("")
    # a real dev sentence (彭小军认为...台湾...) with a space put inside the name
    text = "彭 小军认为，国内银行现在走的是台湾的发卡模式，先通过跑马圈地再在圈的地里面选择客户，"
    from zhnlp.finetuning.tasks.cluener import Sentence

    e = Sentence(text, frozenset({("name", 0, 3), ("address", 16, 17)}), 0)
    enc = task.encode(bert_tokenizer, [e], labels, 128)
    assert task.decode(gold_tag_logits(enc, labels), enc, [e], labels) == [set(e.entities)]
    # a sentence longer than a model input is cut into windows, never truncated: both
    # entities come back from windows of 10 characters
    short = task.encode(bert_tokenizer, [e], labels, 12)
    assert len(short) == 5 and list(short.example) == [0] * 5
    assert task.decode(gold_tag_logits(short, labels), short, [e], labels) == [set(e.entities)]
    assert spans_of(["I-name", "B-name", "I-name", "I-address", "O"]) == {("name", 1, 2)}


def test_windows_cover_a_text_and_cut_at_sentence_ends(pku_lines):
    from zhnlp.finetuning.tasks.cluener import windows

    text = max(pku_lines, key=len)  # a paragraph of PKU's news, hundreds of characters
    assert len(text) > 300
    for size in (20, 50, 126):
        pieces = windows(text, size)
        assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
        assert all(0 < end - start <= size for start, end in pieces)
    cuts = [end for _, end in windows(text, 50)[:-1]]
    # each cut follows a sentence end where the window's second half has one
    assert all(text[c - 1] in "。！？；!?;" for c in cuts if any(
        ch in "。！？；!?;" for ch in text[c - 25:c]))
    assert any(text[c - 1] == "。" for c in cuts)
    assert windows("", 10) == [(0, 0)]


def test_cluener_reader_names_file_line_and_type(tmp_path):
    task = get_task("cluener")
    path = tmp_path / "train.json"
    path.write_text('{"text": "温格的球队", "label": {"name": {"温格": [[0, 1]]}}}\n'
                    '{"text": "温格的球队", "label": {"person": {"温格": [[0, 1]]}}}\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"train.json:2: unknown entity type 'person' "
                                         r"\(known: address, book"):
        task.read(str(path), task.labels(""))
    path.write_text('{"text": "温格的球队", "label": {"name": {"温格": [[1, 2]]}}}\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"train.json:1: name span \[1, 2\] is '格的'"):
        task.read(str(path), task.labels(""))


def slice_lines(src, dst, n):
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, encoding="utf-8") as handle:
        dst.write_text("".join(line for _, line in zip(range(n), handle)), encoding="utf-8")


@pytest.fixture(scope="module")
def ner_runs(tmp_path_factory):
    """A 2-layer model from scratch on 3,000 real training sentences, without and with CRF."""
    from zhnlp.finetuning.loop import FinetuneConfig, finetune

    folder = need(DATA / "cluener")
    tmp = tmp_path_factory.mktemp("ner")
    data = tmp / "cluener"
    for split, n in (("train", 3000), ("dev", 400), ("test", 30)):
        slice_lines(folder / f"{split}.json", data / f"{split}.json", n)
    runs = {}
    for crf in (False, True):
        out = tmp / f"crf-{crf}"
        runs[crf] = out, finetune(FinetuneConfig(
            task="cluener", data=str(data), model="tiny", out=str(out), epochs=4, lr=2e-3,
            patience=4, batch_size=32, options={"crf": crf}))
    return data, runs


def test_tiny_model_beats_all_o_on_cluener_and_writes_the_submission(ner_runs, tmp_path):
    """The honest check: entity F1 above the all-O baseline's 0."""
    from zhnlp.finetuning.inference import predict

    data, runs = ner_runs
    out, results = runs[False]
    assert results["baseline"]["f1"] == 0.0
    assert results["max"] > 0.1
    assert not (out / "best" / "crf.json").exists()
    path = predict("cluener", str(data), str(out / "best"), str(tmp_path))
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert path.endswith("cluener_predict.json") and [r["id"] for r in rows] == list(range(30))
    texts = [json.loads(line)["text"] for line in open(data / "test.json", encoding="utf-8")]
    for row, text in zip(rows, texts):
        for kind, by_text in row["label"].items():
            assert kind in TYPES
            for word, spans in by_text.items():
                assert all(text[s:e + 1] == word for s, e in spans)


def test_crf_is_kept_with_the_checkpoint_and_beats_the_argmax(ner_runs):
    from zhnlp.finetuning.inference import evaluate

    data, runs = ner_runs
    out, results = runs[True]
    assert (out / "best" / "crf.json").exists()
    assert evaluate("cluener", str(data), str(out / "best"))["f1"] == \
        pytest.approx(results["max"])
    assert results["max"] > runs[False][1]["max"] + 0.03


def test_crf_likelihood_and_viterbi_match_brute_force():
    import itertools

    import torch

    from zhnlp.finetuning.crf import CRF

    torch.manual_seed(0)
    n = 3
    crf = CRF(n)
    for p in crf.parameters():
        p.data.normal_()
    emissions = torch.randn(2, 6, n)
    mask = torch.tensor([[0, 1, 1, 0, 1, 1], [1, 0, 1, 0, 0, 0]], dtype=torch.bool)
    tags = torch.randint(0, n, (2, 6))
    nlls, best = [], []
    for e, m, t in zip(emissions, mask, tags):
        pos = m.nonzero().flatten().tolist()

        def score(path, e=e, pos=pos):
            s = crf.start[path[0]] + e[pos[0], path[0]] + crf.end[path[-1]]
            for k in range(1, len(pos)):
                s = s + crf.transitions[path[k - 1], path[k]] + e[pos[k], path[k]]
            return s
        paths = list(itertools.product(range(n), repeat=len(pos)))
        scores = torch.stack([score(p) for p in paths])
        nlls.append(torch.logsumexp(scores, 0) - score([int(t[i]) for i in pos]))
        best.append(list(paths[int(scores.argmax())]))
    assert crf.nll(emissions, tags, mask).item() == pytest.approx(
        torch.stack(nlls).mean().item(), rel=1e-5)
    assert crf.viterbi(emissions, mask) == best


# ---------------------------------------------------------------- CMRC 2018

def test_cmrc_windows_and_decoding_recover_the_gold_answers(bert_tokenizer):
    folder = need(DATA / "cmrc2018")
    task = get_task("cmrc2018", doc_stride=32, max_answer_len=128)
    dev = task.load(str(folder), "dev", [])
    assert len(dev) == 3219
    dev = dev[:400]
    enc = task.encode(bert_tokenizer, dev, [], 128)
    assert len(enc) > 2 * len(dev)  # long contexts are cut into several windows
    starts = enc.targets["start_positions"].numpy()
    ends = enc.targets["end_positions"].numpy()
    outputs = {"start_logits": one_hot(starts, enc.inputs["input_ids"].shape[1]),
               "end_logits": one_hot(ends, enc.inputs["input_ids"].shape[1])}
    predicted = task.decode(outputs, enc, dev, [])
    # an answer longer than the stride guarantees may lie in no single window; those are
    # trained as "not here" everywhere, and a few of CMRC's answers are not in their context
    covered = np.zeros(len(dev), dtype=bool)
    covered[enc.example[starts > 0]] = True
    assert covered.mean() > 0.97
    scores = task.score([p for p, ok in zip(predicted, covered) if ok],
                        [e for e, ok in zip(dev, covered) if ok])
    assert scores["em"] == 1.0 and scores["f1"] == 1.0
    baseline = task.baseline(dev, dev)
    assert 0.05 < baseline["f1"] < 0.6 and baseline["em"] < 0.1


def test_best_span_respects_order_length_and_context():
    start = np.array([0.0, 9.0, 1.0, 0.0, 0.0])
    end = np.array([9.0, 0.0, 1.0, 0.0, 8.0])
    allowed = np.array([False, True, True, True, True])
    assert best_span(start, end, allowed, 10)[1:] == (1, 4)
    assert best_span(start, end, allowed, 2)[1:] == (1, 2)
    assert best_span(start, end, np.zeros(5, dtype=bool), 2)[0] == -np.inf


# ---------------------------------------------------------------- CHID

def test_joint_assignment_never_uses_an_idiom_twice():
    # both blanks prefer idiom 0; jointly, the second blank takes its runner-up
    scores = np.log(np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4]]))
    assert scores.argmax(1).tolist() == [0, 0]
    assert assign(scores).tolist() == [0, 2]


def test_chid_reads_both_layouts_and_writes_both_submissions(tmp_path):
    folder = need(DATA / "fewclue" / "chid")
    task = get_task("chid")
    few = task.load(str(folder), "dev", [])
    assert len(few) == 202 and all(len(e.candidates) == 7 for e in few)
    assert task.submission_name(str(folder)) == "chidf_predict.json"
    # CLUE 1.1's layout, built from two real FewCLUE passages: both blanks in one line,
    # sharing the union of their candidates, answers in train_answer.json
    lines = [json.loads(line) for line in open(folder / "dev_few_all.json", encoding="utf-8")]
    first, second = lines[0], lines[1]
    candidates = first["candidates"] + second["candidates"]
    content = [first["content"].replace("#idiom#", "#idiom000001#"),
               second["content"].replace("#idiom#", "#idiom000002#")]
    (tmp_path / "train.json").write_text(json.dumps(
        {"candidates": candidates, "content": content}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    answers = {"#idiom000001#": first["answer"], "#idiom000002#": 7 + second["answer"]}
    (tmp_path / "train_answer.json").write_text(json.dumps(answers), encoding="utf-8")
    blanks = task.load(str(tmp_path), "train", [])
    assert [(b.id, b.answer, b.group) for b in blanks] == [
        ("#idiom000001#", first["answer"], 1), ("#idiom000002#", 7 + second["answer"], 1)]
    assert "#idiom" not in blanks[0].left + blanks[0].right
    from io import StringIO

    out = StringIO()
    task.write([3, 9], blanks, out)
    assert json.loads(out.getvalue()) == {"#idiom000001#": 3, "#idiom000002#": 9}
    out = StringIO()
    task.write([5, 0], few[:2], out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"id": few[0].id, "answer": 5}, {"id": few[1].id, "answer": 0}]
    (tmp_path / "train_answer.json").unlink()
    with pytest.raises(InputError, match="needs its answers in"):
        task.load(str(tmp_path), "train", [])


# ---------------------------------------------------------------- C3

def test_c3_reads_both_halves_and_never_picks_a_padding_option(bert_tokenizer):
    folder = need(DATA / "c3")
    task = get_task("c3")
    dev = task.load(str(folder), "dev", [])
    counts = {len(e.options) for e in dev}
    assert counts == {2, 3, 4}
    n_dev = sum(len(item[1]) for half in "dm"
                for item in json.load(open(folder / f"c3-{half}-dev.json", encoding="utf-8")))
    assert len(dev) == n_dev
    few = [e for e in dev if len(e.options) < 4][:50]
    enc = task.encode(bert_tokenizer, few, [], 128)
    assert enc.inputs["input_ids"].shape[:2] == (50, 4)
    logits = np.zeros((50, 4))
    logits[:, 3] = 10.0  # the padding option "wins" on raw logits
    predicted = task.decode({"logits": logits}, enc, few, [])
    assert all(p < len(e.options) for p, e in zip(predicted, few))
    row = enc.inputs["input_ids"][0, 0].tolist()
    text = bert_tokenizer.decode(row, skip_special_tokens=True).replace(" ", "")
    assert text.endswith((few[0].question + few[0].options[0]).replace(" ", "").lower()[-8:])


def test_c3_reader_rejects_an_answer_outside_the_options(tmp_path):
    bad = [[["男：你好。"], [{"question": "他们在哪儿?", "choice": ["家", "店"],
                               "answer": "学校"}], "1-1"]]
    (tmp_path / "d-dev.json").write_text(json.dumps(bad, ensure_ascii=False, indent=1),
                                         encoding="utf-8")
    with pytest.raises(InputError, match=r"d-dev.json:\d+: answer '学校' is not one of the "
                                         r"options 家, 店"):
        get_task("c3").load(str(tmp_path), "dev", [])


# ---------------------------------------------------------------- end to end, the CLI

def test_every_reading_task_fine_tunes_predicts_and_zips(tmp_path):
    """cmrc2018, c3 and chid from the command line, tiny, one epoch on real slices; then
    one zip for the leaderboard."""
    root = tmp_path / "data"
    cmrc = json.load(open(need(DATA / "cmrc2018" / "cmrc2018_trial.json"), encoding="utf-8"))
    (root / "cmrc2018").mkdir(parents=True)
    for split, articles in (("train", cmrc["data"][:20]), ("dev", cmrc["data"][20:26]),
                            ("test", cmrc["data"][26:30])):
        (root / "cmrc2018" / f"{split}.json").write_text(
            json.dumps({"version": "v1.0", "data": articles}, ensure_ascii=False),
            encoding="utf-8")
    (root / "c3").mkdir()
    for half in "dm":
        items = json.load(open(need(DATA / "c3" / f"c3-{half}-train.json"), encoding="utf-8"))
        for split, part in (("train", items[:40]), ("dev", items[40:60])):
            (root / "c3" / f"{half}-{split}.json").write_text(
                json.dumps(part, ensure_ascii=False), encoding="utf-8")
    (root / "c3" / "test1.1.json").write_text(json.dumps(
        [[c, [dict(q, id=i) for i, q in enumerate(qs)], d] for c, qs, d in items[60:65]],
        ensure_ascii=False), encoding="utf-8")
    for split, n in (("train", 60), ("dev", 30), ("test", 20)):
        src = "test.json" if split == "test" else f"{split}_few_all.json"
        slice_lines(DATA / "fewclue" / "chid" / src, root / "chid" / src, n)
    for task in ("cmrc2018", "c3", "chid"):
        res = zhnlp("finetune", "--task", task, "--data", str(root / task), "--model", "tiny",
                    "--out", str(tmp_path / "runs" / task), "--epochs", "1", "--max-len", "96",
                    text=True)
        assert res.returncode == 0, res.stderr
        assert "examples/s" in res.stderr
        res = zhnlp("evaluate", "--task", task, "--data", str(root / task), "--model",
                    str(tmp_path / "runs" / task / "best"), "--json", text=True)
        assert res.returncode == 0, res.stderr
        assert get_task(task).metric in json.loads(res.stdout)
    res = zhnlp("predict", "--all-tasks", "--data", str(root), "--model",
                str(tmp_path / "runs"), "-o", str(tmp_path / "submit.zip"), text=True)
    assert res.returncode == 0, res.stderr
    with zipfile.ZipFile(tmp_path / "submit.zip") as archive:
        names = sorted(archive.namelist())
        assert names == ["c311_predict.json", "chidf_predict.json", "cmrc2018_predict.json"]
        cmrc_pred = json.loads(archive.read("cmrc2018_predict.json"))
        c3_pred = [json.loads(line) for line in archive.read("c311_predict.json").splitlines()]
        chid_pred = [json.loads(line) for line in archive.read("chidf_predict.json").splitlines()]
    contexts = {q["id"]: p["context"] for a in cmrc["data"][26:30] for p in a["paragraphs"]
                for q in p["qas"]}
    assert set(cmrc_pred) == set(contexts)
    assert all(answer in contexts[qid] for qid, answer in cmrc_pred.items())
    assert [r["id"] for r in c3_pred] == [i for _, qs, _ in items[60:65] for i in range(len(qs))]
    assert len(chid_pred) == 20 and all(0 <= r["answer"] < 7 for r in chid_pred)


def test_cmrc_and_chid_readers_name_file_and_line(tmp_path):
    trial = json.load(open(need(DATA / "cmrc2018" / "cmrc2018_trial.json"), encoding="utf-8"))
    doc = {"version": "v1.0", "data": trial["data"][:2]}
    qa = doc["data"][1]["paragraphs"][0]["qas"][0]
    del qa["answers"][0]["answer_start"]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if f'"{qa["id"]}"' in text)
    with pytest.raises(InputError, match=rf"dev.json:{line}: {qa['id']}: answers must be"):
        get_task("cmrc2018").load(str(tmp_path), "dev", [])
    text = json.dumps(doc, ensure_ascii=False, indent=2).splitlines()
    text[3] += ","  # a stray comma on line 4
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(InputError, match=r"dev.json:4: not valid JSON"):
        get_task("cmrc2018").load(str(tmp_path), "dev", [])
    first = json.loads(open(need(DATA / "fewclue" / "chid" / "dev_few_all.json"),
                            encoding="utf-8").readline())
    path.write_text(json.dumps(first, ensure_ascii=False) + "\n"
                    + json.dumps(dict(first, answer=7), ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"dev.json:2: answer 7 is not an index of the 7 "
                                         r"candidates"):
        get_task("chid").load(str(tmp_path), "dev", [])
