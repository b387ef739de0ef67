"""Rule files of the new-word miner, kept as data (installed as ``zhnlp.lexicon``)."""
