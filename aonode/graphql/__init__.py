"""A GraphQL server for the subset Arweave gateway clients use (`query@1.0`'s `/graphql`).

`execute(schema, query, variables, operation_name, context)` runs a query against resolver
tables; `SCHEMA` is the Arweave gateway schema answered from a node's message cache."""

from aonode.graphql._executor import FieldError, Obj, QueryTimeout, RequestError, Schema, execute
from aonode.graphql._gateway import SCHEMA, Item, cursor_of, item_of, matching, transaction_ids
from aonode.graphql._parser import SyntaxError_, parse

__all__ = [
    "SCHEMA",
    "FieldError",
    "Item",
    "Obj",
    "QueryTimeout",
    "RequestError",
    "Schema",
    "SyntaxError_",
    "cursor_of",
    "execute",
    "item_of",
    "matching",
    "parse",
    "transaction_ids",
]
