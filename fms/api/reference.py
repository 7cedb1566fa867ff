"""The readable API reference: the OpenAPI document turned into plain rows for a template.

Pure (a dict in, dataclasses out) so the page is server-rendered HTML that screen readers
and keyboards handle like any other page, with no client-side renderer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM_JSON = "application/problem+json"


@dataclass
class Field:
    name: str
    type: str
    ref: str | None
    required: bool
    description: str
    where: str = ""


@dataclass
class Response:
    status: str
    description: str
    media_type: str | None
    schema: str | None
    ref: str | None


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    parameters: list[Field]
    body_media_type: str | None
    body_schema: str | None
    body_ref: str | None
    responses: list[Response]
    errors: list[Response]
    security: list[str]


@dataclass
class Section:
    anchor: str
    title: str
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Schema:
    name: str
    description: str
    fields: list[Field]


@dataclass
class Reference:
    title: str
    version: str
    description: str
    sections: list[Section]
    schemas: list[Schema]
    security: dict[str, str]


def inline_code(text: str) -> Markup:
    """Descriptions mark code with backticks (as Markdown does): show it as <code>."""
    escaped = str(escape(text))  # escaped first: the only markup is the <code> added here
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))  # noqa: S704


def ref_name(ref: str | None) -> str | None:
    return ref.rsplit("/", 1)[-1] if ref else None


def type_of(schema: dict) -> tuple[str, str | None]:
    """A short type text, and the component schema it names (if any)."""
    if "$ref" in schema:
        name = ref_name(schema["$ref"])
        return name, name
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:
            parts = [type_of(s) for s in schema[key]]
            refs = [r for _, r in parts if r]
            return " or ".join(t for t, _ in parts), refs[0] if refs else None
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        inner, ref = type_of(schema.get("items", {}))
        return f"array of {inner}", ref
    if schema.get("format"):
        kind = f"{kind} ({schema['format']})"
    if schema.get("enum"):
        kind += ": one of " + ", ".join(str(v) for v in schema["enum"] if v is not None)
    return kind, None


def constraints(schema: dict) -> str:
    notes = []
    if "minimum" in schema and "maximum" in schema:
        notes.append(f"{schema['minimum']}–{schema['maximum']}")
    elif "minimum" in schema:
        notes.append(f"at least {schema['minimum']}")
    elif "maximum" in schema:
        notes.append(f"at most {schema['maximum']}")
    if "maxLength" in schema:
        notes.append(f"at most {schema['maxLength']} characters")
    if "default" in schema and schema["default"] is not None:
        notes.append(f"default {schema['default']}")
    if schema.get("readOnly"):
        notes.append("read-only")
    return "; ".join(notes)


def _describe(text: str, schema: dict) -> str:
    extra = constraints(schema)
    return f"{text} ({extra})" if text and extra else text or extra


def _schema_fields(schema: dict) -> list[Field]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        kind, ref = type_of(prop)
        rows.append(
            Field(name, kind, ref, name in required, _describe(prop.get("description", ""), prop))
        )
    return rows


def _content(content: dict | None) -> tuple[str | None, str | None, str | None]:
    if not content:
        return None, None, None
    media_type, body = next(iter(content.items()))
    kind, ref = type_of(body.get("schema", {}))
    return media_type, kind, ref


def _operation(spec: dict, path: str, method: str, op: dict) -> Operation:
    parameters = []
    for param in op.get("parameters", []):
        schema = param.get("schema", {})
        kind, ref = type_of(schema)
        parameters.append(
            Field(
                param["name"],
                kind,
                ref,
                bool(param.get("required")),
                _describe(param.get("description", ""), schema),
                where=param.get("in", ""),
            )
        )
    body = op.get("requestBody", {})
    body_type, body_schema, body_ref = _content(body.get("content"))
    responses, errors = [], []
    for status, answer in sorted(op.get("responses", {}).items(), key=lambda kv: kv[0]):
        if "$ref" in answer:
            answer = spec["components"]["responses"][ref_name(answer["$ref"])]
        media_type, kind, ref = _content(answer.get("content"))
        row = Response(status, answer.get("description", ""), media_type, kind, ref)
        (errors if media_type == PROBLEM_JSON else responses).append(row)
    security = sorted({name for item in op.get("security", []) for name in item})
    return Operation(
        method=method.upper(),
        path=path,
        anchor=f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "").strip("-"),
        summary=(op.get("summary") or "").strip(),
        description=(op.get("description") or "").strip(),
        parameters=parameters,
        body_media_type=body_type,
        body_schema=body_schema,
        body_ref=body_ref,
        responses=responses,
        errors=errors,
        security=security,
    )


def build_reference(spec: dict) -> Reference:
    """The OpenAPI document as sections (one per tag, in the document's tag order)."""
    sections = {
        tag["name"]: Section(
            anchor=f"tag-{tag['name']}", title=tag.get("description") or tag["name"]
        )
        for tag in spec.get("tags", [])
    }
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            tag = (op.get("tags") or ["other"])[0]
            section = sections.setdefault(tag, Section(anchor=f"tag-{tag}", title=tag))
            section.operations.append(_operation(spec, path, method, op))
    components = spec.get("components", {})
    schemas = [
        Schema(name, schema.get("description", ""), _schema_fields(schema))
        for name, schema in sorted(components.get("schemas", {}).items())
    ]
    security = {
        name: scheme.get("description", "")
        for name, scheme in components.get("securitySchemes", {}).items()
    }
    info = spec.get("info", {})
    return Reference(
        title=info.get("title", "API"),
        version=info.get("version", ""),
        description=info.get("description", ""),
        sections=[s for s in sections.values() if s.operations],
        schemas=schemas,
        security=security,
    )
