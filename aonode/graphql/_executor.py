"""Executing a parsed GraphQL query against a schema of resolver tables (GraphQL spec §6).

A schema is a map from type name to that type's fields, each a resolver
`(parent, arguments, context) -> value`. A resolver returns a scalar (text, number, boolean,
None), a list, or an `Obj` (a value of a named object type, whose own fields are then resolved
by that type's table). `Query` is the root type. Field errors follow §6.4.4: the field is null
and the error is listed under `errors` with its path; errors before execution (syntax, an unknown
operation, a missing variable) are a `RequestError` and no `data` at all.

Deliberately small: no type-system validation of the document beyond what execution needs (an
unknown field is an error when reached), no mutations, no subscriptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aonode.errors import BadMessage
from aonode.graphql._parser import (
    NO_DEFAULT,
    Document,
    EnumValue,
    Field,
    FragmentSpread,
    InlineFragment,
    Operation,
    SyntaxError_,
    Variable,
    parse,
)

__all__ = ["FieldError", "Obj", "QueryTimeout", "RequestError", "Resolver", "Schema", "execute"]


@dataclass(frozen=True)
class Obj:
    """A value of the object type `type`; its fields are resolved from `value`."""

    type: str
    value: Any


Resolver = Callable[[Any, dict[str, Any], Any], Any]
Schema = Mapping[str, Mapping[str, Resolver]]


class RequestError(BadMessage, ValueError):
    """The request cannot be executed at all (the message is the GraphQL error). Still a
    ValueError, as it was before it joined the `aonode.errors` tree."""


class FieldError(BadMessage, ValueError):
    """A resolver's refusal: the field becomes null and the message is reported."""


class QueryTimeout(RequestError):
    """The query ran past its deadline (checked before each field is resolved)."""

    status = 503


def _operation(doc: Document, name: str | None) -> Operation:
    if name:
        for op in doc.operations:
            if op.name == name:
                return op
        raise RequestError(f"Unknown operation named {name!r}.")
    if len(doc.operations) > 1:
        raise RequestError("Must provide operation name if query contains multiple operations.")
    return doc.operations[0]


def _coerce_variables(op: Operation, given: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (type_text, default) in op.variables.items():
        if name in given:
            out[name] = given[name]
        elif default is not NO_DEFAULT:
            out[name] = _literal(default, {})
        elif type_text.endswith("!"):
            raise RequestError(f'Variable "${name}" of required type "{type_text}" was not provided.')
    return out


def _literal(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, list):
        return [_literal(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v, variables) for k, v in value.items()}
    return value


class _Execution:
    def __init__(self, schema: Schema, doc: Document, variables: dict[str, Any], context: Any,
                 deadline: float | None) -> None:
        self.deadline = deadline
        self.schema = schema
        self.doc = doc
        self.variables = variables
        self.context = context
        self.errors: list[dict[str, Any]] = []

    def included(self, directives: Any) -> bool:
        for d in directives:
            if d.name in ("skip", "include"):
                cond = _literal(d.arguments.get("if"), self.variables)
                if not isinstance(cond, bool):
                    raise RequestError(f"Directive @{d.name} needs a boolean `if`.")
                if cond == (d.name == "skip"):
                    return False
        return True

    def collect(self, type_name: str, selections: Any, out: dict[str, list[Field]], seen: set[str]) -> None:
        """§6.3.2 CollectFields: the fields of a selection set, by response key."""
        for sel in selections:
            if not self.included(sel.directives):
                continue
            if isinstance(sel, Field):
                out.setdefault(sel.response_key, []).append(sel)
            elif isinstance(sel, FragmentSpread):
                if sel.name in seen:
                    continue
                seen.add(sel.name)
                frag = self.doc.fragments.get(sel.name)
                if frag is None:
                    raise RequestError(f'Unknown fragment "{sel.name}".')
                if frag.type_condition == type_name:
                    self.collect(type_name, frag.selections, out, seen)
            elif isinstance(sel, InlineFragment):
                if sel.type_condition in (None, type_name):
                    self.collect(type_name, sel.selections, out, seen)

    def object(self, obj: Obj, selections: Any, path: list[Any]) -> dict[str, Any]:
        fields: dict[str, list[Field]] = {}
        self.collect(obj.type, selections, fields, set())
        table = self.schema.get(obj.type, {})
        result: dict[str, Any] = {}
        for key, group in fields.items():
            first = group[0]
            merged = tuple(s for f in group for s in (f.selections or ()))
            at = [*path, key]
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise QueryTimeout("The query ran longer than this node's query_timeout.")
            if first.name == "__typename":
                result[key] = obj.type
                continue
            resolver = table.get(first.name)
            if resolver is None:
                self.errors.append({"message": f'Cannot query field "{first.name}" on type "{obj.type}".',
                                    "path": at})
                result[key] = None
                continue
            try:
                value = resolver(obj.value, _literal(first.arguments, self.variables), self.context)
                result[key] = self.complete(value, merged or None, at, first.name)
            except FieldError as exc:
                self.errors.append({"message": str(exc), "path": at})
                result[key] = None
        return result

    def complete(self, value: Any, selections: Any, path: list[Any], name: str) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [self.complete(v, selections, [*path, i], name) for i, v in enumerate(value)]
        if isinstance(value, Obj):
            if not selections:
                raise FieldError(f'Field "{name}" of type "{value.type}" must have a selection of subfields.')
            return self.object(value, selections, path)
        if selections:
            raise FieldError(f'Field "{name}" must not have a selection since it has no subfields.')
        return value


def execute(schema: Schema, query: str, variables: Mapping[str, Any] | None = None,
            operation_name: str | None = None, context: Any = None, timeout: float | None = None) -> dict[str, Any]:
    """Run `query` and return the GraphQL response map (`data`, and `errors` when any).

    `timeout` (seconds) bounds the execution: a field is not started after it.

    Raises:
        QueryTimeout: the query ran past `timeout`.
        RequestError: the query does not parse, names no runnable operation, is not a query, or
            lacks a required variable (a GraphQL "request error": no `data`).
    """
    try:
        doc = parse(query)
    except SyntaxError_ as exc:
        raise RequestError(str(exc)) from exc
    op = _operation(doc, operation_name)
    if op.kind != "query":
        raise RequestError(f"This server answers queries only, not a {op.kind}.")
    deadline = time.monotonic() + timeout if timeout is not None else None
    run = _Execution(schema, doc, _coerce_variables(op, variables or {}), context, deadline)
    data = run.object(Obj("Query", None), op.selections, [])
    out: dict[str, Any] = {"data": data}
    if run.errors:
        out["errors"] = run.errors
    return out
