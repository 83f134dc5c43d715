"""Command-line flags that mirror dataclass fields: the field gives the flag its type, its default and, from the
`help` of its metadata, its help text, so a default or a doc lives in one place (the dataclass).

    max_steps: int = field(default=50, metadata={"help": "most sampling steps of one request"})

    add_field_argument(parser, "--max-steps", DemoLimits, "max_steps")
    # --max-steps: type int, default 50, help "most sampling steps of one request (default: 50)"

A flag whose None means "the model's default" (the pipeline's `pick` rule) passes `model_default=True`; one
that sets a field of one class or another by mode (eval --n: shapes prompts, vae clips) documents both, with
their own defaults under `default_per_field=True`. A field without a default makes a required flag. Each flag made here records the fields it mirrors in
`action.mirrors`, so tests/test_cli_fields.py can check every one of them against its dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any

HELP = "help"  # the metadata key of a field's documentation


def field_of(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise AttributeError(f"{cls.__name__} has no field {name!r}")


def field_doc(cls: type, name: str) -> str:
    """The documentation of field `name` of dataclass `cls` (its metadata's "help"); an error when it has none."""
    doc = field_of(cls, name).metadata.get(HELP)
    if not doc:
        raise TypeError(f'{cls.__name__}.{name} has no documentation (field(..., metadata={{"help": ...}}))')
    return doc


def field_default(cls: type, name: str) -> Any:
    """The field's default (or its default factory's value); `dataclasses.MISSING` when it has none."""
    f = field_of(cls, name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _value_type(cls: type, name: str) -> Any:
    """The type a flag's string is converted with: the annotation, without `| None`."""
    hint = typing.get_type_hints(cls)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    if hint not in (int, float, str):
        raise TypeError(
            f"{cls.__name__}.{name}: no flag type for {typing.get_type_hints(cls)[name]}; pass type="
        )
    return hint


def add_field_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str | tuple[str, ...],
    cls: type,
    name: str,
    *,
    model_default: bool = False,
    default_per_field: bool = False,
    context: str = "",
    also: Sequence[tuple[str, type, str]] = (),
    **kwargs: Any,
) -> argparse.Action:
    """Add `flag` (or its names, e.g. `("-o", "--output")`, or a positional's name) mirroring field `name` of
    dataclass `cls`: the field's type (or `type=`/`action=` in `kwargs`), its default (`model_default`: None,
    "the model's", the pipeline's `pick` rule) and its documentation as help, after `context` (e.g. "--stream")
    when given. `also`: (context, class, field) of fields the flag sets instead in another mode, documented after
    the first (e.g. `("with --stream", StreamOptions, "stream_steps")`); their defaults are the first one's,
    or with `default_per_field` each its own, shown after its doc (the flag's default is None: the caller then
    passes the value only when it is given)."""
    flags = (flag,) if isinstance(flag, str) else tuple(flag)
    parts = [(context, cls, name), *also]
    docs = [(f"{ctx}: " if ctx else "") + field_doc(c, n) for ctx, c, n in parts]
    if default_per_field:
        docs = [f"{doc} (default: {field_default(c, n)})" for doc, (_, c, n) in zip(docs, parts)]
    help_text = "; ".join(docs).replace("%", "%%")  # argparse formats help with %
    default = None if model_default or default_per_field else field_default(cls, name)
    if model_default:
        help_text += " (default: the model's)"
    elif default is dataclasses.MISSING:
        if flags[0].startswith("-"):  # a positional is required by itself
            kwargs.setdefault("required", True)
        default = None
    elif default is not None:
        help_text += " (default: %(default)s)"
    if "action" not in kwargs and "type" not in kwargs:
        kwargs["type"] = _value_type(cls, name)
    action = parser.add_argument(*flags, default=default, help=help_text, **kwargs)
    action.mirrors = [(c, n) for _, c, n in parts]
    action.default_per_field = default_per_field
    return action


def add_field_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, **kwargs: Any
) -> list[argparse.Action]:
    """One flag per field of `cls`, `--field-name` for `field_name`, each as `add_field_argument` makes it."""
    return [
        add_field_argument(parser, f"--{f.name.replace('_', '-')}", cls, f.name, **kwargs)
        for f in dataclasses.fields(cls)
    ]


def from_args(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """An instance of `cls` from the namespace attributes named like its fields (and `values`, which win)."""
    names = [f.name for f in dataclasses.fields(cls) if f.name not in values and hasattr(args, f.name)]
    return cls(**{n: getattr(args, n) for n in names}, **values)
