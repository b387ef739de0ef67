"""New-word discovery: n-gram counting, statistics, rules and the ``NewWordMiner`` estimator."""

from zhnlp.discovery.base import BaseLexicon, load_base
from zhnlp.discovery.formats import FORMATS, write_words
from zhnlp.discovery.miner import NewWordMiner, Word, mine
from zhnlp.discovery.ngrams import NgramCounts, merge
from zhnlp.discovery.rules import Rules

__all__ = ["BaseLexicon", "FORMATS", "NewWordMiner", "NgramCounts", "Rules", "Word", "load_base",
           "merge", "mine", "write_words"]
