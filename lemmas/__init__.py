"""Built-in lemma files, one per lemma of SPEC §8-§9 (format: docs/lemma-format.md).

This is a package only so that the built-in lemmas ship with an install;
proofcheck loads each file by path, never by importing this package.
"""
