"""zhnlp: from a raw Chinese corpus to new words, a pretrained ELECTRA and CLUE fine-tuning."""

__version__ = "0.1.0"
