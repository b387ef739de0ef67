"""Fine-tuning, evaluation and prediction: the CLUE benchmark and the user's own data.

``tasks/`` holds one adapter per task (the registry in ``tasks/__init__``), ``loop`` the
fine-tuning loop, ``inference`` evaluation, prediction and labelling of new text,
``checkpoints`` what a fine-tuned folder holds and how it loads, ``scoring`` and ``crf``
what several tasks share, ``submission`` the leaderboard zip.
"""
