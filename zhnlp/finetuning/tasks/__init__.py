"""The tasks, by name: the CLUE and FewCLUE adapters and those on the user's own files.

A task is a :class:`~zhnlp.finetuning.tasks.base.Task` (its reader, input construction,
decoding, metric and submission writer); the fine-tuning loop takes one by name, with its
options, or as an object.  A new task is a subclass of ``Task`` given to :func:`register`
(or passed to :func:`get_task` / ``FinetuneConfig(task=...)`` as it is).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from zhnlp.errors import ZhnlpError
from zhnlp.finetuning.tasks.base import Task
from zhnlp.finetuning.tasks.c3 import C3
from zhnlp.finetuning.tasks.chid import Chid
from zhnlp.finetuning.tasks.classification import TASKS as _CLASSIFICATION
from zhnlp.finetuning.tasks.cluener import ClueNer
from zhnlp.finetuning.tasks.cmrc import Cmrc2018
from zhnlp.finetuning.tasks.own import TextClassification
from zhnlp.finetuning.tasks.tagging import EntityTagging


def _fixed(task: Task) -> Callable[[], Task]:
    """A factory for a task without options (one instance serves every run: it keeps no
    state)."""
    return lambda: task


_FACTORIES: dict[str, Callable[..., Task]] = {t.name: _fixed(t) for t in _CLASSIFICATION}
_FACTORIES.update(cmrc2018=Cmrc2018, chid=Chid, c3=C3, cluener=ClueNer)
TASK_NAMES = tuple(_FACTORIES)  # the CLUE and FewCLUE tasks
# tasks on the user's own files
OWN_TASKS = {"text-classification": TextClassification, "ner": EntityTagging}
_FACTORIES.update(OWN_TASKS)


def register(name: str, factory: Callable[..., Task]) -> None:
    """Make ``factory`` (a Task subclass, or a function returning a Task; its keyword
    arguments are the task's options) known as task ``name``."""
    if name in _FACTORIES:
        raise ZhnlpError(f"task {name!r} exists already")
    _FACTORIES[name] = factory


def task_options(name: str) -> tuple[str, ...]:
    """The options task ``name`` takes (its factory's keyword arguments)."""
    if name not in _FACTORIES:
        raise ZhnlpError(f"unknown task {name!r} (one of {', '.join(_FACTORIES)})")
    return tuple(inspect.signature(_FACTORIES[name]).parameters)


def get_task(task: str | Task, **options: Any) -> Task:
    """The adapter of ``task``: a name, set up with ``options``, or a ``Task`` object as it
    is.  An option the task does not take is an error naming those it does (a misspelt or
    misplaced option is never dropped silently)."""
    if isinstance(task, Task):
        if options:
            raise ZhnlpError(f"task {task.name!r} is given as an object: set its options "
                             f"when making it, not here ({', '.join(options)})")
        return task
    accepted = task_options(task)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ZhnlpError(f"task {task!r} does not take the option {unknown[0]!r} (its "
                         f"options: {', '.join(accepted) or 'none'})")
    return _FACTORIES[task](**options)


__all__ = ["OWN_TASKS", "TASK_NAMES", "Task", "get_task", "register", "task_options"]
