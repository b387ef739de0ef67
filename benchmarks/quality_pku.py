"""Quality of discovered words on SIGHAN 2005 PKU (the bakeoff's own rules and data).

(a) Segmentation lift: segment pku_test.utf8 with jieba, and with jieba plus the new words
    discovered in that same raw text (base lexicon: pku_training_words.utf8, loaded into jieba
    as our `--format jieba` output), and score both against pku_test_gold.utf8: precision,
    recall, F1, and recall of OOV words (gold words absent from the training word list).
(b) Precision of the top 100 and top 500 new words (kind ``word``: terms, made of known
    words, are phrases to PKU's standard): a new word is right if it is a word of the gold
    segmentation.

    python benchmarks/quality_pku.py [--data ../shared/data/sighan2005] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import logging
import re
import time
import unicodedata
from pathlib import Path

import jieba

from zhnlp.discovery import NewWordMiner, write_words


def spans(words: list[str]) -> set[tuple[int, int]]:
    out, pos = set(), 0
    for w in words:
        out.add((pos, pos + len(w)))
        pos += len(w)
    return out


def score(pred: list[list[str]], gold: list[list[str]], known: set[str]) -> dict[str, float]:
    """The bakeoff's scoring: words right when both their edges match the gold's."""
    correct = n_pred = n_gold = oov = oov_right = 0
    for p, g in zip(pred, gold):
        assert "".join(p) == "".join(g)
        ps, gs = spans(p), spans(g)
        correct += len(ps & gs)
        n_pred += len(ps)
        n_gold += len(gs)
        pos = 0
        for w in g:
            if w not in known:
                oov += 1
                oov_right += (pos, pos + len(w)) in ps
            pos += len(w)
    prec, rec = correct / n_pred, correct / n_gold
    return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec),
            "oov_recall": oov_right / oov}


def segment(tok: jieba.Tokenizer, lines: list[str]) -> list[list[str]]:
    return [[w for w in tok.lcut(line) if w.strip()] for line in lines]


NUMERIC = re.compile(r"[0-9０-９％.．－/]")


def oracle_words(gold: list[list[str]], known: set[str]) -> dict[str, dict[str, int]]:
    """The gold segmentation's out-of-vocabulary words seen 3+ times (2+ characters), with
    their counts: all of them, those without digits, those with: what a perfect miner could
    add, and how much of it is numbers and dates (PKU's standard makes 2000年 one word)."""
    counts = collections.Counter(w for g in gold for w in g if w not in known and len(w) > 1)
    frequent = {w: n for w, n in counts.items() if n >= 3}
    return {"all": frequent,
            "without digits": {w: n for w, n in frequent.items() if not NUMERIC.search(w)},
            "with digits (numbers, dates)": {w: n for w, n in frequent.items()
                                             if NUMERIC.search(w)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "sighan2005"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jieba.setLogLevel(logging.WARNING)
    raw = (data / "pku_test.utf8").read_text(encoding="utf-8").splitlines()
    gold = [line.split() for line in (data / "pku_test_gold.utf8").read_text(
        encoding="utf-8").splitlines()]
    raw_lines = [line.replace(" ", "") for line in raw]
    known = {line.split()[0] for line in (data / "pku_training_words.utf8").read_text(
        encoding="utf-8").splitlines() if line.strip()}
    gold_nfkc = {unicodedata.normalize("NFKC", w) for g in gold for w in g}

    baseline = score(segment(jieba.Tokenizer(), raw_lines), gold, known)
    lift = ["| segmenter | P | R | F1 | OOV recall | words added |", "|---|---|---|---|---|---|",
            f"| jieba | {baseline['precision']:.4f} | {baseline['recall']:.4f} | "
            f"{baseline['f1']:.4f} | {baseline['oov_recall']:.4f} | 0 |"]
    ranking = ["| settings | scorer | new words | top-100 precision | top-500 precision "
               "| seconds |", "|---|---|---|---|---|---|"]
    results: list[dict[str, object]] = [{"name": "jieba", **baseline}]
    settings = [("defaults", {}, ("word",)), ("--min-count 3", {"min_count": 3}, ("word",)),
                ("defaults, words and terms", {}, ("word", "term"))]
    for label, params, kinds in settings:
        for scorer in ("formula", "classifier"):
            t = time.perf_counter()
            miner = NewWordMiner(base=str(data / "pku_training_words.utf8"), scorer=scorer,
                                 **params)
            miner.fit(raw_lines)
            seconds = time.perf_counter() - t
            words = [w for w in miner.words_ if w.kind in kinds]
            precision = [sum(w.word in gold_nfkc for w in words[:k])
                         / max(min(k, len(words)), 1) for k in (100, 500)]
            ranking.append(f"| {label} | {scorer} | {len(words)} | {precision[0]:.3f} | "
                           f"{precision[1]:.3f} | {seconds:.1f} |")
            result = {"settings": label, "scorer": scorer, "words": len(words),
                      "precision_at_100": precision[0], "precision_at_500": precision[1]}
            if label == "defaults":
                # (a) the words loaded into jieba exactly as `--format jieba` writes them
                buf = io.StringIO()
                write_words(words, buf, "jieba", corpus_units=miner.counts_.total)
                userdict = out / f"pku-{scorer}.jieba.txt"
                userdict.write_text(buf.getvalue(), encoding="utf-8")
                tok = jieba.Tokenizer()
                tok.load_userdict(str(userdict))
                lifted = score(segment(tok, raw_lines), gold, known)
                lift.append(f"| jieba + new words ({scorer}) | {lifted['precision']:.4f} | "
                            f"{lifted['recall']:.4f} | {lifted['f1']:.4f} | "
                            f"{lifted['oov_recall']:.4f} | {len(words)} |")
                result.update(lifted)
            results.append(result)
    ceiling = ["| words added (the gold's own OOV words seen 3+ times) | words | "
               "F1 change | OOV recall change |", "|---|---|---|---|"]
    for label, words in oracle_words(gold, known).items():
        tok = jieba.Tokenizer()
        tok.initialize()
        for w, count in words.items():
            tok.add_word(w, count * 20)
        got = score(segment(tok, raw_lines), gold, known)
        ceiling.append(f"| {label} | {len(words)} | {got['f1'] - baseline['f1']:+.4f} | "
                       f"{got['oov_recall'] - baseline['oov_recall']:+.4f} |")
        results.append({"name": f"oracle: {label}", **got})
    report = ("(a) segmentation lift, scored against pku_test_gold.utf8\n\n" + "\n".join(lift)
              + "\n\n(b) precision of the new words (right if a word of the gold segmentation)"
              "\n\n" + "\n".join(ranking) + "\n\n(c) the ceiling: what a perfect list "
              "could lift\n\n" + "\n".join(ceiling) + "\n")
    print(report)
    (out / "quality_pku.md").write_text(report, encoding="utf-8")
    (out / "quality_pku.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
