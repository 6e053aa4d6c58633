"""Parsers, one per upstream format. Each returns a clean, UTC-indexed ``pandas.DataFrame``."""
