"""contentgen: batch generation of marketing copy, with every draft reviewed by a person."""

__version__ = "0.1.0"
