"""Errors and warnings of the data layer. Every message names the input and the fix."""

from __future__ import annotations


class ShocklabDataError(ValueError):
    """Base class: the data asked for cannot be produced as asked."""


class DataFileError(ShocklabDataError):
    """A file is corrupt, truncated, or not in the expected format."""


class UnknownSymbolError(ShocklabDataError, KeyError):
    """No local file and no upstream source for a symbol."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CoverageError(ShocklabDataError):
    """The requested dates lie outside what the data cover."""


class ChecksumError(ShocklabDataError):
    """A download does not match its published checksum (the bad file was not kept)."""


class FetchError(ShocklabDataError):
    """A download failed after retries, or network access is switched off."""


class NonTradingDayError(ShocklabDataError):
    """A date is not a session of the exchange calendar asked for."""


class DataQualityWarning(UserWarning):
    """Something in a file was repaired or flagged (duplicates, unsorted rows, bad prices)."""
