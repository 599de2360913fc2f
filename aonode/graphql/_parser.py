"""A GraphQL query-document parser for the executable subset (GraphQL spec, October 2021, §2).

Covers what Arweave gateway clients send: operations (`query`, anonymous `{ ... }`), operation
names, variable definitions with defaults, fields with aliases and arguments, nested selection
sets, named fragments and spreads, inline fragments, the `@skip`/`@include` directives, and every
input value form (variables, ints, floats, strings, block strings, booleans, null, enums, lists,
objects). Type-system definitions (`type`, `schema`, ...) are refused: a server does not execute
them. Pure: text in, an immutable syntax tree out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aonode.errors import BadMessage

__all__ = [
    "Document",
    "Field",
    "FragmentSpread",
    "InlineFragment",
    "Operation",
    "SyntaxError_",
    "Variable",
    "parse",
]

# Above this nesting, a query is an attack rather than a question.
MAX_DEPTH = 64
MAX_LENGTH = 100_000


class SyntaxError_(BadMessage, ValueError):
    """The document is not valid GraphQL (the message says where)."""


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class EnumValue:
    name: str


@dataclass(frozen=True)
class Directive:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None
    arguments: dict[str, Any]
    directives: tuple[Directive, ...]
    selections: tuple[Any, ...] | None

    @property
    def response_key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class FragmentSpread:
    name: str
    directives: tuple[Directive, ...]


@dataclass(frozen=True)
class InlineFragment:
    type_condition: str | None
    directives: tuple[Directive, ...]
    selections: tuple[Any, ...]


@dataclass(frozen=True)
class Operation:
    kind: str  # query, mutation or subscription
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type text, default or _NO_DEFAULT)
    selections: tuple[Any, ...]


@dataclass(frozen=True)
class Fragment:
    name: str
    type_condition: str
    selections: tuple[Any, ...]


@dataclass(frozen=True)
class Document:
    operations: tuple[Operation, ...]
    fragments: dict[str, Fragment] = field(default_factory=dict)


NO_DEFAULT: Any = object()

# §2.1: ignored tokens are whitespace, commas, line terminators, the BOM and comments.
_TOKEN = re.compile(
    r"""(?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
      | (?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
      | (?P<string>"(?:\\.|[^"\\\n\r])*")
      | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
      | (?P<punct>\.\.\.|[!$&()\:=@\[\]{}|])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SyntaxError_(f"Syntax Error: unexpected character {text[pos]!r} at offset {pos}.")
        kind = m.lastgroup or ""
        if kind != "skip":
            out.append((kind, m.group(), pos))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


def _string_value(raw: str) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            digits = body[i + 2:i + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise SyntaxError_(f"Syntax Error: invalid unicode escape \\u{digits}.")
            out.append(chr(int(digits, 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise SyntaxError_(f"Syntax Error: invalid escape \\{nxt}.")
    return "".join(out)


def _block_string_value(raw: str) -> str:
    # §2.9.4 BlockStringValue: common indentation and blank first/last lines removed.
    lines = raw[3:-3].replace('\\"""', '"""').replace("\r\n", "\n").split("\n")
    indents = [len(line) - len(line.lstrip(" \t")) for line in lines[1:] if line.strip(" \t")]
    common = min(indents) if indents else 0
    lines = [lines[0], *(line[common:] for line in lines[1:])]
    while lines and not lines[0].strip(" \t"):
        lines.pop(0)
    while lines and not lines[-1].strip(" \t"):
        lines.pop()
    return "\n".join(lines)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        tk, tv, _ = self.tokens[self.i]
        return (value is None or tv == value) and (kind is None or tk == kind) and tk != "end"

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tk, tv, pos = self.tokens[self.i]
        if tk == "end" or (value is not None and tv != value) or (kind is not None and tk != kind):
            wanted = repr(value) if value else (kind or "a token")
            found = "end of document" if tk == "end" else repr(tv)
            raise SyntaxError_(f"Syntax Error: expected {wanted}, found {found} at offset {pos}.")
        self.i += 1
        return tv

    def name(self) -> str:
        return self.take(kind="name")

    def document(self) -> Document:
        operations: list[Operation] = []
        fragments: dict[str, Fragment] = {}
        while not self.tokens[self.i][0] == "end":
            if self.peek("{"):
                operations.append(Operation("query", None, {}, self.selection_set()))
            elif self.peek("fragment", "name"):
                self.take()
                name = self.name()
                if name == "on":
                    raise SyntaxError_("Syntax Error: a fragment cannot be named 'on'.")
                self.take("on")
                cond = self.name()
                self.directives()
                if name in fragments:
                    raise SyntaxError_(f"There can be only one fragment named {name!r}.")
                fragments[name] = Fragment(name, cond, self.selection_set())
            elif self.peek(kind="name") and self.tokens[self.i][1] in ("query", "mutation", "subscription"):
                kind = self.take()
                op_name = self.name() if self.peek(kind="name") else None
                variables = self.variable_definitions() if self.peek("(") else {}
                self.directives()
                operations.append(Operation(kind, op_name, variables, self.selection_set()))
            else:
                _, tv, pos = self.tokens[self.i]
                raise SyntaxError_(f"Syntax Error: unexpected {tv!r} at offset {pos}; "
                                   "only queries and fragments can be executed.")
        if not operations:
            raise SyntaxError_("Syntax Error: the document holds no operation.")
        return Document(tuple(operations), fragments)

    def variable_definitions(self) -> dict[str, tuple[str, Any]]:
        self.take("(")
        out: dict[str, tuple[str, Any]] = {}
        while not self.peek(")"):
            self.take("$")
            name = self.name()
            self.take(":")
            type_text = self.type_ref()
            default = self.value(const=True) if self.peek("=") and self.take("=") else NO_DEFAULT
            self.directives()
            out[name] = (type_text, default)
        self.take(")")
        return out

    def type_ref(self) -> str:
        if self.peek("["):
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            text = f"[{inner}]"
        else:
            text = self.name()
        if self.peek("!"):
            self.take("!")
            text += "!"
        return text

    def directives(self) -> tuple[Directive, ...]:
        out = []
        while self.peek("@"):
            self.take("@")
            name = self.name()
            out.append(Directive(name, self.arguments() if self.peek("(") else {}))
        return tuple(out)

    def selection_set(self) -> tuple[Any, ...]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SyntaxError_(f"Syntax Error: selections nest deeper than {MAX_DEPTH}.")
        self.take("{")
        out: list[Any] = []
        while not self.peek("}"):
            out.append(self.selection())
        self.take("}")
        if not out:
            raise SyntaxError_("Syntax Error: an empty selection set.")
        self.depth -= 1
        return tuple(out)

    def selection(self) -> Any:
        if self.peek("..."):
            self.take("...")
            if self.peek(kind="name") and self.tokens[self.i][1] != "on":
                return FragmentSpread(self.name(), self.directives())
            cond = None
            if self.peek("on"):
                self.take("on")
                cond = self.name()
            directives = self.directives()
            return InlineFragment(cond, directives, self.selection_set())
        first = self.name()
        alias = None
        if self.peek(":"):
            self.take(":")
            alias, first = first, self.name()
        arguments = self.arguments() if self.peek("(") else {}
        directives = self.directives()
        selections = self.selection_set() if self.peek("{") else None
        return Field(first, alias, arguments, directives, selections)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        out: dict[str, Any] = {}
        while not self.peek(")"):
            name = self.name()
            self.take(":")
            if name in out:
                raise SyntaxError_(f"There can be only one argument named {name!r}.")
            out[name] = self.value(const=False)
        self.take(")")
        return out

    def value(self, *, const: bool) -> Any:
        kind, text, pos = self.tokens[self.i]
        if text == "$" and kind == "punct":
            if const:
                raise SyntaxError_(f"Syntax Error: a variable cannot be used in a default value (offset {pos}).")
            self.take()
            return Variable(self.name())
        if kind == "number":
            self.take()
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "string":
            self.take()
            return _string_value(text)
        if kind == "block":
            self.take()
            return _block_string_value(text)
        if kind == "name":
            self.take()
            return {"true": True, "false": False, "null": None}.get(text, EnumValue(text))
        if text == "[":
            self.take()
            items = []
            while not self.peek("]"):
                items.append(self.value(const=const))
            self.take("]")
            return items
        if text == "{":
            self.take()
            fields: dict[str, Any] = {}
            while not self.peek("}"):
                name = self.name()
                self.take(":")
                fields[name] = self.value(const=const)
            self.take("}")
            return fields
        found = "end of document" if kind == "end" else repr(text)
        raise SyntaxError_(f"Syntax Error: expected a value, found {found} at offset {pos}.")


def parse(text: str) -> Document:
    """Parse a GraphQL executable document.

    Raises:
        SyntaxError_: the text is not an executable GraphQL document (or is over 100,000
            characters or nests selections deeper than 64).
    """
    if len(text) > MAX_LENGTH:
        raise SyntaxError_(f"Syntax Error: a query is at most {MAX_LENGTH} characters.")
    return _Parser(text).document()
