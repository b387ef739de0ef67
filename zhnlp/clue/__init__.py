"""CLUE fine-tuning: one adapter per task (reader, input construction, decoding, metric,
submission writer) and the fine-tune / evaluate / predict loop that drives any of them."""

from __future__ import annotations

import inspect
from typing import Any

from zhnlp.clue.base import Task
from zhnlp.clue.c3 import C3
from zhnlp.clue.chid import Chid
from zhnlp.clue.classification import TASKS as _CLASSIFICATION
from zhnlp.clue.cluener import ClueNer
from zhnlp.clue.cmrc import Cmrc2018
from zhnlp.clue.own import TextClassification
from zhnlp.clue.tagging import EntityTagging
from zhnlp.errors import ZhnlpError

_FACTORIES: dict[str, Any] = {t.name: (lambda t=t: t) for t in _CLASSIFICATION}
_FACTORIES.update(cmrc2018=Cmrc2018, chid=Chid, c3=C3, cluener=ClueNer)
TASK_NAMES = tuple(_FACTORIES)  # the CLUE and FewCLUE tasks
# tasks on the user's own files
OWN_TASKS = {"text-classification": TextClassification, "ner": EntityTagging}
_FACTORIES.update(OWN_TASKS)


def get_task(name: str, **options: Any) -> Task:
    """The adapter of task ``name``; ``options`` that its constructor does not take (say
    ``max_answer_len`` for TNEWS) are ignored, so one set of settings serves every task."""
    if name not in _FACTORIES:
        raise ZhnlpError(f"unknown task {name!r} (one of {', '.join(_FACTORIES)})")
    factory = _FACTORIES[name]
    accepted = inspect.signature(factory).parameters
    return factory(**{k: v for k, v in options.items() if k in accepted})


__all__ = ["OWN_TASKS", "TASK_NAMES", "Task", "get_task"]
