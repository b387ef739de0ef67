"""The rule files and the rules built on the base lexicon."""

from __future__ import annotations

import pytest

from zhnlp.discovery.base import load_base
from zhnlp.discovery.normalize import encode
from zhnlp.discovery.rules import (
    Rules,
    compound_cuts,
    counted_forms,
    edge_inside,
    trailing_number,
)
from zhnlp.errors import InputError


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


@pytest.fixture(scope="module")
def pku(pku_words):
    return load_base(str(pku_words))


@pytest.mark.parametrize("word,reason", [
    ("2000年", "date"), ("12月31日", "date"), ("三千", "numeral"), ("第十二", "ordinal"),
    ("五个", "quantity"), ("万元", "quantity"), ("百分之", "percent"), ("10点", "time"),
    ("月1日电", "date_fragment"), ("职务的军官", "phrase"),
    # approximate numbers, counted years, classifiers and lone numerals at the edge: the
    # wrong "new words" of PKU's test text
    ("多万", "numeral"), ("近百", "numeral"), ("三十来", "numeral"), ("近几年", "date"),
    ("年来", "date"), ("一轮", "quantity"), ("两级", "quantity"), ("近百名", "quantity"),
    ("首批", "ordinal"), ("帮一", "numeral_edge"), ("像一", "numeral_edge"),
    # the phrases of news text that the compounds of CLUENER's text held
    ("日下午", "time"), ("月中旬", "date_fragment"), ("年以来", "date_fragment"),
    ("昨日下午", "time"), ("数据显示", "report"), ("知情人士透露", "report"),
    ("记者李", "report"), ("可能会", "modal"), ("正在开发", "modal"), ("等公", "stop_char"),
    ("1平", "record"), ("两胜", "record"), ("三连败", "record"), ("三个月", "quantity"),
    ("一个星期", "quantity"), ("3款", "quantity"), ("第三条", "ordinal"),
    # a number at an edge: leading, of three digits or more, or with its point or sign
    ("2队员", "number_edge"), ("中国2008", "number_edge"), ("平均赔率1.85", "number_edge"),
    ("上浮10%", "percent"), ("阴8°C", "percent"),
])
def test_patterns_reject_what_is_not_a_word(rules, word, reason):
    assert rules.reject_reason(word, lambda w: False) == reason


def test_stop_characters_only_when_the_lexicon_does_not_know_the_word(rules):
    assert rules.reject_reason("提出了", lambda w: False) == "stop_char"
    assert rules.reject_reason("的确", lambda w: w == "的确") is None
    assert rules.reject_reason("罢免", lambda w: False) is None


def test_words_that_look_like_the_new_patterns_stay(rules):
    for word in ("多云转晴", "多少钱", "首长", "统一", "唯一", "划一", "来年", "年轻", "日上三竿",
                 "逍遥传说", "记者节"):
        assert rules.reject_reason(word, lambda w: False) is None, word


def test_affixes(rules, pku):
    assert rules.reject_reason("学生们", pku.__contains__) == "affix"
    assert rules.reject_reason("老朋友", {"朋友"}.__contains__) == "affix"
    assert rules.reject_reason("朋友们", {"朋友"}.__contains__) == "affix"
    for phrase in ("送到", "拿出", "办好", "办成"):  # a verb and its complement
        assert rules.reject_reason(phrase, {phrase[0]}.__contains__) == "affix"


def test_urls_and_emails_are_cut_before_counting(rules):
    units, runs = encode("请访问http://www.example.com/a?b=1或写信给someone@example.org谢谢",
                         rules.cut)
    assert "example" not in runs and "someone" not in runs and "http" not in runs
    assert units.tolist().count(0) >= 3


def test_compounds_of_known_words(pku):
    assert compound_cuts("退出现役", pku.segment, pku.__contains__) == [2]
    assert compound_cuts("中国人民银行", pku.segment, pku.__contains__) == [2, 4]
    assert compound_cuts("罢免", pku.segment, pku.__contains__) is None
    assert compound_cuts("拉姆斯菲尔德", pku.segment, pku.__contains__) is None


def test_edges_inside_base_tokens(pku):
    # 南省 inside 湖南省 / 海南省: the segmenter keeps the province whole
    context = "原海南省东方市市委书记"
    assert edge_inside(context, 2, 4, pku.segment)
    assert not edge_inside(context, 1, 4, pku.segment)


def test_an_amount_is_one_token_when_edges_are_checked(rules):
    import json

    from conftest import DATA, need

    jieba = load_base("jieba")
    # a line of CLUENER's training text: jieba cuts every numeral from its unit
    line = json.loads(need(DATA / "cluener" / "train.json").read_text(
        encoding="utf-8").splitlines()[1813])["text"]
    assert line.startswith("卡尔斯1平8负，状态都很差；黑马赫尔城已经6轮不胜")
    tokens = jieba.segment(line)
    assert ["6", "轮", "不胜"] == tokens[tokens.index("6"):tokens.index("6") + 3]
    joined = rules.join_amounts(tokens)
    assert "".join(joined) == line and {"1平", "8负", "6轮", "3连平"} <= set(joined)
    start = line.index("轮不胜")  # a fragment of 6轮|不胜, not a word
    assert not edge_inside(line, start, start + 3, jieba.segment)
    assert edge_inside(line, start, start + 3,
                       lambda text: rules.join_amounts(jieba.segment(text)))
    # the longest amount, over up to four tokens
    assert rules.join_amounts(["建筑面积", "5", "万", "平方", "米"]) == ["建筑面积", "5万平方米"]
    assert rules.join_amounts(["2010", "年", "下半年"]) == ["2010年", "下半年"]
    assert rules.join_amounts(["第三", "条", "军官"]) == ["第三条", "军官"]


def test_a_count_opens_with_an_amount_and_has_sibling_forms(rules):
    jieba = load_base("jieba")
    assert rules.opens_with_amount(jieba.segment("两场比赛"))
    assert rules.opens_with_amount(jieba.segment("多家银行"))
    assert not rules.opens_with_amount(jieba.segment("三亚辰龙"))  # 三亚, a place
    assert not rules.opens_with_amount(["3次"])  # an amount alone is no count of anything
    forms = counted_forms("两场比赛")
    assert {"一场比赛", "这场比赛", "每场比赛"} <= set(forms) and "两场比赛" not in forms
    assert {len(f) for f in forms} == {4}
    assert counted_forms("比赛两场") == []
    assert counted_forms("第二人生") == []  # an ordinal has no such siblings: a title


def test_one_or_two_digits_after_a_name_are_left_to_the_miner(rules):
    """星际争霸2 and 沙尔克04 pass the rules (NewWordMiner's `numbered` step weighs them);
    longer numbers, decimals and Latin runs are not such an ending."""
    for word, split in [("星际争霸2", ("星际争霸", "2")), ("沙尔克04", ("沙尔克", "04"))]:
        assert rules.reject_reason(word, lambda w: False) is None
        assert trailing_number(word) == split
    for word in ("中国2008", "赔率1.85", "骁龙865", "MP3", "星际争霸", "2"):
        assert trailing_number(word) is None


def test_bad_rule_files_name_the_file_and_line(tmp_path):
    for name in ("stop_chars.txt", "affixes.txt"):
        (tmp_path / name).write_text("# empty\n", encoding="utf-8")
    (tmp_path / "patterns.txt").write_text("# c\nnum\tword\t^[0-9]+$\nbad\tword\t([\n",
                                           encoding="utf-8")
    with pytest.raises(InputError, match=r"patterns.txt:3: bad regex"):
        Rules.load(str(tmp_path))
    # a word pattern's fourth field is "amount" or nothing (hints are for cut patterns)
    (tmp_path / "patterns.txt").write_text("num\tword\t^[0-9]+$\tamount\nx\tword\t^x$\tamout\n",
                                           encoding="utf-8")
    with pytest.raises(InputError, match=r"patterns.txt:2: expected"):
        Rules.load(str(tmp_path))
