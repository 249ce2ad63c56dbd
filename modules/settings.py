"""What every part's config is made of: described fields, errors that name the field, JSON.

Each part of the pipeline keeps a small frozen dataclass of its settings beside its code
(`modules/model/config.py`, `modules/training/config.py`, ...), built from `Settings` and
`setting()`; `pipeline/config.py` composes them. These files import no TensorFlow, so that
`nmt-pipeline --help` and configuration errors are instant.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable


class ConfigError(ValueError):
    """A configuration value is invalid; the message says which field and what to change."""


def setting(default, help_text: str, choices: tuple[str, ...] = ()):
    """A config field with its `--help` text and, for a fixed set of values, the choices."""
    return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


def _kind_error(value, default) -> str | None:
    """What is wrong with `value` for a field whose default is `default` (its type decides:
    bool, int, finite float, str, or a tuple of such), None when nothing is."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int):
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole else "expected a whole number"
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
        return None if math.isfinite(value) else "expected a finite number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "expected a string"
    if isinstance(default, tuple):
        if not isinstance(value, tuple):
            return "expected a list"
        if default:
            for item in value:
                error = _kind_error(item, default[0])
                if error:
                    return f"{error} in every item, got {item!r}"
        return None
    raise TypeError(f"no type check for a setting whose default is {default!r}")


class Settings:
    """Base of a part's frozen settings dataclass: checks each value's type (that of its
    default; a whole number is a float's value too), the choices, then `validate()`."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            error = _kind_error(value, field.default)
            if error:
                shown = "null" if value is None else repr(value)
                raise ConfigError(f"{field.name}={shown}: {error} ({type(value).__name__})")
            if isinstance(field.default, float) and not isinstance(value, float):
                object.__setattr__(self, field.name, float(value))
            choices = field.metadata["choices"]
            if choices and value not in choices:
                raise ConfigError(f"{field.name}={value!r}: choose one of {choices}")
        self.validate()

    def validate(self) -> None:
        """Raises ConfigError for values the part cannot use (the choices are checked)."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict):
        """The settings in `values` (a subset of the fields; JSON lists become tuples)."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"unknown config field(s) {unknown}; known fields are {sorted(cls.field_names())}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # Checks shared by the parts' `validate()`; each message names the field.
    def require_at_least(self, minimum, names: Iterable[str]) -> None:
        for name in names:
            if getattr(self, name) < minimum:
                more = "0 or more" if minimum == 0 else f"at least {minimum}"
                raise ConfigError(f"{name}={getattr(self, name)}: must be {more}")

    def require_positive(self, names: Iterable[str]) -> None:
        for name in names:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be greater than 0")
