"""Pretraining a Chinese ELECTRA: from a segmented corpus to Hugging Face checkpoints.

``sizes`` (the named sizes and choices, importable without torch), ``shards`` (``zhnlp
prepare``: documents to fixed-length sequences with whole-word spans), ``masking`` (which
positions a batch masks), ``loader`` (masked batches), ``model`` (generator + discriminator
on transformers' Electra modules), ``init`` (continued pretraining from a released
checkpoint), ``loop`` (the training loop).
"""
