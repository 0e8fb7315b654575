"""A small JSON Schema (draft 2020-12) compiler for the hot path: schema -> generated Python predicate.

The handler must spend well under 50 µs of CPU per event; `jsonschema` needs several hundred µs for the event
schema. This module turns the schema into the source of one Python function (straight-line checks, no calls
per keyword) and compiles it once per process. It understands only the keywords the event contract uses and
refuses any other (UnsupportedSchema), so a schema change it cannot follow fails loudly instead of validating
less. It only answers valid/invalid; the reason for an invalid event comes from `jsonschema` itself.
Instances are what `json.loads` returns (dict, list, str, int, float, bool, None). Tests check on generated
instances that this predicate and `jsonschema` agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default", "$defs"})
SUPPORTED = frozenset({
    "type", "enum", "const", "required", "properties", "additionalProperties", "minLength", "maxLength",
    "pattern", "minimum", "maximum", "maxProperties", "propertyNames", "items", "minItems", "$ref", "allOf",
    "if", "then", "oneOf",
}) | ANNOTATIONS
MAX_REF_DEPTH = 32

_TYPE_EXPR = {
    "string": "type({v}) is str",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword (or a $ref) this compiler does not implement."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: booleans are not numbers, 1 == 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise UnsupportedSchema(f"only local $ref are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


class _Generator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.namespace: dict[str, Any] = {"_MISSING": object(), "_json_equal": json_equal}
        self.functions: list[str] = []
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.name("_c")
        self.namespace[name] = value
        return name

    def function(self, schema: Any, depth: int = 0) -> str:
        """A module-level function `name(v) -> bool` for `schema`; returns its name."""
        name = self.name("_f")
        body = self.emit(schema, "v", depth)
        lines = [f"def {name}(v):", *("    " + line for line in body), "    return True"]
        self.functions.append("\n".join(lines))
        return name

    def emit(self, schema: Any, v: str, depth: int) -> list[str]:
        """Statements that `return False` when the value in variable `v` does not match `schema`."""
        if schema is True:
            return []
        if schema is False:
            return ["return False"]
        unknown = set(schema) - SUPPORTED
        if unknown:
            raise UnsupportedSchema(f"unsupported keywords: {sorted(unknown)}")
        scalar = self._scalar(schema, v)
        if scalar is not None:
            return scalar
        out: list[str] = []
        if "$ref" in schema:
            if depth >= MAX_REF_DEPTH:
                raise UnsupportedSchema("recursive $ref is not supported")
            out += self.emit(_resolve(self.root, schema["$ref"]), v, depth + 1)
        out += self._types(schema, v)
        out += self._strings(schema, v)
        out += self._numbers(schema, v)
        out += self._objects(schema, v, depth)
        out += self._arrays(schema, v, depth)
        for sub in schema.get("allOf", ()):
            out += self.emit(sub, v, depth)
        if "oneOf" in schema:
            calls = " + ".join(f"{self.function(s, depth)}({v})" for s in schema["oneOf"])
            out.append(f"if ({calls}) != 1: return False")
        if "if" in schema and "then" in schema:
            then = self.emit(schema["then"], v, depth)
            if then:
                out.append(f"if {self.function(schema['if'], depth)}({v}):")
                out += ["    " + line for line in then]
        return out

    def _scalar(self, schema: Mapping[str, Any], v: str) -> list[str] | None:
        """Tighter code for the common leaf `{"type": "string"|"number"|"integer" [, "null"], <bounds>}`."""
        keywords = set(schema) - ANNOTATIONS
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        nullable = "null" in types
        kinds = [t for t in types if t != "null"]
        if len(kinds) != 1 or "type" not in keywords:
            return None
        kind = kinds[0]
        if kind == "string" and keywords <= {"type", "minLength", "maxLength", "pattern"}:
            inner = [f"if type({v}) is not str: return False"]
            lo, hi = schema.get("minLength"), schema.get("maxLength")
            if lo or hi is not None:
                n = self.name("_n")
                inner.append(f"{n} = len({v})")
                if lo:
                    inner.append(f"if {n} < {int(lo)}: return False")
                if hi is not None:
                    inner.append(f"if {n} > {int(hi)}: return False")
            if "pattern" in schema:
                inner.append(f"if {self.const(re.compile(schema['pattern']).search)}({v}) is None: return False")
        elif kind in ("number", "integer") and keywords <= {"type", "minimum", "maximum"}:
            inner = [f"if not ({_TYPE_EXPR[kind].format(v=v)}): return False"]
            if "minimum" in schema:
                inner.append(f"if {v} < {self.const(schema['minimum'])}: return False")
            if "maximum" in schema:
                inner.append(f"if {v} > {self.const(schema['maximum'])}: return False")
        else:
            return None
        if not nullable:
            return inner
        return [f"if {v} is not None:", *("    " + line for line in inner)]

    def _types(self, schema: Mapping[str, Any], v: str) -> list[str]:
        out = []
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            cond = " or ".join(_TYPE_EXPR[t].format(v=v) for t in types)
            out.append(f"if not ({cond}): return False")
        for keyword in ("enum", "const"):
            if keyword not in schema:
                continue
            options = schema["enum"] if keyword == "enum" else [schema["const"]]
            strings = frozenset(o for o in options if isinstance(o, str))
            simple = all(isinstance(o, str) or o is None for o in options)
            if simple:
                cond = f"(type({v}) is str and {v} in {self.const(strings)})"
                if None in options:
                    cond += f" or {v} is None"
            else:
                cond = f"any(_json_equal({v}, o) for o in {self.const(tuple(options))})"
            out.append(f"if not ({cond}): return False")
        return out

    def _strings(self, schema: Mapping[str, Any], v: str) -> list[str]:
        lo, hi, pattern = schema.get("minLength"), schema.get("maxLength"), schema.get("pattern")
        if lo is None and hi is None and pattern is None:
            return []
        inner = []
        if lo is not None or hi is not None:
            n = self.name("_n")
            inner.append(f"{n} = len({v})")
            if lo:
                inner.append(f"if {n} < {int(lo)}: return False")
            if hi is not None:
                inner.append(f"if {n} > {int(hi)}: return False")
        if pattern is not None:
            inner.append(f"if {self.const(re.compile(pattern).search)}({v}) is None: return False")
        return [f"if type({v}) is str:", *("    " + line for line in inner)]

    def _numbers(self, schema: Mapping[str, Any], v: str) -> list[str]:
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is None and hi is None:
            return []
        inner = []
        if lo is not None:
            inner.append(f"if {v} < {self.const(lo)}: return False")
        if hi is not None:
            inner.append(f"if {v} > {self.const(hi)}: return False")
        return [f"if type({v}) is int or type({v}) is float:", *("    " + line for line in inner)]

    def _objects(self, schema: Mapping[str, Any], v: str, depth: int) -> list[str]:
        if not {"required", "properties", "additionalProperties", "maxProperties", "propertyNames"} & set(schema):
            return []
        inner = []
        props: Mapping[str, Any] = schema.get("properties", {})
        if "maxProperties" in schema:
            inner.append(f"if len({v}) > {int(schema['maxProperties'])}: return False")
        if schema.get("required"):
            cond = " or ".join(f"{name!r} not in {v}" for name in schema["required"])
            inner.append(f"if {cond}: return False")
        extra = schema.get("additionalProperties", True)
        known = self.const(frozenset(props))
        if extra is False:
            inner.append(f"if not {known}.issuperset({v}): return False")
        elif extra is not True:
            k, x = self.name("_k"), self.name("_x")
            body = self.emit(extra, x, depth)
            if body:
                inner.append(f"for {k}, {x} in {v}.items():")
                inner.append(f"    if {k} not in {known}:")
                inner += ["        " + line for line in body]
        if "propertyNames" in schema:
            k = self.name("_k")
            body = self.emit(schema["propertyNames"], k, depth)
            if body:
                inner.append(f"for {k} in {v}:")
                inner += ["    " + line for line in body]
        for name, sub in props.items():
            x = self.name("_x")
            body = self.emit(sub, x, depth)
            if body:
                inner.append(f"{x} = {v}.get({name!r}, _MISSING)")
                inner.append(f"if {x} is not _MISSING:")
                inner += ["    " + line for line in body]
        return [f"if type({v}) is dict:", *("    " + line for line in inner)] if inner else []

    def _arrays(self, schema: Mapping[str, Any], v: str, depth: int) -> list[str]:
        if "items" not in schema and "minItems" not in schema:
            return []
        inner = []
        if schema.get("minItems"):
            inner.append(f"if len({v}) < {int(schema['minItems'])}: return False")
        x = self.name("_x")
        body = self.emit(schema.get("items", True), x, depth)
        if body:
            inner.append(f"for {x} in {v}:")
            inner += ["    " + line for line in body]
        return [f"if type({v}) is list:", *("    " + line for line in inner)] if inner else []


def generate_source(schema: Any, root: Mapping[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    """(python source, entry function name, namespace) for `schema`; exposed for tests and debugging."""
    gen = _Generator(schema if root is None else root)
    entry = gen.function(schema)
    return "\n\n".join(gen.functions) + "\n", entry, gen.namespace


def compile_schema(schema: Any, root: Mapping[str, Any] | None = None) -> Predicate:
    """Compile `schema` (a sub-schema of `root`, default itself) into a predicate `instance -> bool`."""
    source, entry, namespace = generate_source(schema, root)
    exec(compile(source, "<fastschema>", "exec"), namespace)  # noqa: S102 - source generated from our own schema
    return namespace[entry]
