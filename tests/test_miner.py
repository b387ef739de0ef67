"""The miner on the SIGHAN 2005 PKU test set, with the PKU training words as base lexicon."""

from __future__ import annotations

import numpy as np
import pytest

from zhnlp.discovery import NewWordMiner, NgramCounts
from zhnlp.discovery.ngrams import count_corpus, encode_corpus
from zhnlp.discovery.rules import Rules


@pytest.fixture(scope="module")
def mined(pku_lines, pku_words):
    return NewWordMiner(base=str(pku_words)).fit(pku_lines)


def test_new_words_are_new_and_ranked(mined, pku_words):
    known = {line.split()[0] for line in pku_words.read_text(encoding="utf-8").splitlines()
             if line.strip()}
    words = [w.word for w in mined.words_]
    assert len(words) > 50
    assert not set(words) & known
    scores = [w.score for w in mined.words_]
    assert scores == sorted(scores, reverse=True)
    assert {"罢免", "拉姆斯菲尔德"} <= set(words[:50])


def test_top_words_are_mostly_gold_words_or_names(mined, pku_gold):
    # PKU's gold standard splits names and compounds, so a half is a good score here;
    # the statistics alone, without rules, stay far below it.
    top = [w.word for w in mined.words_ if w.kind == "word"][:100]
    precision = sum(w in pku_gold for w in top) / len(top)
    assert precision >= 0.4


def test_rules_remove_numbers_dates_and_fragments(mined, pku_lines, pku_words, pku_gold):
    words = {w.word for w in mined.words_}
    assert not any(w[0].isdigit() or w.endswith("年") and w[:-1].isdigit() for w in words)
    assert "拉姆斯菲尔" not in words  # dominated by 拉姆斯菲尔德
    plain = NewWordMiner(base=str(pku_words), use_rules=False).fit(pku_lines)
    top = [w.word for w in plain.words_[:100]]
    assert sum(w in pku_gold for w in top) / len(top) < 0.25
    assert mined.rejected_["date"] > 20 and mined.rejected_["fragment"] > 10


def test_deterministic_and_workers_agree(pku_lines, pku_words, mined):
    again = NewWordMiner(base=str(pku_words), workers=2, shard_size=20000).fit(pku_lines)
    assert [w.word for w in again.words_] == [w.word for w in mined.words_]
    assert [w.score for w in again.words_] == pytest.approx([w.score for w in mined.words_])


def test_mining_from_merged_counts_equals_one_pass(pku_lines, pku_words, tmp_path):
    half = len(pku_lines) // 2
    paths = []
    cut = Rules.load().cut  # as the miner cuts its own text (PKU's URLs and e-mail addresses)
    for i, part in enumerate((pku_lines[:half], pku_lines[half:])):
        c = count_corpus(encode_corpus(["\n".join(part) + "\n"], str(tmp_path / f"{i}.i32"),
                                       cut=cut), 7, 1, str(tmp_path))
        c.save(str(tmp_path / f"{i}.npz"))
        paths.append(str(tmp_path / f"{i}.npz"))
    # the text's occurrences need the text itself; a line repeated across the halves would
    # be counted once by the whole and once per half (the parts were counted with repeats)
    params = dict(base=str(pku_words), fragment_share=1.0, keep_duplicates=True)
    merged = NewWordMiner(**params).fit(counts=[NgramCounts.load(p) for p in paths])
    whole = NewWordMiner(**params).fit(pku_lines)
    assert [(w.word, w.count) for w in merged.words_] == [(w.word, w.count) for w in whole.words_]
    incremental = NewWordMiner(**params).fit(pku_lines[half:], counts=[NgramCounts.load(paths[0])])
    assert [w.word for w in incremental.words_] == [w.word for w in whole.words_]


def test_all_words_includes_known_ones(pku_lines, pku_words):
    m = NewWordMiner(base=str(pku_words), all_words=True).fit(pku_lines[:800])
    assert any(w.known for w in m.words_) and any(not w.known for w in m.words_)


def test_classifier_scorer_ranks_with_probabilities(pku_lines, pku_words):
    m = NewWordMiner(base=str(pku_words), scorer="classifier").fit(pku_lines)
    assert m.words_ and all(0.0 <= w.score <= 1.0 for w in m.words_)
    # what it learned tells the base lexicon's words from the other candidates (random
    # scores would not: AUC 0.5)
    from sklearn.metrics import roc_auc_score

    every = NewWordMiner(base=str(pku_words), scorer="classifier", all_words=True).fit(pku_lines)
    known = np.array([w.known for w in every.words_])
    assert roc_auc_score(known, [w.score for w in every.words_]) > 0.8
    formula = NewWordMiner(base=str(pku_words)).fit(pku_lines)
    assert {w.word for w in m.words_} == {w.word for w in formula.words_}


def test_every_candidate_is_accounted_for_by_one_named_step(mined):
    steps = list(mined.rejected_)
    assert steps[:3] == ["threshold", "dominated", "known"] and steps[-1] == "fragment"
    assert {"stop_char", "date", "collocation"} <= set(steps)
    assert sum(mined.rejected_.values()) + len(mined.words_) == mined.candidates_.considered


def test_a_repeated_line_counts_once_unless_kept(pku_lines, pku_words):
    once = NewWordMiner(base=str(pku_words), min_count=3).fit(pku_lines)
    twice = NewWordMiner(base=str(pku_words), min_count=3).fit(pku_lines + pku_lines)
    nonblank = sum(1 for line in pku_lines if line.strip())
    distinct = len({line.strip() for line in pku_lines if line.strip()})
    assert twice.lines_ == 2 * nonblank and twice.duplicates_ == 2 * nonblank - distinct
    assert [(w.word, w.count) for w in twice.words_] == [(w.word, w.count) for w in once.words_]
    kept = NewWordMiner(base=str(pku_words), min_count=3, keep_duplicates=True).fit(
        pku_lines + pku_lines)
    alone = NewWordMiner(base=str(pku_words), min_count=3, keep_duplicates=True).fit(pku_lines)
    assert kept.duplicates_ == 0 and kept.counts_.total == 2 * alone.counts_.total
    counts = {w.word: w.count for w in kept.words_}
    assert all(counts[w.word] == 2 * w.count for w in alone.words_ if w.word in counts)
    # the doubled text lifts more of a count's siblings over min_count (几千年 beside 三千年,
    # 数千年): the count rule, and only it, may drop a few more
    missing = [w for w in alone.words_ if w.word not in counts]
    assert len(missing) <= kept.rejected_["count"] - alone.rejected_["count"] <= 5


def test_min_count_defaults_from_the_corpus_size_and_means_what_it_says(mined, pku_lines,
                                                                        pku_words):
    from zhnlp.discovery.stats import default_min_count

    assert [default_min_count(n) for n in (5_000, 100_000, 2_500_000, 300_000_000)] == \
        [3, 3, 5, 9]
    assert mined.min_count_ == default_min_count(mined.counts_.total) == 3  # 150k units
    by_count = {}
    for k in (2, 3, 5):
        m = NewWordMiner(base=str(pku_words), min_count=k).fit(pku_lines)
        assert m.min_count_ == k and min(w.count for w in m.words_) == k
        by_count[k] = m.words_
    assert len(by_count[2]) > len(by_count[3]) > len(by_count[5])
    # at the default the PKU test text gives a list of a hundred words and more, most of them
    # words of its gold segmentation
    assert len(mined.words_) >= 100


def test_latin_case_folds_into_one_unit_shown_in_its_commonest_form(tmp_path):
    import json
    import re
    import unicodedata
    from collections import Counter

    from conftest import DATA, need

    from zhnlp.discovery.ngrams import merge
    from zhnlp.discovery.normalize import RUN_BASE
    from zhnlp.errors import ZhnlpError

    path = need(DATA / "cluener" / "train.json")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    runs = Counter(m.group(0) for t in texts
                   for m in re.finditer(r"[A-Za-z0-9]+", unicodedata.normalize("NFKC", t)))
    dota = {form: k for form, k in runs.items() if form.lower() == "dota"}
    assert len(dota) >= 4  # DOTA, DotA, dota, Dota: CLUENER's game news writes it every way
    params = dict(base="none", use_rules=False, min_count=5, keep_duplicates=True)
    folded = NewWordMiner(**params).fit(texts)
    at = folded.counts_.runs.index("dota")
    assert folded.counts_.count_of(np.array([[RUN_BASE + at]]))[0] == sum(dota.values())
    assert folded.counts_.shown[at] == max(dota, key=dota.get) == "DOTA"
    shown = [w.word for w in folded.words_]
    assert len({w.lower() for w in shown}) == len(shown)  # no two words differ in case only
    kept = NewWordMiner(**params, keep_case=True).fit(texts)
    for form, k in dota.items():
        unit = RUN_BASE + kept.counts_.runs.index(form)
        assert kept.counts_.count_of(np.array([[unit]]))[0] == k
    folded.counts_.save(str(tmp_path / "f.npz"))
    again = NgramCounts.load(str(tmp_path / "f.npz"))
    assert again.folded and again.shown == folded.counts_.shown
    with pytest.raises(ZhnlpError, match="--keep-case"):
        merge([again, kept.counts_])


def test_traditional_text_mines_against_a_simplified_base(pku_lines, pku_words):
    import opencc

    from zhnlp.discovery.base import load_base

    to_trad, to_simp = opencc.OpenCC("s2t").convert, opencc.OpenCC("t2s").convert
    trad = [to_trad(line) for line in pku_lines]
    params = dict(base=str(pku_words), min_count=3)
    simplified = {w.word for w in NewWordMiner(**params).fit(pku_lines).words_}
    found = NewWordMiner(**params).fit(trad).words_
    back = {to_simp(w.word) for w in found}
    assert any(w.word != to_simp(w.word) for w in found)  # shown as the text writes them
    assert len(back & simplified) >= 0.9 * max(len(back), len(simplified))
    # looked up as they are, the known words in traditional form all come out as "new"
    as_is = {w.word for w in NewWordMiner(**params, base_script="as-is").fit(trad).words_}
    assert len(as_is) > 2 * len(found) and to_trad("中国") not in {w.word for w in found}
    base = load_base(str(pku_words))
    line = trad[3].replace(" ", "")
    pieces = base.segment(line)
    assert "".join(pieces) == line and len(pieces) == len(load_base(str(pku_words)).segment(
        pku_lines[3].replace(" ", "")))


def test_a_new_word_beside_a_known_one_is_a_phrase_unless_bound(pku_lines, pku_words):
    m = NewWordMiner(base=str(pku_words), min_count=3).fit(pku_lines)
    words = {w.word for w in m.words_}
    # 申奥 (the Olympic bid) is new to the base; 助申奥 "help the bid" is 助 + 申奥
    assert "申奥" in words and "助申奥" not in words and "李鹏等" not in words
    assert m.rejected_["nested"] >= 3
    # names whose new part is seldom seen alone stay whole
    assert {"拉姆斯菲尔德", "伊斯梅利亚"} <= words


def test_the_word_model_drops_a_fragment_and_spares_a_word_the_rules_freed(mined, pku_lines,
                                                                       pku_words):
    words = {w.word for w in mined.words_}
    m = NewWordMiner(base=str(pku_words), word_model=True).fit(pku_lines)
    modelled = {w.word for w in m.words_}
    # 伊斯 is only ever the start of 伊斯梅利亚 or 伊斯塔帕 (names the model holds): the
    # rules keep it, the model takes its uses away
    assert "伊斯" in words and "伊斯" not in modelled
    # 申奥 keeps its uses: 助申奥, a phrase the rules rejected, does not compete for them
    assert "申奥" in words and "申奥" in modelled
    assert m.rejected_["word_model"] >= 1 and modelled < words


def test_terms_are_kept_and_free_collocations_dropped(mined, pku_lines, pku_words):
    kind = {w.word: w.kind for w in mined.words_}
    # phrases of PKU's words whose parts keep each other's company: terms
    assert kind["检察机关"] == kind["信息技术"] == kind["退出现役"] == "term"
    assert kind["罢免"] == "word"
    # phrases of free parts (一个 + 新, 继续 + 坚持): collocations, back with keep_compounds
    loose = {"一个新", "成为世界", "占全国", "继续坚持", "一些国家"}
    assert not loose & set(kind) and mined.rejected_["collocation"] > 50
    every = NewWordMiner(base=str(pku_words), keep_compounds=True).fit(pku_lines)
    assert loose <= {w.word for w in every.words_}
    # the share decides: none of them at 0, almost none of the terms near 1
    strict = NewWordMiner(base=str(pku_words), term_share=0.5).fit(pku_lines)
    assert sum(w.kind == "term" for w in strict.words_) < 0.5 * list(kind.values()).count("term")
    assert [w.word for w in strict.words_ if w.kind == "word"] == [
        w for w, k in kind.items() if k == "word"]


def test_each_result_says_whether_it_is_a_word_a_term_or_known(pku_lines, pku_words, tmp_path):
    from zhnlp.discovery import write_words
    from zhnlp.segment import read_lexicon

    m = NewWordMiner(base=str(pku_words), min_count=3, keep_compounds=True).fit(pku_lines)
    kind = {w.word: w.kind for w in m.words_}
    assert kind["罢免"] == kind["拉姆斯菲尔德"] == "word"
    assert kind["检察机关"] == kind["信息技术"] == "term"  # 检察 + 机关, 信息 + 技术
    assert 0.3 < sum(k == "term" for k in kind.values()) / len(kind) < 0.95
    every = NewWordMiner(base=str(pku_words), min_count=3, all_words=True).fit(pku_lines[:800])
    assert all((w.kind == "known") == w.known for w in every.words_)
    for fmt, want in (("tsv", {"word", "term"}), ("jieba", {"word"}), ("pkuseg", {"word"})):
        path = tmp_path / f"lex.{fmt}"
        with open(path, "w", encoding="utf-8") as handle:
            write_words(m.words_, handle, fmt, corpus_units=m.counts_.total)
        assert {kind[w] for w in read_lexicon(str(path))} == want, fmt
    with open(tmp_path / "all.jieba", "w", encoding="utf-8") as handle:
        write_words(m.words_, handle, "jieba", kinds=("word", "term"))
    assert "检察机关" in read_lexicon(str(tmp_path / "all.jieba"))


@pytest.fixture(scope="module")
def cluener_mined():
    """CLUENER's training text (game and football news) mined at the defaults, and with the
    amount marks taken out of the rules."""
    import dataclasses
    import json

    from conftest import DATA, need

    from zhnlp.discovery.rules import Rules

    path = need(DATA / "cluener" / "train.json")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    return (NewWordMiner().fit(texts),
            NewWordMiner(rules=dataclasses.replace(Rules.load(), amounts=())).fit(texts))


def test_a_fragment_of_an_amount_is_not_a_word(cluener_mined):
    """CLUENER's 3次交手, 6轮不胜, 1平8负, 12日在北京: jieba cuts the numeral from its unit, so
    only the amount rules tell that 次交手 starts inside 3次."""
    amounts, plain = cluener_mined
    pieces = {"次交手", "轮不胜", "日在北京", "年下半年", "点左右", "万平米", "负处于劣势"}
    found = {w.word for w in amounts.words_}
    assert pieces <= {w.word for w in plain.words_} and not pieces & found
    assert amounts.rejected_["fragment"] > plain.rejected_["fragment"] + 30
    # the names and terms of the same text stay
    assert {"王者荣耀", "魔兽世界", "英雄联盟", "拜仁"} <= found


def test_a_count_of_a_free_noun_is_not_a_term(cluener_mined):
    """两场比赛 beside 一场比赛, 三场比赛, 这场比赛 in the same text is a count of a noun; 九仙桥
    (a bridge) and 二套房贷 (a loan for a second home) open with a numeral too, but no other
    numeral takes its place."""
    amounts, plain = cluener_mined
    counts = {"两场比赛", "两支球队", "多家银行"}
    found = {w.word for w in amounts.words_}
    assert counts <= {w.word for w in plain.words_} and not counts & found
    assert {"九仙桥", "二套房贷"} <= found
    assert amounts.rejected_["count"] >= 8 and plain.rejected_["count"] == 0


def test_a_name_that_a_number_ends_is_a_word_a_slot_for_a_number_is_not(cluener_mined):
    """CLUENER's game titles with their sequel numbers (星际争霸2, 85 times, 60% of
    星际争霸's) and a club (沙尔克04) are words; a number after a free word (只有1: 7% of
    只有; 单3) and the digits of a decimal (平均赔率1 of 平均赔率1.85) are not."""
    found = {w.word for w in cluener_mined[0].words_}
    assert {"星际争霸2", "魔兽争霸3", "沙尔克04", "暗黑破坏神3", "刺客信条2"} <= found
    assert not {"只有1", "单3", "平均赔率1", "开出1", "主场0"} & found
    assert cluener_mined[0].rejected_["numbered"] >= 5
