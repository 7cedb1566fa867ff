"""The one list component: every list page and its API route page, sort, filter and export
through a `ListSpec`.

A spec names the list's columns (key, label, the SQL expression it sorts by, the kind of
value: text, number, money, rate, date or state, and a unit), the filters it accepts (each
parsed strictly from the query string: a bad value is a 422 naming the filter, never a
silent fallback), its default sort, and how to build its statement. `parse_query` reads
`?sort=-start_date&per_page=100&page=3&<filters>` into a `ListQuery`; `run_list` counts
the matching rows and returns one page (two statements, however many rows);
`export_rows` yields every matching row as typed cells for `fms.exports`.

Pages render with the macros in templates/_lists.html; the API takes the same `sort`,
`page`, `per_page` and filters (`api_params` documents them in the OpenAPI document).
Saved views (`fms.workspace_views`) store a list's query string per person or shared with
the organization. A list with a bulk action names its endpoint; the macros add the
checkbox column and the bar, and the endpoint shows a confirmation before it acts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

from fms.errors import InvalidInput

# text matching is fms.lookups' (Unicode case folding the same on both databases)
from fms.lookups import LIKE_ESCAPE, contains_text, like_pattern  # noqa: F401 - re-exported

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# Above this many rows an export runs as a background job (FMS_EXPORT_INLINE_ROWS).
EXPORT_INLINE_ROWS = 10_000
EXPORT_JOBS_PER_USER = 3  # large exports one person may have waiting or running at once
KINDS = ("text", "number", "money", "rate", "date", "state")
_REGISTRY: dict[str, ListSpec] = {}


@dataclass(frozen=True)
class Column:
    """One column: what it shows, how it sorts (`sort`, a SQL expression; None: not
    sortable) and its raw export value (`value(row)`, a typed cell)."""

    key: str
    label: str
    sort: Any = None
    kind: str = "text"
    unit: str | None = None
    value: Callable[[Any], Any] | None = None
    export: bool = True
    page: bool = True  # False: in exports and the API's sort keys, not a column on the page
    # a field with a permission of its own (FIELD_PERMISSIONS): only those who may read it
    # see the column, sort by it or export it (sorting would reveal the values' order)
    field: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass(frozen=True)
class Filter:
    """A query-string filter: `parse(text)` raises ValueError on a bad value, `apply(stmt,
    value, ctx)` narrows the statement (ctx: actor, today, all parsed `values`);
    `choices` (value, label) pairs make it a select."""

    key: str
    label: str
    parse: Callable[[str], Any]
    apply: Callable[[Any, Any, dict], Any]
    choices: Sequence[tuple[str, str]] | Callable[..., Sequence[tuple[str, str]]] | None = None
    kind: str = "text"  # text, select, date, number
    message: str = "Not a value this list knows."
    api_type: str = "string"
    default: str | None = None  # a hidden filter's value when absent (which list on a page)
    # pages drop a bad value of a lenient filter (ids and levels, like `id_arg` does as a
    # `type=`) instead of answering 422; the API is always strict
    lenient: bool = False


@dataclass
class ListSpec:
    """A list: `statement(session, actor, context)` builds the filtered select (the rows of
    every page and export); `columns` sort and export it; `default_sort` like "-start_date";
    `tiebreak` a unique expression that makes paging stable."""

    key: str
    title: str
    columns: list[Column]
    statement: Callable[..., Any]
    tiebreak: Any
    default_sort: str
    filters: list[Filter] = field(default_factory=list)
    endpoint: str | None = None
    bulk: dict | None = None  # {"endpoint": ..., "label": ..., "id": callable(row)}
    permission: str | None = None

    def __post_init__(self):
        _REGISTRY[self.key] = self

    def seen_by(self, actor) -> ListSpec:
        """The list as this actor may see it: without the columns of fields they may not
        read. A copy, not registered: the registry keeps the whole list."""
        from fms.identity.permissions import may_see_field

        hidden = [c for c in self.columns if c.field and not may_see_field(actor, c.field)]
        if not hidden:
            return self
        narrowed = copy.copy(self)
        narrowed.columns = [c for c in self.columns if c not in hidden]
        return narrowed

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    @property
    def page_columns(self) -> list[Column]:
        return [c for c in self.columns if c.page]

    @property
    def sort_keys(self) -> list[str]:
        return [c.key for c in self.columns if c.sort is not None]

    def filter(self, key: str) -> Filter | None:
        return next((f for f in self.filters if f.key == key), None)


# --- shared filter parts -------------------------------------------------------------------

TEXT_MESSAGE = "At most 100 characters."


def search_text(text: str) -> str:
    """A search filter's value: at most 100 characters."""
    if len(text) > 100:
        raise ValueError(text)
    return text


def flag(text: str) -> bool:
    """A yes/no filter's value: 1 or 0."""
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def search_filter(label: str, *columns) -> Filter:
    """`?q=`: any of `columns` contains the text."""

    def apply(stmt, value, ctx):
        condition = contains_text(columns[0], value)
        for column in columns[1:]:
            condition = condition | contains_text(column, value)
        return stmt.where(condition)

    return Filter("q", label, search_text, apply, message=TEXT_MESSAGE)


def which_list(key: str) -> Filter:
    """`?unit=<key>` for one of several lists on a page: the page sorts, filters and pages
    the list it names; every link of that list carries it."""

    def parse(text: str) -> str:
        if text != key:
            raise ValueError(text)
        return text

    return Filter("unit", "", parse, lambda s, v, c: s, kind="hidden", default=key)


def active_filter(column, *, no: str = "Archived") -> Filter:
    """`?active=1|0` on an is_active column."""
    return Filter(
        "active",
        "Status",
        flag,
        lambda s, v, c: s.where(column.is_(v)),
        choices=[("1", "Active"), ("0", no)],
        kind="select",
        message=f"1 (active) or 0 ({no.lower()}).",
    )


def spec_for(key: str) -> ListSpec:
    return _REGISTRY[key]


@dataclass
class ListQuery:
    """What a request asked of a list: filters (parsed), sort, page and page size."""

    spec: ListSpec
    filters: dict[str, Any]
    raw: dict[str, str]
    sort: str
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def args(self, **changes) -> dict[str, str]:
        """The query string's arguments, with `changes` (None drops one)."""
        args = dict(self.raw)
        if self.sort != self.spec.default_sort:
            args["sort"] = self.sort
        if self.per_page != DEFAULT_PAGE_SIZE:
            args["per_page"] = str(self.per_page)
        if self.page != 1:
            args["page"] = str(self.page)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = str(value)
        return args

    def query_string(self, **changes) -> str:
        return urlencode(self.args(**changes))

    def filter_string(self) -> str:
        """Filters and sort only (what a saved view and an export keep)."""
        return self.query_string(page=None, per_page=None)

    def sort_link(self, key: str) -> str:
        """The query string that sorts by `key`: ascending first, then descending."""
        new = f"-{key}" if self.sort == key else key
        return self.query_string(sort=new, page=None)

    def aria_sort(self, key: str) -> str:
        if self.sort_key != key:
            return "none"
        return "descending" if self.descending else "ascending"

    @property
    def filtered(self) -> bool:
        return any(self.spec.filter(k).kind != "hidden" for k in self.raw)


def _bad(name: str, message: str):
    return InvalidInput(f"{name}: {message}", errors={name: [message]})


def parse_query(spec: ListSpec, args, *, api: bool = False) -> ListQuery:
    """A list's query string, strictly: unknown sort keys, page sizes outside 25/50/100/200
    and filter values the filter refuses are a 422 (except lenient filters, dropped, and a
    bad page number, the first page); an empty filter is no filter."""
    from fms.forms import page_arg
    from fms.input import parse_int

    filters, raw = {}, {}
    for f in spec.filters:
        text = (args.get(f.key) or "").strip() or (f.default or "")
        if not text:
            continue
        try:
            filters[f.key] = f.parse(text)
        except (ValueError, TypeError):
            if f.lenient:
                continue
            raise _bad(f.key, f.message) from None
        raw[f.key] = text
    sort = (args.get("sort") or "").strip() or spec.default_sort
    if sort.lstrip("-") not in spec.sort_keys or sort.startswith("--"):
        raise _bad("sort", "Sort by one of: " + ", ".join(spec.sort_keys) + " (-key: descending).")
    try:  # a page number out of range shows the first page (fms.forms.page_arg's rule)
        page = page_arg(args.get("page") or "1")
    except ValueError:
        page = 1
    try:
        per_page = parse_int(args.get("per_page") or str(DEFAULT_PAGE_SIZE))
    except ValueError:
        per_page = -1
    if per_page not in PAGE_SIZES:
        raise _bad("per_page", "One of " + ", ".join(map(str, PAGE_SIZES)) + ".")
    return ListQuery(spec, filters, raw, sort, page, per_page)


def query_from_string(spec: ListSpec, query_string: str) -> ListQuery:
    from urllib.parse import parse_qsl

    return parse_query(spec, dict(parse_qsl(query_string)))


def filtered_statement(session, q: ListQuery, *, actor, context: dict | None = None):
    """The spec's statement narrowed by every filter given; `context` (today, ...) and the
    parsed filters (`values`) reach the statement and the filters."""
    ctx = dict(context or {}, values=q.filters, actor=actor)
    stmt = q.spec.statement(session, actor, ctx)
    for key, value in q.filters.items():
        stmt = q.spec.filter(key).apply(stmt, value, ctx)
    return stmt


def ordered(q: ListQuery, stmt):
    column = q.spec.column(q.sort_key)
    expression = column.sort
    order = expression.desc() if q.descending else expression.asc()
    return stmt.order_by(order.nulls_last(), q.spec.tiebreak)


def count(session, stmt) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))


@dataclass
class ListPage:
    query: ListQuery
    rows: list
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def page(self) -> int:
        return self.query.page

    @property
    def spec(self) -> ListSpec:
        return self.query.spec

    @property
    def first_row(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.query.per_page + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.query.per_page)


def run_list(session, q: ListQuery, *, actor, context: dict | None = None) -> ListPage:
    """One page of a list and the count of all rows its filters match (two statements).

    A page past the end shows the last page."""
    stmt = filtered_statement(session, q, actor=actor, context=context)
    total = count(session, stmt)
    last = max(1, -(-total // q.per_page))
    if q.page > last:
        q.page = last
    return ListPage(q, _page_rows(session, q, stmt), total)


def _page_rows(session, q: ListQuery, stmt) -> list:
    return session.execute(
        ordered(q, stmt).limit(q.per_page).offset((q.page - 1) * q.per_page)
    ).all()


def export_columns(spec: ListSpec) -> list[Column]:
    return [c for c in spec.columns if c.export and c.value is not None]


def export_header(spec: ListSpec) -> list[str]:
    return [c.label + (f" ({c.unit})" if c.unit else "") for c in export_columns(spec)]


def export_rows(
    session, q: ListQuery, *, actor, context: dict | None = None, progress=None, total=None
) -> Iterator[list]:
    """Every row the filters match, in the list's order, as typed cells (streamed)."""
    columns = export_columns(q.spec)
    stmt = ordered(q, filtered_statement(session, q, actor=actor, context=context))
    result = session.execute(stmt.execution_options(yield_per=1000))
    for number, row in enumerate(result, start=1):
        yield [c.value(row) for c in columns]
        if progress is not None and total and number % 1000 == 0:
            progress(int(number * 100 / total))


def export_filename(spec: ListSpec, fmt: str) -> str:
    return f"{spec.key}.{fmt}"


# --- pages and exports (Flask) ----------------------------------------------------------


def page_query(spec: ListSpec, *, defaults: dict | None = None) -> ListQuery:
    """The list's query from this request's query string (`defaults` fill absent filters)."""
    from flask import request

    args = request.args.to_dict()
    for key, value in (defaults or {}).items():
        args.setdefault(key, value)
    return parse_query(spec, args)


def list_page(spec: ListSpec, actor, *, defaults: dict | None = None, context=None) -> ListPage:
    """One page of a list for this request: filters, sort and paging from the URL; the
    context's `today` is the organization's."""
    from fms.extensions import db
    from fms.identity.web_session import org_today

    context = {"today": org_today()} if context is None else context
    spec = spec.seen_by(actor)
    return run_list(db.session, page_query(spec, defaults=defaults), actor=actor, context=context)


def export_response(spec: ListSpec, fmt: str, *, actor, context: dict, defaults=None):
    """`/…/export.csv|xlsx`: every row the filters match, in the list's order, streamed; above
    FMS_EXPORT_INLINE_ROWS rows (10,000) a job writes the file and the job page links it."""
    from flask import abort, current_app, redirect, url_for

    from fms.exports import csv_stream_response, xlsx_response
    from fms.extensions import db
    from fms.identity.permissions import require
    from fms.jobs import enqueue_after_commit, require_room

    if fmt not in ("csv", "xlsx"):
        abort(404)
    if spec.permission:
        require(actor, spec.permission)
    spec = spec.seen_by(actor)
    q = page_query(spec, defaults=defaults)
    total = count(db.session, filtered_statement(db.session, q, actor=actor, context=context))
    if total > int(current_app.config.get("FMS_EXPORT_INLINE_ROWS", EXPORT_INLINE_ROWS)):
        limit = int(current_app.config.get("FMS_EXPORT_JOBS_PER_USER", EXPORT_JOBS_PER_USER))
        require_room(db.session, export_list, actor=actor, limit=limit)
        run = enqueue_after_commit(export_list, spec.key, q.filter_string(), fmt)
        run_id = run.id
        db.session.commit()
        return redirect(url_for("jobs_pages.show", run_id=run_id))
    header = export_header(spec)
    filename = export_filename(spec, fmt)
    if fmt == "csv":  # the rows stream after the view returns, through a session of their own
        return csv_stream_response(
            filename, header, lambda session: export_rows(session, q, actor=actor, context=context)
        )
    return xlsx_response(filename, header, export_rows(db.session, q, actor=actor, context=context))


def export_path(storage_dir: str, run_id: str, fmt: str):
    from pathlib import Path

    return Path(storage_dir) / "exports" / f"{run_id}.{fmt}"


def _register_export_job():
    from fms.jobs import job

    @job
    def export_list(actor, list_key: str, query_string: str, fmt: str) -> dict:
        """Write a list's export to storage (large exports); the job page links the file."""
        from flask import current_app

        from fms.exports import csv_rows, xlsx_write
        from fms.extensions import db
        from fms.identity.permissions import require
        from fms.identity.services import today_of
        from fms.jobs import _current_run, report_progress

        spec = spec_for(list_key)
        if spec.permission:
            require(actor, spec.permission)
        spec = spec.seen_by(actor)  # the roles the actor holds when the job runs
        q = query_from_string(spec, query_string)
        context = {"today": today_of(db.session, actor.org_id)}
        total = count(db.session, filtered_statement(db.session, q, actor=actor, context=context))
        path = export_path(current_app.config["FMS_STORAGE_DIR"], _current_run.get(), fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = export_rows(
            db.session,
            q,
            actor=actor,
            context=context,
            total=total,
            progress=lambda percent: report_progress(min(percent, 99), "Writing rows"),
        )
        partial = path.with_suffix(".part")
        if fmt == "csv":
            with open(partial, "wb") as out:
                for chunk in csv_rows(export_header(spec), rows):
                    out.write(chunk)
        else:
            xlsx_write(str(partial), export_header(spec), rows, title=spec.title)
        partial.replace(path)  # safe to run twice: the file appears whole or not at all
        return {"rows": total, "format": fmt, "filename": export_filename(spec, fmt)}

    return export_list


export_list = _register_export_job()


# --- the API: the same sort keys and filters --------------------------------------------


def api_schema(spec: ListSpec, name: str, *, extra: dict | None = None):
    """The query-string schema of a list's API route: page, per_page (1-200), `sort` (a
    column key, `-key` for descending) and the list's filters, each validated by the same
    parser as the page (a bad value is a 422 naming it), documented in the OpenAPI document.
    A hidden filter (`which_list`: the list of a page that shows several) is not taken from
    the caller: the route is that one list, and `api_page` fixes the filter's value."""
    from marshmallow import Schema, ValidationError, fields, validate

    from fms.api.common import Date, Integer

    def check(f: Filter):
        def run(value):
            try:
                f.parse(value if isinstance(value, str) else str(value))
            except (ValueError, TypeError):
                raise ValidationError(f.message) from None

        return run

    keys = spec.sort_keys
    attrs = {
        "page": Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000)),
        "per_page": Integer(load_default=50, validate=validate.Range(min=1, max=200)),
        "sort": fields.String(
            load_default=spec.default_sort,
            validate=validate.OneOf(keys + [f"-{k}" for k in keys]),
            metadata={
                "description": "Sort by a column; a leading '-' sorts descending. Default: "
                f"{spec.default_sort}."
            },
        ),
    }
    for f in spec.filters:
        if f.kind == "hidden":
            continue
        described = {"description": f"{f.label}: {f.message}"}
        if f.api_type == "integer":
            attrs[f.key] = Integer(validate=check(f), metadata=described)
        elif f.api_type == "date":
            attrs[f.key] = Date(metadata=described)
        else:
            attrs[f.key] = fields.String(validate=check(f), metadata=described)
    attrs.update(extra or {})
    return Schema.from_dict(attrs, name=name)


def api_page(session, spec: ListSpec, args: dict, *, actor, context: dict) -> ListPage:
    """One page of a list for an API route, from the arguments `api_schema` loaded."""
    spec = spec.seen_by(actor)
    if args["sort"].lstrip("-") not in spec.sort_keys:
        message = "Sort by one of: " + ", ".join(spec.sort_keys) + " (-key: descending)."
        raise InvalidInput(message, errors={"sort": [message]})
    filters, raw = {}, {}
    for f in spec.filters:
        value = f.default if f.kind == "hidden" else args.get(f.key)
        if value is None or value == "":
            continue
        filters[f.key] = value if f.api_type == "date" else f.parse(str(value))
        raw[f.key] = value.isoformat() if f.api_type == "date" else str(value)
    q = ListQuery(spec, filters, raw, args["sort"], args["page"], args["per_page"])
    stmt = filtered_statement(session, q, actor=actor, context=context)
    return ListPage(q, _page_rows(session, q, stmt), count(session, stmt))
