"""Term recall: how many of a text's own names and terms the new-word miners find.

Gold: the entity strings annotated in CLUENER 2020's training file (names, organisations,
addresses, games, books, films, positions, scenes...; ../shared/data/cluener/train.json),
NFKC-normalised, that jieba's dictionary lacks and that occur at least 5 times in the text.
Each tool mines the same text (the training sentences, one per line); recall is the share of
the gold strings among the first 1,000 results that jieba's dictionary lacks (the peers'
lists hold known words too: leaving those out is generous to them). zhnlp runs at its
defaults; the peers (SmoothNLP, jiagu, nlp-zero) as benchmarks/speed_peers.py runs them,
from their own virtual environment (see ../shared/PEERS.md), if --peers-python is given.

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


def gold_terms(path: Path, text: str, known: BaseLexicon) -> set[str]:
    """Annotated entity strings that jieba lacks and that the text holds 5 times or more."""
    spans = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        for by_type in json.loads(line)["label"].values():
            spans.update(unicodedata.normalize("NFKC", s) for s in by_type)
    return {s for s in spans if len(s) >= 2 and s not in known and text.count(s) >= MIN_SEEN}


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
    rows = []
    miner = NewWordMiner().fit(texts)
    r, n = recall([w.word for w in miner.words_], gold, known)
    rows.append({"tool": "zhnlp (defaults)", "recall": r, "results": n})
    miner = NewWordMiner(keep_compounds=True).fit(texts)
    r, n = recall([w.word for w in miner.words_], gold, known)
    rows.append({"tool": "zhnlp --keep-compounds", "recall": r, "results": n})
    if args.peers_python:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "cluener.txt"
            corpus.write_text(text + "\n", encoding="utf-8")
            for name in PEERS:
                r, n = recall(peer_words(name, args.peers_python, corpus), gold, known)
                rows.append({"tool": name, "recall": r, "results": n})
    summary = {"gold_terms": len(gold), "top": TOP, "rows": rows}
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
