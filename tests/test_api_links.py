"""The OpenAPI document's links (fms.api.links): a create leads to its record's
operations, a list to its first item, and the workflows to their next step; every link
points at an operation the document has, with that operation's path parameters."""

from __future__ import annotations

import pytest

from fms.api.links import _pointer


@pytest.fixture(scope="module")
def document(app):
    with app.test_client() as client:
        return client.get("/api/v1/openapi.json").get_json()


def _operation(document, ref: str) -> dict:
    assert ref.startswith("#/paths/"), ref
    encoded, method = ref.removeprefix("#/paths/").rsplit("/", 1)
    path = encoded.replace("~1", "/").replace("~0", "~")
    return document["paths"][path][method], path


def _links(document, path, method, status) -> dict:
    return document["paths"][path][method]["responses"][status].get("links", {})


def test_the_timesheet_workflow_can_be_followed(document):
    created = _links(document, "/api/v1/timesheets", "post", "201")
    assert created["GetRecord"]["operationRef"] == _pointer(
        "/api/v1/timesheets/{timesheet_id}", "get"
    )
    assert created["GetRecord"]["parameters"] == {"timesheet_id": "$response.body#/id"}
    assert {"PutEntries", "PostSubmit"} <= set(created)
    saved = _links(document, "/api/v1/timesheets/{timesheet_id}/entries", "put", "200")
    assert saved["PostSubmit"]["operationRef"].endswith("~1submit/post")
    submitted = _links(document, "/api/v1/timesheets/{timesheet_id}/submit", "post", "200")
    assert {"PostApprove", "PostReject"} <= set(submitted)
    decided = _links(document, "/api/v1/requisitions/{requisition_id}/submit", "post", "200")
    assert "PostDecision" in decided
    listed = _links(document, "/api/v1/engagements", "get", "200")
    assert listed["GetFirstItem"]["parameters"] == {"engagement_id": "$response.body#/items/0/id"}


def test_every_link_points_at_an_operation_with_its_parameters(document):
    count = 0
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                for name, link in (
                    (response.get("links") or {}).items() if isinstance(response, dict) else []
                ):
                    count += 1
                    target, path = _operation(document, link["operationRef"])
                    declared = {
                        p["name"] for p in target.get("parameters", []) if p["in"] == "path"
                    } or {segment[1:-1] for segment in path.split("/") if segment.startswith("{")}
                    assert set(link["parameters"]) <= declared, (name, path)
                    assert all(
                        v.startswith("$response.body#/") for v in link["parameters"].values()
                    )
    # creates of the main resources, lists and the workflows: dozens, not a handful
    assert count >= 60
