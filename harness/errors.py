"""Typed errors. Each one says what is wrong, where, and what to do about it."""

from __future__ import annotations


class MindgateError(Exception):
    """Base class: the CLI prints these as one clear message instead of a traceback."""

    exit_code = 2


class ModelNotFoundError(MindgateError):
    """A model name, path or hub id that cannot be resolved here."""


class AdapterMismatchError(MindgateError):
    """An adapter that cannot be applied to the chosen base model."""


class UnknownTaskError(MindgateError):
    """A task or group name that no task config under ``tasks/`` (or lm-eval) defines."""


class CacheCorruptError(MindgateError):
    """A cached artifact whose contents no longer match its recorded checksum."""


class DataFormatError(MindgateError):
    """A data file with a malformed row or field."""


class ServerError(MindgateError):
    """A model server that cannot be started, reached, or kept alive."""


class CanaryError(MindgateError):
    """The adapter-applied canary found that served results do not belong to the model asked for."""
