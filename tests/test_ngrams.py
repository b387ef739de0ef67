"""The n-gram counter against a plain Python count of the same real text."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from zhnlp.discovery.ngrams import NgramCounts, count_corpus, encode_corpus, merge


def segments(units: np.ndarray) -> list[list[int]]:
    out, cur = [], []
    for u in units.tolist():
        if u == 0:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(u)
    return out


def brute(segs: list[list[int]], max_n: int) -> Counter:
    cnt: Counter = Counter()
    for s in segs:
        for n in range(1, max_n + 1):
            for i in range(len(s) - n + 1):
                cnt[tuple(s[i:i + n])] += 1
    return cnt


@pytest.fixture(scope="module")
def excerpt(pku_lines) -> str:
    return "\n".join(pku_lines[:250]) + "\n"


@pytest.fixture(scope="module")
def corpus(excerpt, tmp_path_factory):
    d = tmp_path_factory.mktemp("units")
    half = len(excerpt) // 2
    return encode_corpus([excerpt[:half], excerpt[half:]], str(d / "u.i32")), d


def test_counts_and_neighbours_match_a_plain_count(corpus):
    unit_file, d = corpus
    counts = count_corpus(unit_file, 4, 3, str(d), shard_size=997)
    segs = segments(np.fromfile(unit_file.path, dtype=np.int32))
    cnt = brute(segs, 4)
    assert counts.total == sum(len(s) for s in segs)
    for n in range(1, 5):
        want = {g: k for g, k in cnt.items() if len(g) == n and k >= 3}
        got = {tuple(r): k for r, k in zip(counts.grams(n).tolist(), counts.counts[n - 1].tolist())}
        assert got == want
    rng = np.random.default_rng(0)
    for n in range(1, 4):
        grams = counts.grams(n)
        for row in rng.choice(len(grams), 25, replace=False).tolist():
            g = tuple(grams[row].tolist())
            right, left = Counter(), Counter()
            for s in segs:
                for i in range(len(s) - n + 1):
                    if tuple(s[i:i + n]) == g:
                        if i + n < len(s):
                            right[s[i + n]] += 1
                        if i > 0:
                            left[s[i - 1]] += 1
            assert counts.right_total[n - 1][row] == sum(right.values())
            assert counts.left_total[n - 1][row] == sum(left.values())
            assert counts.right_nlogn[n - 1][row] == pytest.approx(
                sum(k * math.log(k) for k in right.values()))
            assert counts.left_nlogn[n - 1][row] == pytest.approx(
                sum(k * math.log(k) for k in left.values()))


def test_workers_and_shards_give_the_same_counts(corpus):
    unit_file, d = corpus
    (d / "a").mkdir()
    (d / "b").mkdir()
    one = count_corpus(unit_file, 4, 2, str(d / "a"), shard_size=1 << 20)
    two = count_corpus(unit_file, 4, 2, str(d / "b"), workers=2, shard_size=1000)
    for n in range(1, 5):
        assert np.array_equal(one.keys[n - 1], two.keys[n - 1])
        assert np.array_equal(one.counts[n - 1], two.counts[n - 1])
    for n in range(1, 4):
        assert np.allclose(one.left_nlogn[n - 1], two.left_nlogn[n - 1])


def test_complete_tables_give_the_same_neighbour_sums_and_prune_exactly(corpus):
    unit_file, d = corpus
    full = count_corpus(unit_file, 4, 1, str(d))
    again = NgramCounts(full.runs, full.total, 1, full.keys, full.counts).with_neighbour_sums()
    direct = count_corpus(unit_file, 4, 3, str(d))
    pruned = full.pruned(3)
    for n in range(1, 4):
        assert np.array_equal(again.right_total[n - 1], full.right_total[n - 1])
        assert np.allclose(again.left_nlogn[n - 1], full.left_nlogn[n - 1])
        assert np.allclose(pruned.right_nlogn[n - 1], direct.right_nlogn[n - 1])
    for n in range(1, 5):
        assert np.array_equal(pruned.keys[n - 1], direct.keys[n - 1])


def test_saved_shards_merge_to_the_counts_of_one_pass(pku_lines, tmp_path):
    first, second = "\n".join(pku_lines[:120]) + "\n", "\n".join(pku_lines[120:240]) + "\n"
    parts = []
    for i, text in enumerate((first, second)):
        c = count_corpus(encode_corpus([text], str(tmp_path / f"{i}.i32")), 5, 1, str(tmp_path))
        c.save(str(tmp_path / f"{i}.npz"))
        parts.append(NgramCounts.load(str(tmp_path / f"{i}.npz")))
    merged = merge(parts).pruned(3)
    whole = count_corpus(encode_corpus([first + second], str(tmp_path / "w.i32")), 5, 3,
                         str(tmp_path))
    assert merged.total == whole.total
    for n in range(1, 6):
        assert dict(zip(merged.strings(n), merged.counts[n - 1].tolist())) == \
            dict(zip(whole.strings(n), whole.counts[n - 1].tolist()))
    a = dict(zip(merged.strings(2), merged.left_nlogn[1].tolist()))
    b = dict(zip(whole.strings(2), whole.left_nlogn[1].tolist()))
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k]) for k in a)


def test_latin_and_digit_runs_are_single_units(pku_lines, tmp_path):
    text = "我用ＸＰ系统看K线图，2018年的MP3。\n" + "\n".join(pku_lines[:5])
    uf = encode_corpus([text], str(tmp_path / "u.i32"))
    assert uf.runs[:4] == ["xp", "k", "2018", "mp3"]  # folded keys
    assert uf.shown[:4] == ["XP", "K", "2018", "MP3"]  # as the text writes them
    counts = count_corpus(uf, 3, 1, str(tmp_path))
    strings = set(counts.strings(2)) | set(counts.strings(3))
    assert {"用XP", "XP系", "K线", "K线图", "2018年"} <= strings
    assert not any("，" in s or "," in s for s in strings)  # never across punctuation


def test_a_number_with_its_point_or_unit_sign_is_one_unit(pku_lines):
    """PKU's 55.6亿元, 25%, 3°C/-8°C: a number with its decimal point, percent or degree sign
    is one unit, so that neither its first digits (55 of 55.6) nor what follows its point
    (6亿元) is counted apart; a dash between two numbers joins them, one before a number
    (the minus of -8°C) does not."""
    import re
    import unicodedata

    from zhnlp.discovery.normalize import encode

    numbers = re.compile(r"[0-9]+(?:[.:-][0-9]+)*(?:[%‰]|°[CF]?)?")
    texts = [unicodedata.normalize("NFKC", line) for line in pku_lines]
    lines = [t for t in texts if re.search(r"[0-9](?:[.:-][0-9]|[%°])", t)]
    assert len(lines) > 100
    for text in lines:
        # every digit-led run is a number as the regex reads the text, and back
        assert {r for r in encode(text)[1] if r[0].isdigit()} == set(numbers.findall(text))
    runs = encode(lines[0])[1]
    assert "55.6" in runs and "25%" in runs and "55" not in runs
    weather = encode(next(t for t in texts if "°C/-" in t))[1]
    assert "3°C" in weather and "8°C" in weather and "-8°C" not in weather


def test_strings_count_as_their_units_do(pku_lines, tmp_path):
    text = "\n".join(pku_lines[:400]) + "\n我用ＸＰ系统，他用xp系统。"
    counts = count_corpus(encode_corpus([text], str(tmp_path / "u.i32")), 4, 2, str(tmp_path))
    lines = text.splitlines()
    for n in (2, 3, 4):
        for s in counts.strings(n)[:50]:
            assert counts.count_texts([s])[0] == sum(line.count(s) for line in lines)
    # a run matches whatever its case and width; a string across a comma, longer than the
    # counted levels, or holding an unseen run, was never counted
    assert counts.count_texts(["XP系统", "ＸＰ系", "，他", "我用XP系统", "MP3"]).tolist() == \
        [2, 2, 0, 0, 0]
