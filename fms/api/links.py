"""OpenAPI links: how one answer leads to the next call (OpenAPI 3.1 `links`).

A client (or schemathesis' stateful phase) can follow them without reading prose:

- a create (`POST /x` answering 201 with the new record's `id`) links to every operation
  on that record: `/x/{x_id}` and what lies under it (read, change, delete, submit ...);
- a list (`GET /x` answering `{items: [...]}`) links to reading its first item;
- FLOWS names the steps of the workflows whose order matters (a timesheet is opened, its
  days saved, submitted, then approved or rejected; a requisition submitted, then decided;
  an amendment proposed, then decided).

The links are computed from the finished document (every blueprint registered, each
domain's paths as they are), so a new area's routes get theirs without an entry here.
"""

from __future__ import annotations

import re

_PARAM = re.compile(r"^\{(\w+)\}$")
_METHODS = ("get", "put", "patch", "post", "delete")
SAME_RECORD = "$response.body#/id"  # the answer is the record the next step acts on

# (source path, method, status) -> [(target path, method, {parameter: runtime expression})]
FLOWS: dict[tuple[str, str, str], list[tuple[str, str, dict[str, str]]]] = {
    ("/api/v1/timesheets/{timesheet_id}/entries", "put", "200"): [
        (
            "/api/v1/timesheets/{timesheet_id}/submit",
            "post",
            {"timesheet_id": SAME_RECORD},
        ),
    ],
    ("/api/v1/timesheets/{timesheet_id}/submit", "post", "200"): [
        (
            "/api/v1/timesheets/{timesheet_id}/approve",
            "post",
            {"timesheet_id": SAME_RECORD},
        ),
        (
            "/api/v1/timesheets/{timesheet_id}/reject",
            "post",
            {"timesheet_id": SAME_RECORD},
        ),
    ],
    ("/api/v1/requisitions/{requisition_id}/submit", "post", "200"): [
        (
            "/api/v1/requisitions/{requisition_id}/decision",
            "post",
            {"requisition_id": SAME_RECORD},
        ),
    ],
    # a large export: its job's progress, then its file
    ("/api/v1/reports/exports", "post", "202"): [
        ("/api/v1/reports/exports/{export_id}", "get", {"export_id": SAME_RECORD}),
    ],
    ("/api/v1/engagements/{engagement_id}/amendments", "post", "201"): [
        (
            "/api/v1/amendments/{amendment_id}/decision",
            "post",
            {"amendment_id": SAME_RECORD},
        ),
    ],
}


def _pointer(path: str, method: str) -> str:
    """The operationRef of an operation: a JSON pointer into this document."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _name(path: str, method: str, base: str) -> str:
    """A link's name in words: the method and the target's path below its record."""
    rest = [s for s in path[len(base) :].split("/") if s and not _PARAM.match(s)]
    words = "".join(w.capitalize() for part in rest for w in re.split(r"[-_]", part))
    return method.capitalize() + (words or "Record")


def _schema_of(doc: dict, response: dict) -> dict:
    """The JSON schema of an answer (one level of $ref resolved)."""
    content = (response.get("content") or {}).get("application/json") or {}
    schema = content.get("schema") or {}
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = doc.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return schema


def _has(schema: dict, name: str) -> bool:
    return name in (schema.get("properties") or {})


def _record_operations(paths: dict, base: str) -> list[tuple[str, str, str]]:
    """(path, method, id parameter) of every operation on `base/{id}` and below it, where
    that id is the only path parameter."""
    out = []
    for path, item in paths.items():
        if not path.startswith(base + "/"):
            continue
        first = path[len(base) + 1 :].split("/", 1)[0]
        match = _PARAM.match(first)
        if match is None or path.count("{") != 1:
            continue
        for method in _METHODS:
            if method in item:
                out.append((path, method, match.group(1)))
    return out


def _link(path: str, method: str, parameters: dict[str, str], description: str) -> dict:
    return {
        "operationRef": _pointer(path, method),
        "parameters": parameters,
        "description": description,
    }


def declare(doc: dict) -> dict:
    """Add `links` to the answers of `doc` (the OpenAPI document as a dict), in place."""
    paths = doc.get("paths") or {}
    for base, item in paths.items():
        create = (item.get("post") or {}).get("responses", {}).get("201")
        if isinstance(create, dict) and _has(_schema_of(doc, create), "id"):
            links = {
                _name(path, method, base): _link(
                    path, method, {param: SAME_RECORD}, "The record just created."
                )
                for path, method, param in _record_operations(paths, base)
            }
            if links:
                create.setdefault("links", {}).update(links)
        listing = (item.get("get") or {}).get("responses", {}).get("200")
        if isinstance(listing, dict) and _has(_schema_of(doc, listing), "items"):
            for path, method, param in _record_operations(paths, base):
                if method == "get" and path == f"{base}/{{{param}}}":
                    listing.setdefault("links", {})["GetFirstItem"] = _link(
                        path, method, {param: "$response.body#/items/0/id"}, "The first listed."
                    )
    for (source, method, status), targets in FLOWS.items():
        response = (paths.get(source, {}).get(method) or {}).get("responses", {}).get(status)
        if not isinstance(response, dict):
            continue
        links = response.setdefault("links", {})
        for target, target_method, parameters in targets:
            if target_method in paths.get(target, {}):
                links[_name(target, target_method, target.rsplit("/{", 1)[0])] = _link(
                    target, target_method, parameters, "The next step of the workflow."
                )
    return doc
