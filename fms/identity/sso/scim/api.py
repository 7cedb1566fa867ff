"""/scim/v2: the SCIM 2.0 endpoint identity providers provision through (RFC 7644).

Authentication is the organization's bearer token (no cookie, so no CSRF token either).
Answers are application/scim+json, errors in SCIM's error format.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from fms.errors import DomainError
from fms.extensions import db
from fms.identity.sso.scim import services as scim
from fms.identity.sso.scim.services import ScimError
from fms.tenancy import scope_session

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
SCIM_JSON = "application/scim+json"
MAX_COUNT = 200
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def base_url() -> str:
    return current_app.config["FMS_BASE_URL"].rstrip("/") + "/scim/v2"


def _answer(body, status: int = 200, *, etag: str | None = None, location: str | None = None):
    response = jsonify(body)
    response.status_code = status
    response.content_type = SCIM_JSON
    if etag:
        response.headers["ETag"] = etag
    if location:
        response.headers["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None):
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    response = _answer(body, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="FMS SCIM"'
    return response


@bp.errorhandler(ScimError)
def _scim_error(exc: ScimError):
    db.session.rollback()
    return _error(exc.status, exc.detail, exc.scim_type)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    db.session.rollback()
    return _error(exc.status, exc.detail)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    return _error(exc.code or 500, exc.description or exc.name)


@bp.before_request
def _authenticate():
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    actor = scim.authenticate(db.session, bearer=bearer, ip=request.remote_addr)
    scope_session(db.session, actor.org_id)
    g.scim_actor = actor


def _body() -> dict:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return data


def _paging() -> tuple[int, int]:
    source = g.get("scim_search") or request.args
    try:
        start = max(int(source.get("startIndex") or 1), 1)
        count = min(
            max(int(source.get("count") if source.get("count") is not None else 100), 0), MAX_COUNT
        )
    except (TypeError, ValueError):
        raise ScimError(400, "startIndex and count are numbers.", "invalidValue") from None
    return start, count


def _check_if_match(current_etag: str) -> None:
    wanted = request.headers.get("If-Match")
    if (
        wanted
        and wanted.strip() != "*"
        and current_etag not in [v.strip() for v in wanted.split(",")]
    ):
        raise ScimError(412, "The resource changed since you read it (ETag mismatch).")


def _list(total: int, start: int, resources: list) -> dict:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": [project(r) for r in resources],
    }


_ALWAYS = {"id", "schemas"}


def _projection() -> tuple[list[str], list[str]]:
    source = g.get("scim_search") or request.args

    def names(key):
        raw = source.get(key) or []
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise ScimError(400, f"{key} is a list of attribute names.", "invalidValue")
        return [n.strip() for n in raw if n and n.strip()]

    return names("attributes"), names("excludedAttributes")


def _strip_schema(name: str) -> str:
    for urn in (scim.USER_SCHEMA, scim.GROUP_SCHEMA):
        if name.lower().startswith(urn.lower() + ":"):
            return name[len(urn) + 1 :]
    return name


def project(body: dict) -> dict:
    """`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5); id and schemas stay."""
    wanted, excluded = _projection()
    if not wanted and not excluded:
        return body
    out = dict(body)
    if wanted:
        tops = {_strip_schema(n).split(".")[0].lower() for n in wanted}
        out = {k: v for k, v in body.items() if k in _ALWAYS or k.lower() in tops}
        for name in wanted:
            top, _, sub = _strip_schema(name).partition(".")
            value = out.get(top)
            if sub and isinstance(value, dict):
                out[top] = {k: v for k, v in value.items() if k.lower() == sub.lower()}
            elif sub and isinstance(value, list):
                out[top] = [
                    {k: v for k, v in item.items() if k.lower() == sub.lower()}
                    for item in value
                    if isinstance(item, dict)
                ]
    for name in excluded:
        top, _, sub = _strip_schema(name).partition(".")
        key = next((k for k in out if k.lower() == top.lower()), None)
        if key is None or key in _ALWAYS:
            continue
        if not sub:
            out.pop(key)
        elif isinstance(out[key], dict):
            out[key] = {k: v for k, v in out[key].items() if k.lower() != sub.lower()}
        elif isinstance(out[key], list):
            out[key] = [
                {k: v for k, v in item.items() if k.lower() != sub.lower()}
                for item in out[key]
                if isinstance(item, dict)
            ]
    return out


def _single(body: dict, status: int = 200):
    etag = body["meta"]["version"]
    if status == 200 and request.method == "GET":
        none_match = request.headers.get("If-None-Match")
        if none_match and etag in [v.strip() for v in none_match.split(",")]:
            response = current_app.response_class(status=304)
            response.headers["ETag"] = etag
            return response
    location = body["meta"]["location"] if status == 201 else None
    return _answer(project(body), status, etag=etag, location=location)


# --- discovery -----------------------------------------------------------------------------


_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _read_only() -> None:
    if request.method != "GET":
        raise ScimError(405, f"{request.method} is not supported here.")


@bp.route("/ServiceProviderConfig", methods=_ALL_METHODS)
def service_provider_config():
    _read_only()
    return _answer(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/fms/fms/blob/main/README.md#sso-setup",
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A token an org admin creates under Single sign-on.",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": base_url() + "/ServiceProviderConfig",
            },
        }
    )


def _resource_types() -> list[dict]:
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": f"/{name}s",
            "description": description,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url()}/ResourceTypes/{name}",
            },
        }
        for name, description, schema in (
            ("User", "People of the organization", scim.USER_SCHEMA),
            ("Group", "Groups, mapped to FMS roles", scim.GROUP_SCHEMA),
        )
    ]


@bp.route("/ResourceTypes", methods=_ALL_METHODS)
def resource_types():
    _read_only()
    items = _resource_types()
    return _answer(_list(len(items), 1, items))


@bp.route("/ResourceTypes/<name>", methods=_ALL_METHODS)
def resource_type(name: str):
    _read_only()
    for item in _resource_types():
        if item["id"] == name:
            return _answer(item)
    raise ScimError(404, f"No resource type {name}.")


def _attribute(name, type_="string", *, required=False, multi=False, sub=None, **extra):
    attribute = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": extra.pop("description", name),
        "required": required,
        "caseExact": extra.pop("caseExact", False),
        "mutability": extra.pop("mutability", "readWrite"),
        "returned": extra.pop("returned", "default"),
        "uniqueness": extra.pop("uniqueness", "none"),
    }
    if sub:
        attribute["subAttributes"] = sub
    attribute.update(extra)
    return attribute


def _schemas() -> list[dict]:
    user = {
        "id": scim.USER_SCHEMA,
        "name": "User",
        "description": "A person of the organization",
        "attributes": [
            _attribute("userName", required=True, uniqueness="server"),
            _attribute(
                "name",
                "complex",
                sub=[
                    _attribute("formatted"),
                    _attribute("familyName"),
                    _attribute("givenName"),
                ],
            ),
            _attribute("displayName"),
            # FMS identifies people by email: required here (Entra ID and Okta send it)
            _attribute(
                "emails",
                "complex",
                multi=True,
                required=True,
                sub=[
                    _attribute("value", required=True),
                    _attribute("type", canonicalValues=["work", "home", "other"]),
                    _attribute("primary", "boolean"),
                ],
            ),
            _attribute("active", "boolean"),
        ],
    }
    group = {
        "id": scim.GROUP_SCHEMA,
        "name": "Group",
        "description": "A group; FMS maps group names to roles",
        "attributes": [
            _attribute("displayName", required=True, uniqueness="server"),
            _attribute(
                "members",
                "complex",
                multi=True,
                sub=[
                    _attribute("value", mutability="immutable"),
                    _attribute("display", mutability="readOnly"),
                    _attribute(
                        "$ref", "reference", mutability="immutable", referenceTypes=["User"]
                    ),
                    _attribute("type", mutability="immutable", canonicalValues=["User"]),
                ],
            ),
        ],
    }
    for schema in (user, group):
        schema["schemas"] = ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        schema["meta"] = {
            "resourceType": "Schema",
            "location": f"{base_url()}/Schemas/{schema['id']}",
        }
    return [user, group]


@bp.route("/Schemas", methods=_ALL_METHODS)
def schemas():
    _read_only()
    items = _schemas()
    return _answer(_list(len(items), 1, items))


# route parameters here do not end in _id: SCIM ids are checked against the token's
# organization (tests/test_scim.py), not by the signed-in-session route walk
@bp.route("/Schemas/<path:urn>", methods=_ALL_METHODS)
def schema(urn: str):
    _read_only()
    for item in _schemas():
        if item["id"] == urn:
            return _answer(item)
    raise ScimError(404, f"No schema {urn}.")


# --- users ---------------------------------------------------------------------------------


def _filter_text() -> str | None:
    return (g.get("scim_search") or request.args).get("filter")


@bp.post("/Users/.search")
def search_users():
    g.scim_search = _body()
    return users()


@bp.post("/Groups/.search")
def search_groups():
    g.scim_search = _body()
    return groups()


@bp.get("/Users")
def users():
    start, count = _paging()
    total, rows = scim.list_users(db.session, filter_text=_filter_text(), start=start, count=count)
    db.session.commit()
    return _answer(_list(total, start, [scim.user_body(m, u, base_url()) for m, u in rows]))


@bp.post("/Users")
def create_user():
    membership, user = scim.create_user(db.session, actor=g.scim_actor, payload=_body())
    body = scim.user_body(membership, user, base_url())
    db.session.commit()
    return _single(body, 201)


@bp.route("/Users/<ident>", methods=["GET", "PUT", "PATCH", "DELETE"])
def user(ident: str):
    user_id = ident
    membership, person = scim.get_user(db.session, user_id=user_id)
    if request.method == "GET":
        body = scim.user_body(membership, person, base_url())
        db.session.commit()
        return _single(body)
    _check_if_match(scim.user_body(membership, person, base_url())["meta"]["version"])
    actor = g.scim_actor
    if request.method == "DELETE":
        scim.delete_user(db.session, actor=actor, user_id=user_id)
        db.session.commit()
        return current_app.response_class(status=204)
    if request.method == "PUT":
        membership, person = scim.replace_user(
            db.session, actor=actor, user_id=user_id, payload=_body()
        )
    else:
        membership, person = scim.patch_user(
            db.session, actor=actor, user_id=user_id, operations=_body().get("Operations")
        )
    body = scim.user_body(membership, person, base_url())
    db.session.commit()
    return _single(body)


# --- groups --------------------------------------------------------------------------------


def _group_body(group):
    return scim.group_body(group, scim.group_members(db.session, group), base_url())


@bp.get("/Groups")
def groups():
    start, count = _paging()
    total, rows = scim.list_groups(db.session, filter_text=_filter_text(), start=start, count=count)
    resources = [_group_body(group) for group in rows]
    db.session.commit()
    return _answer(_list(total, start, resources))


@bp.post("/Groups")
def create_group():
    group = scim.create_group(db.session, actor=g.scim_actor, payload=_body())
    body = _group_body(group)
    db.session.commit()
    return _single(body, 201)


@bp.route("/Groups/<ident>", methods=["GET", "PUT", "PATCH", "DELETE"])
def group(ident: str):
    group_id = ident
    record = scim.get_group(db.session, group_id=group_id)
    if request.method == "GET":
        body = _group_body(record)
        db.session.commit()
        return _single(body)
    _check_if_match(_group_body(record)["meta"]["version"])
    actor = g.scim_actor
    if request.method == "DELETE":
        scim.delete_group(db.session, actor=actor, group_id=group_id)
        db.session.commit()
        return current_app.response_class(status=204)
    if request.method == "PUT":
        record = scim.replace_group(db.session, actor=actor, group_id=group_id, payload=_body())
    else:
        record = scim.patch_group(
            db.session, actor=actor, group_id=group_id, operations=_body().get("Operations")
        )
    body = _group_body(record)
    db.session.commit()
    return _single(body)


@bp.post("/.search")
def search_everything():
    """Searching Users and Groups at once is not offered (RFC 7644 §3.4.3 allows 501)."""
    raise ScimError(501, "Search /Users/.search or /Groups/.search instead.")


@bp.route("/<path:anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(anything: str):
    raise ScimError(404, "No such SCIM endpoint.")
