"""Type-ahead lookups and text matching shared by every area.

Pickers ask the server for a page of matches (at most `MAX_PER_PAGE`) instead of loading
every row into a select. Matching is a case-insensitive substring with the typed text
taken literally: the same answers on PostgreSQL (where `pg_trgm` GIN indexes serve it,
see migrations 0510) and on SQLite (a LIKE scan).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import GenericFunction

LIKE_ESCAPE = "\\"
MAX_PER_PAGE = 20
MAX_QUERY = 100


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains `text`": its %, _ and the escape character are literal.

    Use it with `escape=LIKE_ESCAPE` (as `contains_text` does); without the ESCAPE clause
    PostgreSQL and SQLite disagree on what a backslash means.
    """
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


class fold(GenericFunction):  # noqa: N801 - an SQL function, named as SQL names them
    """Lower case for matching, the same on both databases: PostgreSQL's lower() (what the
    trigram indexes hold); on SQLite, whose lower() folds ASCII only, Python's str.lower
    registered as fms_lower (fms.database.configure_engine)."""

    type = String()
    inherit_cache = True


@compiles(fold)
def _fold(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold, "sqlite")
def _fold_sqlite(element, compiler, **kw):
    return f"fms_lower({compiler.process(element.clauses, **kw)})"


def sqlite_lower(value):
    """fms_lower on SQLite: Unicode lower case, as PostgreSQL's lower() gives it."""
    return value.lower() if isinstance(value, str) else value


def contains_text(column, text: str):
    """`column` contains `text`, ignoring case, with wildcards in `text` taken literally."""
    return fold(column).like(like_pattern(text.lower()), escape=LIKE_ESCAPE)


def any_contains(columns, text: str):
    """One of `columns` contains `text` (see `contains_text`)."""
    return or_(*(contains_text(c, text) for c in columns))


def clean_query(text) -> str:
    """What was typed, trimmed and bounded (the input layer already normalised it)."""
    return (text or "").strip()[:MAX_QUERY]


@dataclass
class Match:
    """One option of a picker: the id it stands for, what it says, and a detail line."""

    id: int
    label: str
    detail: str = ""
    extra: dict | None = None


@dataclass
class LookupPage:
    items: list[Match]
    page: int
    per_page: int
    has_more: bool


def page_of(session: Session, stmt, *, page: int, per_page: int, to_match) -> LookupPage:
    """One page of `stmt` (already ordered) as matches; one row more tells if there are more."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(page, 1)
    rows = session.execute(stmt.limit(per_page + 1).offset((page - 1) * per_page)).all()
    return LookupPage(
        items=[to_match(row) for row in rows[:per_page]],
        page=page,
        per_page=per_page,
        has_more=len(rows) > per_page,
    )


def run_lookup(session: Session, stmt, *, columns, q, order_by, page, per_page, to_match):
    """`stmt` narrowed to rows where one of `columns` contains `q`, ordered, one page."""
    q = clean_query(q)
    if q:
        stmt = stmt.where(any_contains(columns, q))
    stmt = stmt.order_by(*order_by)
    return page_of(session, stmt, page=page, per_page=per_page, to_match=to_match)


# --- trigram indexes (PostgreSQL only; migrations 0510) ------------------------------------

# Columns searched with `lower(column) LIKE '%text%'` have, on PostgreSQL, a GIN index on
# lower(column) with pg_trgm's operator class, named TRIGRAM_PREFIX + table_column (the list
# is in the migration that made them, 0510, and those after it).
TRIGRAM_PREFIX = "ix_trgm_"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate's filter: the trigram indexes exist only in the database (the models
    cannot express an expression index with an operator class on both databases)."""
    return not (
        type_ == "index" and reflected and compare_to is None and name.startswith(TRIGRAM_PREFIX)
    )
