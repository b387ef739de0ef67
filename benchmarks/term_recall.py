"""Term recall: how many of a text's own names and terms the new-word miners find.

Gold: the entity strings annotated in CLUENER 2020's training file (names, organisations,
addresses, games, books, films, positions, scenes...; ../shared/data/cluener/train.json),
NFKC-normalised, that jieba's dictionary lacks and that occur at least 5 times in the text.
A second gold set takes the annotations as names: the book-title marks and quotes around
them stripped (《星际争霸》 is the name 星际争霸), and leaving out the strings that jieba's
segmenter keeps whole already (NBA, DotA2: a Latin or digit run is one token to it, nothing
to discover).  Each tool mines the same text (the training sentences, one per line); recall
is the share of the gold strings among the first 1,000 results that jieba's dictionary lacks
(the peers' lists hold known words too: leaving those out is generous to them). zhnlp runs
at its defaults (words and terms), with ``--kinds word`` (words only) and with
``--keep-compounds``; the peers (SmoothNLP, jiagu, nlp-zero) as benchmarks/speed_peers.py
runs them, from their own virtual environment (see ../shared/PEERS.md), if --peers-python
is given.

    .venv/bin/python benchmarks/term_recall.py [--peers-python ../peers/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from speed_peers import PEERS

from zhnlp.discovery import NewWordMiner
from zhnlp.discovery.base import BaseLexicon, load_base

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
TOP = 1000
MIN_SEEN = 5


# what encloses a name in the annotations: book-title marks, quotes, brackets
ENCLOSING = "《》〈〉“”‘’「」『』\"'()[]【】"


def gold_terms(path: Path, text: str, known: BaseLexicon) -> dict[str, set[str]]:
    """The annotated entity strings that jieba lacks and that the text holds 5 times or
    more: as annotated, and as names (enclosing marks stripped, less those that jieba's
    segmenter keeps whole)."""
    import jieba

    spans = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        for by_type in json.loads(line)["label"].values():
            spans.update(unicodedata.normalize("NFKC", s) for s in by_type)

    def seen(strings: set[str]) -> set[str]:
        return {s for s in strings if len(s) >= 2 and s not in known
                and text.count(s) >= MIN_SEEN}

    names = seen({s.strip(ENCLOSING) for s in spans})
    return {"as annotated": seen(spans),
            "names": {s for s in names if len(jieba.lcut(s, HMM=False)) > 1}}


def peer_words(name: str, python: str, corpus: Path) -> list[str]:
    """A peer's results in its own order (nlp-zero's by count)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        code = PEERS[name].replace("CORPUS", repr(str(corpus))).replace("OUT", repr(str(out)))
        if name == "nlp-zero":  # its words are a dict of counts: rank them
            code = code.replace('"\\n".join(f.words)',
                                '"\\n".join(sorted(f.words, key=f.words.get, reverse=True))')
        subprocess.run([python, "-c", code], check=True, capture_output=True)
        lines = out.read_text(encoding="utf-8").splitlines()
    return [unicodedata.normalize("NFKC", line.split("\t")[0].strip()) for line in lines
            if line.strip()]


def recall(words: list[str], gold: set[str], known: BaseLexicon) -> tuple[float, int]:
    new = [w for w in words if w not in known][:TOP]
    return len(gold & set(new)) / max(len(gold), 1), len(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers-python", default=None)
    ap.add_argument("--out", default=str(HERE / "out" / "term_recall.json"))
    args = ap.parse_args()
    path = DATA / "cluener" / "train.json"
    texts = [unicodedata.normalize("NFKC", json.loads(line)["text"])
             for line in path.read_text(encoding="utf-8").splitlines()]
    text = "\n".join(texts)
    known = load_base("jieba", "as-is")  # `in` asks jieba's dictionary
    gold = gold_terms(path, text, known)
    default = NewWordMiner().fit(texts).words_
    found = {"zhnlp (defaults: words and terms)": [w.word for w in default],
             "zhnlp --kinds word": [w.word for w in default if w.kind == "word"],
             "zhnlp --keep-compounds": [
                 w.word for w in NewWordMiner(keep_compounds=True).fit(texts).words_]}
    if args.peers_python:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "cluener.txt"
            corpus.write_text(text + "\n", encoding="utf-8")
            for name in PEERS:
                found[name] = peer_words(name, args.peers_python, corpus)
    rows = []
    for tool, words in found.items():
        row: dict[str, object] = {"tool": tool}
        for name, strings in gold.items():
            row[f"recall ({name})"], row["results"] = recall(words, strings, known)
        rows.append(row)
    summary = {"gold_terms": {k: len(v) for k, v in gold.items()}, "top": TOP, "rows": rows}
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
