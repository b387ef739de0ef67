"""The ``zhnlp`` command line (installed as ``zhnlp.cli``): parse, call the library, print."""
