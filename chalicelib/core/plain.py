"""The funnel language's classes are plain frozen dataclasses: one definition, read and written
without pydantic where funnels run, validated by pydantic where they are written.

Where funnels run (the stream worker's cold start) they are loaded from what was stored,
already valid: `load` builds the objects, led by the classes' type hints, and `dump` writes
them back (JSON-safe, by alias, None fields left out). pydantic (`adapter`) validates a funnel
that is published, previewed or checked, and writes its JSON Schema, over the same classes:
the markers below say what pydantic checks, and import pydantic only when it builds a schema.

    @model                     a frozen, keyword-only dataclass; pydantic forbids extra keys;
                               a field named `in_` is written `in`
    Check(ge=1, pattern=...)   pydantic's constraints (as `Field` takes them)
    Before(parse)              a conversion of the raw value, by `load` and pydantic alike
    After(check)               a check only pydantic runs (the stored data passed it)
    Text(type, format, schema) a value written as a string (durations, times of day)
    OneOf("kind"), OneOf(which, error_type, message) with Tag("...")   a tagged union
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, TypeVar, Union

T = TypeVar("T")
Reader = Callable[[Any], Any]


def alias(name: str) -> str:
    """`in_`, `all_`, `set_` are written `in`, `all`, `set` (Python keywords and builtins)."""
    return name[:-1] if name.endswith("_") else name


@typing.dataclass_transform(frozen_default=True, kw_only_default=True)
def model(cls: type[T]) -> type[T]:
    """A frozen, keyword-only dataclass that pydantic validates strictly (extra keys are
    errors, as are fields given by their Python name only where no alias applies)."""
    doc = cls.__dict__.get("__doc__")
    config: dict[str, Any] = {
        "extra": "forbid",
        "alias_generator": alias,
        "validate_by_name": True,
        "validate_by_alias": True,
    }
    if doc:  # pydantic leaves a plain dataclass's docstring (its signature) out of the schema
        config["json_schema_extra"] = {"description": inspect.cleandoc(doc)}
    cls.__pydantic_config__ = config  # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


# --- markers (Annotated metadata) ------------------------------------------------------------


class Check:
    """Constraints pydantic checks (ge, gt, lt, le, pattern, min_length, max_length)."""

    def __init__(self, **constraints: Any) -> None:
        self.constraints = constraints

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import Field

        return handler.generate_schema(Annotated[source, Field(**self.constraints)])


class Before:
    """A conversion of the raw value (shorthands, strings to durations): `load` applies it
    too, so it must accept what `dump` writes. ValueError: the value is invalid."""

    def __init__(self, func: Callable[[Any], Any], json_input: Any = None) -> None:
        self.func = func
        self.json_input = json_input

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import BeforeValidator
        from pydantic_core import PydanticUndefined

        json_input = PydanticUndefined if self.json_input is None else self.json_input
        validator = BeforeValidator(self.func, json_schema_input_type=json_input)
        return validator.__get_pydantic_core_schema__(source, handler)


class After:
    """A check of the parsed value that only validation runs (ValueError: invalid)."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import AfterValidator

        return AfterValidator(self.func).__get_pydantic_core_schema__(source, handler)


_FORMATS: dict[type, Callable[[Any], str]] = {}


class Text:
    """Values of `type` are written as strings by `format` (`dump` and pydantic alike); their
    JSON Schema is `schema`."""

    def __init__(self, type_: type, format: Callable[[Any], str], schema: dict[str, Any]):
        self.format = format
        self.schema = schema
        _FORMATS[type_] = format

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import PlainSerializer

        serializer = PlainSerializer(self.format, return_type=str)
        return serializer.__get_pydantic_core_schema__(source, handler)

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        return dict(self.schema)


class OneOf:
    """A tagged union: by the value of a field (`OneOf("kind")`), or by `which(value)` naming
    the `Tag` of a member (with pydantic's error when it names none)."""

    def __init__(
        self,
        discriminator: str | Callable[[Any], str | None],
        error_type: str | None = None,
        message: str | None = None,
    ) -> None:
        self.discriminator = discriminator
        self.error_type = error_type
        self.message = message

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import Discriminator

        if isinstance(self.discriminator, str):
            found = Discriminator(self.discriminator)
        else:
            found = Discriminator(
                self.discriminator,
                custom_error_type=self.error_type,
                custom_error_message=self.message,
            )
        return found.__get_pydantic_core_schema__(source, handler)


class Tag:
    """A member's tag in a `OneOf(which)` union."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import Tag as PydanticTag

        return PydanticTag(self.tag).__get_pydantic_core_schema__(source, handler)


# --- load: stored data to objects, without pydantic --------------------------------------------


def load(cls: type[T], data: Any) -> T:
    """`cls` from what `dump` wrote (valid data: only the `Before` conversions and the classes'
    own `__post_init__` run). ValueError on a key the class does not have."""
    return typing.cast(T, reader(cls)(data))


_readers: dict[Any, Reader] = {}


def _same(value: Any) -> Any:
    return value


def reader(tp: Any) -> Reader:
    try:
        return _readers[tp]
    except KeyError:
        pass
    if dataclasses.is_dataclass(tp):
        fields: dict[str, tuple[str, Reader]] = {}
        _readers[tp] = found = _dataclass_reader(
            typing.cast(type, tp), fields
        )  # first: it recurses
        hints = typing.get_type_hints(tp, include_extras=True)
        for field in dataclasses.fields(tp):
            if field.init:
                entry = (field.name, reader(hints[field.name]))
                fields[field.name] = fields[alias(field.name)] = entry
        return found
    _readers[tp] = found = _reader(tp)
    return found


def _dataclass_reader(cls: type, fields: dict[str, tuple[str, Reader]]) -> Reader:
    def read(data: Any) -> Any:
        if isinstance(data, cls):
            return data
        arguments = {}
        for key, value in data.items():
            try:
                name, read_field = fields[key]
            except KeyError:
                raise ValueError(f"{cls.__name__} has no field {key!r}") from None
            arguments[name] = read_field(value)
        return cls(**arguments)

    return read


def _reader(tp: Any) -> Reader:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _annotated(tp.__origin__, tp.__metadata__)
    if origin is Union or origin is types.UnionType:
        return _union(typing.get_args(tp), None)
    if origin is list:
        (item,) = typing.get_args(tp)
        read_item = reader(item)
        if read_item is _same:
            return list
        return lambda value: [read_item(v) for v in value]
    if origin is dict:
        read_value = reader(typing.get_args(tp)[1])
        if read_value is _same:
            return dict
        return lambda value: {k: read_value(v) for k, v in value.items()}
    if tp is float:
        return _float
    return _same  # str, int, bool, Literal, Any: JSON gives them as they are


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _annotated(base: Any, metadata: tuple[Any, ...]) -> Reader:
    tagged = next((m for m in metadata if isinstance(m, OneOf)), None)
    read = _union(typing.get_args(base), tagged) if tagged is not None else reader(base)
    for marker in reversed([m for m in metadata if isinstance(m, Before)]):
        read = _then(marker.func, read)
    return read


def _then(first: Reader, then: Reader) -> Reader:
    if then is _same:
        return first
    return lambda value: then(first(value))


def _union(members: tuple[Any, ...], tagged: OneOf | None) -> Reader:
    optional = type(None) in members
    members = tuple(m for m in members if m is not type(None))
    if tagged is not None:
        read = _tagged(members, tagged)
    elif len(members) == 1:
        read = reader(members[0])
    else:
        read = _by_shape(members)
    if not optional or read is _same:
        return read
    return lambda value: None if value is None else read(value)


def _by_shape(members: tuple[Any, ...]) -> Reader:
    """An untagged union (`QuietHours | Literal[False]`, `Scalar | list[Scalar]`): a mapping
    reads as its object member, a list as its list member, anything else as it is."""

    def bare(member: Any) -> Any:
        while typing.get_origin(member) is Annotated:
            member = member.__origin__
        return member

    mapping = next(
        (
            m
            for m in members
            if dataclasses.is_dataclass(bare(m)) or typing.get_origin(bare(m)) is dict
        ),
        None,
    )
    sequence = next((m for m in members if typing.get_origin(bare(m)) is list), None)
    read_mapping = reader(mapping) if mapping is not None else _same
    read_sequence = reader(sequence) if sequence is not None else _same
    if read_mapping is _same and read_sequence is _same:
        return _same

    def read(value: Any) -> Any:
        if isinstance(value, dict):
            return read_mapping(value)
        if isinstance(value, list):
            return read_sequence(value)
        return value

    return read


def _tagged(members: tuple[Any, ...], tagged: OneOf) -> Reader:
    by_tag: dict[Any, Reader] = {}
    which = tagged.discriminator
    for member in members:
        if isinstance(which, str):  # the member's Literal field of that name
            field = typing.get_type_hints(member)[which]
            for tag in typing.get_args(field):
                by_tag[tag] = reader(member)
        else:
            tag = next(m.tag for m in member.__metadata__ if isinstance(m, Tag))
            by_tag[tag] = reader(member.__origin__)

    if isinstance(which, str):
        key = which

        def read(value: Any) -> Any:
            tag = getattr(value, key) if dataclasses.is_dataclass(value) else value[key]
            return by_tag[tag](value)

        return read
    assert callable(which)
    return lambda value: by_tag[which(value)](value)


# --- dump: objects to JSON-safe data --------------------------------------------------------


@cache
def _keys(cls: type) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, alias(f.name)) for f in dataclasses.fields(cls))


def dump(value: Any) -> Any:
    """JSON-safe data (what `load` reads and pydantic validates): dataclasses by alias with
    their None fields left out; durations and times of day as strings; dates in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for name, key in _keys(type(value)):
            item = getattr(value, name)
            if item is not None:
                out[key] = dump(item)
        return out
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    formatted = _FORMATS.get(type(value))
    if formatted is not None:
        return formatted(value)
    if isinstance(value, datetime | date):  # as pydantic writes them
        return value.isoformat().replace("+00:00", "Z")
    return value


# --- validation: pydantic over the same classes -------------------------------------------


# What pydantic says of a dataclass, in the words it uses for a model (as before the language
# became dataclasses: API clients and tests read them).
_MESSAGES = {
    "unexpected_keyword_argument": "Extra inputs are not permitted",
    "dataclass_type": "Input should be a valid dictionary or instance of {class_name}",
}


def message(error: Any) -> str:
    """The message of one of a ValidationError's `errors()`, without "Value error, "."""
    found = _MESSAGES.get(error["type"])
    if found is not None:
        return found.format(**error.get("ctx", {}))
    return str(error["msg"]).removeprefix("Value error, ")


@cache
def adapter(tp: Any) -> Any:
    """pydantic's TypeAdapter of `tp` (built once): `validate_python`, `json_schema`."""
    from pydantic import TypeAdapter

    return TypeAdapter(tp)
