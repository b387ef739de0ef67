"""CMRC 2018 and CLUENER scorers against hand-computed cases from the real dev files."""

from __future__ import annotations

import json

import pytest
from conftest import DATA, need

from zhnlp.finetuning.scoring import cmrc_em, cmrc_f1, cmrc_segments, entities, entity_scores


@pytest.fixture(scope="module")
def cmrc() -> dict[str, list[str]]:
    data = json.loads(need(DATA / "cmrc2018" / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    return {q["id"]: [a["text"] for a in q["answers"]]
            for art in data["data"] for p in art["paragraphs"] for q in p["qas"]}


def test_cmrc_partial_matches_score_by_characters(cmrc):
    answers = cmrc["DEV_0_QUERY_0"]  # 光荣和ω-force
    assert cmrc_segments(answers[0]) == ["光", "荣", "和", "ωforce"]
    assert cmrc_em(answers[0] + "。", answers) == 1.0  # punctuation does not count
    assert cmrc_f1(answers[0], answers) == 1.0
    # 光荣 shares 2 of the answer's 4 segments: P = 2/2, R = 2/4, F1 = 2/3
    assert cmrc_em("光荣", answers) == 0.0
    assert cmrc_f1("光荣", answers) == pytest.approx(2 / 3)
    # whitespace tokens (the English scorer's view) would share nothing here
    assert not set("光荣".split()) & set(answers[0].split())


def test_cmrc_takes_the_best_gold_answer(cmrc):
    answers = cmrc["DEV_0_QUERY_1"]  # 村雨城, 村雨城, 任天堂游戏谜之村雨城
    # against 村雨城: LCS 3 of 3 predicted, 3 of 3 gold -> 1; against the long one lower
    assert cmrc_f1("村雨城", answers) == 1.0
    # 谜之村雨城 (5): vs 村雨城 P 3/5 R 1 -> 0.75; vs the long one (10) P 1, R 5/10 -> 2/3
    assert cmrc_f1("谜之村雨城", answers) == pytest.approx(0.75)
    assert cmrc_em("谜之村雨城", answers) == 0.0
    answers = cmrc["DEV_11_QUERY_1"]  # 因身体原因, 因身体原因, 身体原因
    assert cmrc_em("身体原因", answers) == 1.0
    # 原因: vs 身体原因 P 1, R 2/4 -> 2/3; vs 因身体原因 P 1, R 2/5 -> 4/7
    assert cmrc_f1("原因", answers) == pytest.approx(2 / 3)
    assert cmrc_f1("", answers) == 0.0


def test_cluener_entity_scores_on_a_real_line():
    line = need(DATA / "cluener" / "dev.json").read_text(encoding="utf-8").splitlines()[18]
    gold = entities(json.loads(line)["label"])
    assert len(gold) == 6 and ("organization", 0, 6) in gold
    predicted = set(gold)
    predicted.remove(("organization", 29, 33))  # missed 梅塔利斯特
    predicted.remove(("organization", 13, 14))
    predicted.add(("name", 13, 14))  # 拉科 typed as a name
    predicted.add(("organization", 0, 5))  # a wrong boundary
    scores = entity_scores([gold], [predicted])
    # organization: 4 right of 5 predicted, of 6 gold
    org = scores["organization"]
    assert (org["precision"], org["recall"]) == (pytest.approx(4 / 5), pytest.approx(4 / 6))
    assert org["f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    assert scores["name"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 0,
                              "predicted": 1}
    overall = scores["overall"]  # 4 right of 6 predicted, of 6 gold
    assert overall["precision"] == pytest.approx(4 / 6) and overall["recall"] == \
        pytest.approx(4 / 6)


def test_cluener_same_span_under_two_types_counts_per_type():
    gold = [{("book", 0, 3), ("movie", 0, 3)}]
    scores = entity_scores(gold, [{("book", 0, 3)}])
    assert scores["book"]["f1"] == 1.0 and scores["movie"]["recall"] == 0.0
    assert scores["overall"]["precision"] == 1.0 and scores["overall"]["recall"] == 0.5
