"""``NewWordMiner``: the estimator behind ``zhnlp discover-words``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from zhnlp.discovery import stats
from zhnlp.discovery.base import BaseLexicon, converter, load_base
from zhnlp.discovery.ngrams import (
    NgramCounts,
    UnitFile,
    count_corpus,
    encode_corpus,
    ids_file,
    merge,
)
from zhnlp.discovery.normalize import BOUNDARY, RUN_BASE, RepeatedLines, unit_text
from zhnlp.discovery.rules import (
    Rules,
    compound_cuts,
    counted_forms,
    edge_inside,
    nested_cuts,
    trailing_number,
)
from zhnlp.discovery.scorer import classifier_scores
from zhnlp.discovery.wordmodel import WordModel
from zhnlp.errors import ZhnlpError
from zhnlp.outputs import scratch_dir
from zhnlp.progress import progress_bar


@dataclass
class Word:
    """One discovered word and its statistics (see :mod:`zhnlp.discovery.stats`).

    ``kind``: ``word`` (new to the base lexicon), ``term`` (made of words the base knows,
    held together in this corpus: 锂离子电池, 检察机关), or ``known`` (in the base lexicon,
    listed with ``all_words``).
    """

    word: str
    count: int
    cohesion: float
    left_entropy: float
    right_entropy: float
    score: float
    known: bool
    kind: str = "word"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class NewWordMiner:
    """Find new words in a corpus by frequency, cohesion and branching entropy, plus rules.

    ``NewWordMiner(**params).fit(texts)`` counts every n-gram of 2 to ``max_len`` units seen
    at least ``min_count`` times (a unit is a character, or a whole run of Latin letters and
    digits), computes its statistics, removes what the rules reject (numerals, dates, stop
    characters at an edge, derived forms, fragments of longer words, substrings dominated by a
    superstring) and ranks the rest by score, best first, in ``words_``.

    Parameters
    ----------
    min_count, max_len:
        Thresholds of the candidates; ``min_count`` None: from the corpus size
        (:func:`stats.default_min_count`, 3 at 100k characters, 5 at 2.5M).
    keep_case:
        Count runs of Latin letters that differ in case only (VISTA, vista) apart; by default
        they are one, shown in the form seen most often.
    keep_duplicates:
        Count lines repeated verbatim every time; by default a repeated line is counted once
        (templates, footers, corpora shipped twice are not language).
    base:
        The base lexicon: ``"jieba"``, ``"none"``, a path to a word list, or a
        :class:`BaseLexicon`.  Words it knows are left out of ``words_`` unless ``all_words``.
    base_script:
        The script the base is written in: ``"simplified"`` (candidates are looked up in
        their OpenCC t2s form: traditional text against jieba), ``"traditional"`` (s2t), or
        ``"as-is"``.
    scorer:
        ``"formula"`` (the score of :mod:`zhnlp.discovery.stats`) or ``"classifier"`` (the
        probability that a scikit-learn classifier, trained to tell the known candidates from
        the others by their statistics, gives a candidate).
    min_cohesion, min_entropy:
        A candidate needs at least this cohesion and this entropy on both sides.
    dominance:
        A candidate seen in a longer candidate in at least this share of its occurrences is
        a fragment of that one (二维 of 二维码) and is dropped.
    fragment_share, samples:
        A candidate whose edge falls inside a base-segmenter token in more than
        ``fragment_share`` of ``samples`` sampled occurrences is dropped.
    term_share, keep_compounds, bound_share, bound_evidence:
        A candidate that the base segmenter cuts into known words (one at least of several
        characters) is a compound.  Its parts decide what it is, by the share of the rarer
        side's occurrences that the candidate holds at a cut: at ``bound_share`` or more at
        some cut, seen at least ``bound_evidence`` times, a ``word`` (杜|拉拉: 拉拉 is seldom
        seen without 杜); at ``term_share`` or more at every cut, a ``term`` (锂离子|电池,
        暗黑|破坏神, 住房|公积金); below it at some cut, a free collocation (目前|北京,
        看|电影), dropped unless ``keep_compounds``.  A new word next to a known or new word
        is judged the same way ("nested": 助申奥 = 助 + the new 申奥), bound at half the
        rarer part's occurrences, and dropped if not.
    word_model, min_word_share, word_model_units, word_model_iterations:
        Keep only the candidates that a unigram word model fitted by EM (on the first
        ``word_model_units`` units, ``word_model_iterations`` rounds) uses as words in at
        least ``min_word_share`` of their occurrences (:mod:`zhnlp.discovery.wordmodel`).
        Off by default: on its own the unigram model favours long strings (a rare 助申奥
        takes the uses of 申奥), so it does not yet improve the list.
    complete_counts:
        Keep the counts of every n-gram (not only the frequent ones), so that ``counts_``
        can be saved and merged with other corpora's without losing anything.
    rules:
        A :class:`Rules` (default: the installed ``lexicon/`` files); ``use_rules=False``
        turns the rules off (statistics only).
    workers, shard_size, tmp_dir:
        Processes, units per shard, and where the encoded corpus is kept while counting.

    Attributes
    ----------
    words_ : list[Word]
    counts_ : NgramCounts
    candidates_ : stats.Candidates (the candidates that pass the thresholds, before the rules)
    rejected_ : dict[str, int] (how many candidates each step of the selection removed)
    min_count_ : int (the minimum count used)
    lines_, duplicates_ : int (non-blank lines read, and how many repeated ones were skipped)
    """

    def __init__(self, *, min_count: int | None = None, max_len: int = 6,
                 base: str | BaseLexicon = "jieba", keep_duplicates: bool = False,
                 keep_case: bool = False, base_script: str = "simplified",
                 all_words: bool = False, scorer: str = "formula", min_cohesion: float = 2.0,
                 min_entropy: float = 1.0, dominance: float = 0.9, fragment_share: float = 0.5,
                 samples: int = 10, term_share: float = 0.1, keep_compounds: bool = False,
                 bound_share: float = 0.8,
                 bound_evidence: int = 50, word_model: bool = False,
                 min_word_share: float = 0.5, word_model_units: int = 20_000_000,
                 word_model_iterations: int = 5,
                 complete_counts: bool = False, use_rules: bool = True,
                 rules: Rules | None = None, workers: int = 1, shard_size: int = 1 << 22,
                 tmp_dir: str | None = None, seed: int = 0, quiet: bool = True) -> None:
        self.min_count = min_count
        self.max_len = max_len
        self.base = base
        self.keep_duplicates = keep_duplicates
        self.keep_case = keep_case
        self.base_script = base_script
        self.all_words = all_words
        self.scorer = scorer
        self.min_cohesion = min_cohesion
        self.min_entropy = min_entropy
        self.dominance = dominance
        self.fragment_share = fragment_share
        self.samples = samples
        self.term_share = term_share
        self.keep_compounds = keep_compounds
        self.bound_share = bound_share
        self.bound_evidence = bound_evidence
        self.word_model = word_model
        self.min_word_share = min_word_share
        self.word_model_units = word_model_units
        self.word_model_iterations = word_model_iterations
        self.complete_counts = complete_counts
        self.use_rules = use_rules
        self.rules = rules
        self.workers = workers
        self.shard_size = shard_size
        self.tmp_dir = tmp_dir
        self.seed = seed
        self.quiet = quiet

    # ------------------------------------------------------------------ fitting

    def _check_params(self) -> None:
        if self.min_count is not None and self.min_count < 1:
            raise ZhnlpError("min_count must be at least 1")
        if not 2 <= self.max_len <= 16:
            raise ZhnlpError("max_len must be between 2 and 16")
        if self.scorer not in ("formula", "classifier"):
            raise ZhnlpError(f"unknown scorer {self.scorer!r} (formula, classifier)")
        if self.workers < 1:
            raise ZhnlpError("workers must be at least 1")

    def fit(self, texts: Iterable[str] | None = None, *,
            counts: Iterable[NgramCounts] = ()) -> NewWordMiner:
        """Mine ``texts`` (an iterable of text chunks: lines, documents or whole files),
        together with already counted corpora in ``counts``."""
        self._check_params()
        rules = self.rules if self.rules is not None else Rules.load()
        base = self.base if isinstance(self.base, BaseLexicon) else load_base(self.base,
                                                                              self.base_script)
        extra = list(counts)
        with scratch_dir("mine", self.tmp_dir) as workdir:
            corpus = None
            own = None
            self.lines_, self.duplicates_ = 0, 0
            if texts is not None:
                repeated = None if self.keep_duplicates else RepeatedLines()
                corpus = encode_corpus(repeated(texts) if repeated else texts,
                                       f"{workdir}/units.i32",
                                       cut=rules.cut if self.use_rules else None,
                                       workers=self.workers, fold_case=not self.keep_case)
                if repeated is not None:
                    self.lines_, self.duplicates_ = repeated.lines, repeated.dropped
                complete = self.complete_counts or bool(extra)
                # units, not boundaries: the measure a merged count's total gives
                self.min_count_ = self.min_count or stats.default_min_count(
                    int(np.count_nonzero(corpus.array())))
                own = self._count(corpus, 1 if complete else self.min_count_, workdir)
            parts = ([own] if own is not None else []) + extra
            if not parts:
                raise ZhnlpError("nothing to mine: give texts or counts")
            merged = merge(parts)
            if merged.total == 0:
                raise ZhnlpError("the corpus holds no text to count (only punctuation, "
                                 "symbols or spaces)")
            if extra:  # the size of everything counted decides
                self.min_count_ = self.min_count or stats.default_min_count(merged.total)
            self.counts_ = merged
            self._select(merged.pruned(self.min_count_), base, rules, corpus, own, workdir)
        return self

    def _count(self, corpus: UnitFile, min_count: int, workdir: str) -> NgramCounts:
        bar = progress_bar(self.max_len, desc="counting n-grams", unit="level",
                           quiet=self.quiet)
        with bar:
            counts = count_corpus(corpus, self.max_len + 1, min_count, workdir,
                                  workers=self.workers, shard_size=self.shard_size,
                                  on_level=lambda n: bar.update(1))
        return counts

    def _select(self, counts: NgramCounts, base: BaseLexicon, rules: Rules,
                corpus: UnitFile | None, corpus_counts: NgramCounts | None, workdir: str) -> None:
        cands = stats.candidates(counts, self.max_len, min_cohesion=self.min_cohesion,
                                 min_entropy=self.min_entropy)
        self.candidates_ = cands
        known = np.array([w in base for w in cands.words], dtype=bool)
        run = Selection(cands, counts, base, rules, known, corpus, corpus_counts, workdir)
        rejected = {"threshold": cands.considered - len(cands)}
        passed = run.alive.copy()
        for name, step in self._pipeline(base, corpus is not None and corpus_counts is not None):
            result = step(run)
            if isinstance(result, np.ndarray):  # a keep-mask: its name is the reason
                drops = {name: ~result}
            else:  # a reason (or None) per candidate
                drops = {reason: np.array([r == reason for r in result])
                         for reason in sorted({r for r in result if r})}
            for reason, mask in drops.items():
                gone = mask & run.alive
                rejected[reason] = rejected.get(reason, 0) + int(gone.sum())
                run.alive &= ~gone
            if name in LEARNED_AFTER:
                passed = run.alive.copy()  # what the classifier learns from
        score = cands.score
        if self.scorer == "classifier":
            score = classifier_scores(cands, known, passed, seed=self.seed)
        # ties by the string: the same order whatever the ids (a merged run's differ); to 9
        # decimals, since the sums behind equal scores may differ in their last bits
        score = np.round(score, 9)
        order = sorted(np.flatnonzero(run.alive).tolist(),
                       key=lambda i: (-score[i], cands.words[i]))
        self.rejected_ = rejected
        # a phrase of known words is a term, unless its parts are bound into a word (杜|拉拉)
        term = run.compound(self) if not base.empty else np.zeros(len(cands), dtype=bool)
        self.words_ = [Word(cands.words[i], int(cands.count[i]), float(cands.cohesion[i]),
                            float(cands.left_entropy[i]), float(cands.right_entropy[i]),
                            float(score[i]), bool(known[i]),
                            "known" if known[i] else "term" if term[i] else "word")
                       for i in order]

    def _pipeline(self, base: BaseLexicon, have_corpus: bool) -> list[tuple[str, Step]]:
        """The selection's steps, in order, by name: each gives a keep-mask over the
        candidates (or, for the rules, a reason or None per candidate); a candidate goes at
        the first step that rejects it, and ``rejected_`` counts it there.

        ``known`` (the base lexicon's words, kept with ``all_words``) comes before the rules
        for the formula scorer, which spares the rules their checks, and after them for the
        classifier scorer, which learns from the known words that pass the rules.
        """
        known: list[tuple[str, Step]] = [] if self.all_words else [
            ("known", lambda run: ~run.known)]
        steps: list[tuple[str, Step]] = [
            ("dominated", lambda run: ~dominated(run.counts, run.cands, self.dominance))]
        if self.scorer == "formula":
            steps += known
        if self.use_rules:
            steps.append(("rules", self._rule_reasons))
            steps.append(("numbered", self._not_numbered))
            if not base.empty:
                steps.append(("count", self._not_counts))
            if not base.empty and not self.keep_compounds:
                steps.append(("collocation",
                              lambda run: ~(run.collocation(self) & ~run.known)))
                steps.append(("nested", self._not_nested))
        if self.scorer == "classifier":
            steps += known
        if self.word_model and have_corpus:
            steps.append(("word_model", self._used_as_words))
        if self.use_rules and not base.empty and have_corpus:
            steps.append(("fragment", self._not_fragments))
        return steps

    def _used_as_words(self, run: Selection) -> np.ndarray:
        """Candidates that the word model uses as words in at least ``min_word_share`` of
        their occurrences (known words are not judged); see :mod:`wordmodel`."""
        assert run.corpus is not None and run.corpus_counts is not None
        share = word_shares(run.cands, run.alive | run.known, run.counts, run.corpus,
                            run.corpus_counts, run.workdir, self.max_len,
                            self.word_model_units, self.word_model_iterations)
        self.word_share_ = share
        return run.known | (share >= self.min_word_share)

    def _not_nested(self, run: Selection) -> np.ndarray:
        """Candidates that are not phrases of the words found so far: a new word next to a
        known one (助申奥: 助 + the new 申奥) is a phrase as a known pair is, unless the
        candidate holds half or more of the rarer part's occurrences (门市部 of 门市,
        伊斯梅利亚 of 梅利亚: names and words whose new part is seldom seen without them)."""
        # terms are phrases already: a word is not split into them
        words = run.alive & ~run.known & ~run.compound(self)
        fresh = {w for w, ok in zip(run.cands.words, words.tolist()) if ok}
        base = run.base

        def cuts_of(word: str) -> list[int] | None:
            return nested_cuts(word, lambda t: t != word and (t in fresh or t in base))

        # a new part is rare itself: holding half of its occurrences binds it, however few
        return ~unbound(cut_shares(run.counts, run.cands, words, cuts_of), NESTED_BOUND_SHARE)

    def _rule_reasons(self, run: Selection) -> list[str | None]:
        """The rules of ``lexicon/`` (numerals, dates, stop characters, affixes...): the
        name of the rule that rejects each living candidate, None where none does.  The rule
        files are written in simplified characters: a candidate is checked in its OpenCC
        t2s form (一隻 is 一只, a quantity)."""
        simplified = converter("simplified")
        assert simplified is not None
        compound = run.compound(self)
        index = {w: i for i, w in enumerate(run.cands.words)}
        base = run.base

        def lexical(part: str) -> bool:  # what an affix attaches to: a word or a phrase
            i = index.get(part)
            if i is not None and run.alive[i]:
                return bool(run.known[i] or compound[i])
            return part in base or compound_cuts(part, base.segment,
                                                 base.__contains__) is not None

        return [run.rules.reject_reason(simplified(w), base.__contains__, lexical) if ok
                else None for w, ok in zip(run.cands.words, run.alive.tolist())]

    def _not_counts(self, run: Selection) -> np.ndarray:
        """Candidates that are not counts of a free noun: an amount and a noun (两场|比赛)
        whose other counts (一场比赛, 这场比赛, 每场比赛) together occur at least
        ``COUNT_SHARE`` times as often as the candidate.  A name that opens with a numeral
        (三只松鼠) has no such siblings.  Siblings below ``min_count`` are not counted: on a
        small corpus fewer counts go."""
        simplified = converter("simplified")
        assert simplified is not None
        words, rules, segment = run.cands.words, run.rules, run.base.segment
        check, forms = [], []
        for i in np.flatnonzero(run.alive & ~run.known).tolist():
            siblings = counted_forms(words[i])
            if siblings and rules.opens_with_amount([simplified(t) for t in segment(words[i])]):
                check.append(i)
                forms += siblings
        keep = np.ones(len(run.cands), dtype=bool)
        if check:
            found = run.counts.count_texts(forms)
            siblings = found.reshape(len(check), -1).sum(axis=1)
            keep[check] = siblings < COUNT_SHARE * run.cands.count[check]
        return keep

    def _not_numbered(self, run: Selection) -> np.ndarray:
        """Candidates that are not a slot for a number: a string that one or two digits end
        is kept where that number follows its head in at least ``NUMBER_SHARE`` of the head's
        occurrences.  A name that a number ends (星际争霸2, 魔兽争霸3, 沙尔克04: a sequel, a
        club) holds much of its head's; a number after a free word seldom does (只有1 is 7%
        of 只有, 同比增长2 5% of 同比增长)."""
        splits = {i: split for i in np.flatnonzero(run.alive & ~run.known).tolist()
                  if (split := trailing_number(run.cands.words[i])) is not None}
        keep = np.ones(len(run.cands), dtype=bool)
        if splits:
            check = list(splits)
            heads = run.counts.count_texts([head for head, _ in splits.values()])
            keep[check] = run.cands.count[check] >= NUMBER_SHARE * heads
        return keep

    def _not_fragments(self, run: Selection) -> np.ndarray:
        """Candidates whose edges do not fall inside a base-segmenter token (an amount,
        3次 or 12日, counting as one) in most sampled occurrences (known words are not
        checked)."""
        check = run.alive & ~run.known
        assert run.corpus is not None and run.corpus_counts is not None
        base, rules = run.base, run.rules
        share = self._inside_shares(run.counts, run.cands, check,
                                    lambda text: rules.join_amounts(base.segment(text)),
                                    run.corpus, run.corpus_counts, run.workdir)
        return ~(check & (share > self.fragment_share))

    def _inside_shares(self, counts: NgramCounts, cands: stats.Candidates, mask: np.ndarray,
                       segment: Callable[[str], list[str]], corpus: UnitFile,
                       corpus_counts: NgramCounts, workdir: str) -> np.ndarray:
        """For the candidates in ``mask``: share of sampled occurrences that ``segment``'s
        tokens cut."""
        share = np.zeros(len(cands))
        units = corpus.array()
        todo = np.flatnonzero(mask)
        bar = progress_bar(todo.size, desc="checking boundaries", unit="word", quiet=self.quiet)
        with bar:
            for n in np.unique(cands.length[todo]).tolist():
                idx = todo[cands.length[todo] == n]
                rows = corpus_counts.lookup(counts.grams(n)[cands.level_row[idx]])
                idx, rows = idx[rows >= 0], rows[rows >= 0]
                samples = sample_positions(ids_file(workdir, n), corpus.length, rows,
                                           self.samples, self.shard_size)
                owner = np.repeat(idx, [len(samples.get(r, ())) for r in rows.tolist()])
                positions = [p for r in rows.tolist() for p in samples.get(r, ())]
                inside = np.array([edge_inside(c, s, e, segment) for c, s, e in
                                   occurrence_contexts(units, positions, n, corpus.shown)],
                                  dtype=np.float64)
                taken = np.bincount(owner, minlength=len(cands))[idx]
                share[idx] = np.bincount(owner, weights=inside,
                                         minlength=len(cands))[idx] / np.maximum(taken, 1)
                bar.update(idx.size)
        return share


NESTED_BOUND_SHARE = 0.5  # see NewWordMiner._not_nested
COUNT_SHARE = 0.5  # see NewWordMiner._not_counts
NUMBER_SHARE = 0.1  # see NewWordMiner._not_numbered
# the classifier scorer learns from the candidates that passed these steps (known or not)
LEARNED_AFTER = ("dominated", "rules", "collocation")


def cut_shares(counts: NgramCounts, cands: stats.Candidates, mask: np.ndarray,
               cuts_of: Callable[[str], list[int] | None],
               evidence: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """How bound the parts of the phrases in ``mask`` are (``cuts_of`` gives where a phrase
    is cut, None for a word): at each cut, the share of the rarer side's occurrences that the
    candidate holds.  Returns the least share over its cuts, and the greatest over the cuts
    whose rarer side is seen at least ``evidence`` times (0 if none); NaN for a candidate
    outside ``mask``, not cut, or cut inside a run of Latin letters or digits (a run holds
    together)."""
    low = np.full(len(cands), np.nan)
    high = np.full(len(cands), np.nan)
    cut_at: dict[tuple[int, int], list[int]] = {}  # (length, cut in units) -> candidates
    for i in np.flatnonzero(mask).tolist():
        word = cands.words[i]
        cuts = cuts_of(word)
        if cuts is None:
            continue
        n = int(cands.length[i])
        if n != len(word):  # runs of several characters: character offsets -> units
            ends = np.cumsum([len(unit_text(int(u), counts.shown))
                              for u in counts.grams(n)[cands.level_row[i]]]).tolist()
            cuts = [ends.index(k) + 1 if k in ends else None for k in cuts]
            if None in cuts:
                continue
        low[i], high[i] = np.inf, 0.0
        for j in cuts:
            cut_at.setdefault((n, j), []).append(i)
    for (n, j), members in cut_at.items():
        idx = np.array(members)  # a candidate once per (length, cut)
        g = counts.grams(n)[cands.level_row[idx]]
        rarer = np.minimum(counts.count_of(g[:, :j]), counts.count_of(g[:, j:]))
        held = cands.count[idx] / np.maximum(rarer, 1)
        low[idx] = np.minimum(low[idx], held)
        high[idx] = np.maximum(high[idx], np.where(rarer >= evidence, held, 0.0))
    return low, high


def unbound(shares: tuple[np.ndarray, np.ndarray], share: float) -> np.ndarray:
    """The phrases of :func:`cut_shares` whose parts are not bound to each other: at no cut
    (of enough evidence) does the phrase hold ``share`` or more of the rarer side's
    occurrences."""
    low, high = shares
    return ~np.isnan(low) & ~(high >= share)


KINDS = ("word", "term", "known")


@dataclass
class Selection:
    """What the selection's steps read: the candidates, the counts, the base lexicon, the
    rules, the corpus; ``alive`` marks the candidates no step has rejected yet."""

    cands: stats.Candidates
    counts: NgramCounts
    base: BaseLexicon
    rules: Rules
    known: np.ndarray
    corpus: UnitFile | None
    corpus_counts: NgramCounts | None
    workdir: str
    alive: np.ndarray = field(init=False)
    _shares: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.alive = np.ones(len(self.cands), dtype=bool)

    def _cut_shares(self, miner: NewWordMiner) -> tuple[np.ndarray, np.ndarray]:
        """:func:`cut_shares` of the phrases of known words among the living candidates
        (computed once, when first asked: by the rules, or at the end for the kinds)."""
        if self._shares is None:
            base = self.base
            self._shares = cut_shares(
                self.counts, self.cands, self.alive,
                lambda w: compound_cuts(w, base.segment, base.__contains__),
                # a known word's share of a few dozen occurrences says little: ask evidence
                miner.bound_evidence)
        return self._shares

    def compound(self, miner: NewWordMiner) -> np.ndarray:
        """The candidates that are phrases of known words not bound into a word."""
        return unbound(self._cut_shares(miner), miner.bound_share)

    def collocation(self, miner: NewWordMiner) -> np.ndarray:
        """The phrases of known words loose at some cut: free collocations, not terms."""
        low, _ = self._cut_shares(miner)
        return self.compound(miner) & (low < miner.term_share)


Step = Callable[[Selection], "np.ndarray | list[str | None]"]


def word_shares(cands: stats.Candidates, vocab: np.ndarray, counts: NgramCounts,
                corpus: UnitFile, corpus_counts: NgramCounts, workdir: str, max_len: int,
                sample: int, iterations: int) -> np.ndarray:
    """For each candidate, the share of its occurrences that a unigram word model (single
    units + the candidates in ``vocab``: a string the rules rejected does not compete for
    uses, fitted by EM on the first ``sample`` units of the corpus) uses
    as a word; NaN for a candidate not seen in the sample."""
    units = np.asarray(corpus.array()[:min(sample, corpus.length)])
    if units[-1] != BOUNDARY:  # end the sample at a sentence's end
        units = units[:np.flatnonzero(units == BOUNDARY)[-1] + 1]
    size = units.size
    singles, unit_ids, unit_counts = np.unique(units, return_inverse=True, return_counts=True)
    word_at = np.full((max_len, size), -1, dtype=np.int32)
    word_at[0] = np.where(units == BOUNDARY, -1, unit_ids)
    offset = singles.size
    for n in range(2, max_len + 1):
        idx = np.flatnonzero((cands.length == n) & vocab)
        rows = corpus_counts.lookup(counts.grams(n)[cands.level_row[idx]])
        row_to_word = np.full(corpus_counts.counts[n - 1].size + 1, -1, dtype=np.int32)
        row_to_word[rows[rows >= 0]] = offset + idx[rows >= 0]
        ids = np.asarray(np.memmap(ids_file(workdir, n), dtype=np.int32, mode="r",
                                   shape=(corpus.length,))[:size])
        word_at[n - 1] = row_to_word[ids]  # -1 (infrequent) picks the last slot: -1
    raw = np.bincount(word_at[word_at >= 0], minlength=offset + len(cands)).astype(np.float64)
    raw[:offset] = np.where(singles == BOUNDARY, 0, unit_counts)
    model = WordModel(iterations=iterations).fit(units, word_at, np.maximum(raw, 1e-9))
    seen = raw[offset:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, model.expected_[offset:] / seen, np.nan)


def dominated(counts: NgramCounts, cands: stats.Candidates, share: float) -> np.ndarray:
    """Candidates with a one-unit-longer n-gram seen in at least ``share`` of their occurrences."""
    out = np.zeros(len(cands), dtype=bool)
    v = counts.vocab_size
    for n in range(2, counts.max_n):
        longer = np.zeros(counts.keys[n - 1].size, dtype=np.int64)
        child_keys, child_counts = counts.keys[n], counts.counts[n]
        np.maximum.at(longer, child_keys // v, child_counts)
        suffix = counts.lookup(counts.grams(n + 1)[:, 1:])
        np.maximum.at(longer, suffix, child_counts)  # suffixes of counted n-grams are counted
        level = cands.length == n
        out[level] = longer[cands.level_row[level]] >= share * cands.count[level]
    return out


def sample_positions(ids_path: str, length: int, rows: np.ndarray, k: int,
                     shard_size: int) -> dict[int, list[int]]:
    """Up to ``k`` start positions of each row, the first ones in corpus order."""
    wanted = np.unique(rows)
    got: dict[int, list[int]] = {}
    for start in range(0, length, shard_size):
        if wanted.size == 0:
            break
        # a map of this shard alone, released after it: memory stays at one shard
        size = min(shard_size, length - start)
        part = np.array(np.memmap(ids_path, dtype=np.int32, mode="r", offset=4 * start,
                                  shape=(size,)))
        pos = np.flatnonzero(np.isin(part, wanted))
        if not pos.size:
            continue
        row = part[pos]
        order = np.argsort(row, kind="stable")
        for r, p in zip(row[order].tolist(), (pos[order] + start).tolist()):
            lst = got.setdefault(r, [])
            if len(lst) < k:
                lst.append(p)
        full = np.array([len(got.get(int(r), ())) >= k for r in wanted], dtype=bool)
        wanted = wanted[~full]
    return got


def occurrence_contexts(units: np.ndarray, positions: list[int], n: int, runs: list[str],
                        window: int = 6) -> list[tuple[str, int, int]]:
    """The text around each occurrence of an n-gram (up to ``window`` units each side, within
    its segment) with the character offsets of the occurrence in it.

    A window of a few units holds any base word that crosses the occurrence's edges.
    """
    if not positions:
        return []
    cols = np.arange(-window, n + window)
    idx = np.clip(np.asarray(positions)[:, None] + cols, 0, units.shape[0] - 1)
    win = np.asarray(units[idx.ravel()]).reshape(idx.shape)
    is_b = win == BOUNDARY
    first = np.where(is_b[:, :window], np.arange(window), -1).max(axis=1) + 1
    last = np.where(is_b[:, window + n:], np.arange(window), window).min(axis=1) + window + n
    has_run = (win >= RUN_BASE).any(axis=1)
    # Rows of single-character units decode in one go: a unit is a character there.
    plain = np.where(win >= RUN_BASE, 0x20, win).astype("<u4").tobytes().decode("utf-32-le")
    width = win.shape[1]
    out = []
    for r, (lo, hi) in enumerate(zip(first.tolist(), last.tolist())):
        if has_run[r]:
            left = "".join(unit_text(int(u), runs) for u in win[r, lo:window])
            word = "".join(unit_text(int(u), runs) for u in win[r, window:window + n])
            right = "".join(unit_text(int(u), runs) for u in win[r, window + n:hi])
            out.append((left + word + right, len(left), len(left) + len(word)))
        else:
            out.append((plain[r * width + lo:r * width + hi], window - lo, window - lo + n))
    return out


def mine(texts: Iterable[str], **params: object) -> list[Word]:
    """Shorthand for ``NewWordMiner(**params).fit(texts).words_``."""
    return NewWordMiner(**params).fit(texts).words_  # type: ignore[arg-type]


