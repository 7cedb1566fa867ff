"""Global search (the top bar): engagements, requisitions, freelancers, suppliers and people
by name, number or email — within the organization (the scoped session) and what the person
may read. Reports sits above every area, so it may read them all; nothing imports it.

Matching is a case-insensitive substring with the typed text taken literally (fms.lookups):
the same answers on PostgreSQL, where pg_trgm GIN indexes serve `lower(col) LIKE '%x%'`
(migration 0510), and on SQLite. Full-text search is not used: it splits "REQ-0042" into
tokens and stems names. Record numbers ("REQ-0042", "eng 7", "#7") match by id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.lookups import any_contains, clean_query
from fms.workforce import rules
from fms.workforce.models import Engagement, Freelancer, Requisition, Supplier

PER_KIND = 10
MIN_LENGTH = 2
KINDS = {
    "engagements": "Engagements",
    "requisitions": "Requisitions",
    "freelancers": "Freelancers",
    "suppliers": "Suppliers",
    "people": "People",
}
_NUMBER = re.compile(r"^(?:(req|eng)\s*-?\s*|#)?0*(\d{1,18})$", re.IGNORECASE)


@dataclass
class Hit:
    kind: str
    id: int
    title: str
    detail: str
    endpoint: str
    args: dict


@dataclass
class Results:
    text: str
    groups: dict[str, list[Hit]]
    too_short: bool = False

    @property
    def count(self) -> int:
        return sum(len(hits) for hits in self.groups.values())


def _number(text: str, prefix: str) -> int | None:
    """The id a typed record number names for this prefix ("REQ-0042" -> 42), if any."""
    match = _NUMBER.match(text.strip())
    if not match or (match.group(1) and match.group(1).upper() != prefix):
        return None
    return int(match.group(2))


def _matches(columns, text: str, id_column, number: int | None):
    condition = any_contains(columns, text)
    return condition | (id_column == number) if number is not None else condition


def search(session: Session, *, actor: Actor, text: str, today: date) -> Results:
    """What `text` finds that this person may open, grouped by kind, 10 at most per kind."""
    text = clean_query(text)
    groups: dict[str, list[Hit]] = {kind: [] for kind in KINDS}
    if len(text) < MIN_LENGTH and _number(text, "ENG") is None:
        return Results(text=text, groups=groups, too_short=bool(text))
    if actor.can("engagements.read") or actor.can("own_engagements.read"):
        groups["engagements"] = _engagements(session, actor, text, today)
    if actor.can("requisitions.read"):
        groups["requisitions"] = _requisitions(session, text)
    if actor.can("freelancers.read"):
        groups["freelancers"] = _freelancers(session, text)
    if actor.can("suppliers.read"):
        groups["suppliers"] = _suppliers(session, text)
    if actor.can("members.read"):
        groups["people"] = _people(session, text)
    return Results(text=text, groups=groups)


def _engagements(session, actor, text, today) -> list[Hit]:
    stmt = select(Engagement, Freelancer.display_name).outerjoin(
        Freelancer, Freelancer.id == Engagement.freelancer_id
    )
    columns = [Engagement.title, Freelancer.display_name, Freelancer.email]
    if actor.can("engagements.read"):
        columns.append(Engagement.po_number)
    else:  # a freelancer: their own engagements, until the end date (as the page allows)
        stmt = stmt.where(Freelancer.user_id == actor.user_id, Engagement.end_date >= today)
    number = _number(text, "ENG")
    stmt = stmt.where(_matches(columns, text, Engagement.id, number))
    rows = session.execute(
        stmt.order_by(Engagement.start_date.desc(), Engagement.id.desc()).limit(PER_KIND)
    )
    return [
        Hit(
            "engagements",
            e.id,
            f"{rules.display_number('engagement', e.id)} · {e.title}",
            f"{name or 'Freelancer not known yet'} · {e.start_date} – {e.end_date} · "
            f"{e.state.replace('_', ' ')}",
            "workforce.engagements.show",
            {"engagement_id": e.id},
        )
        for e, name in rows.all()
    ]


def _find(session, stmt, condition, order_by, to_hit) -> list[Hit]:
    rows = session.execute(stmt.where(condition).order_by(*order_by).limit(PER_KIND))
    return [to_hit(*row) for row in rows]


def _requisitions(session, text) -> list[Hit]:
    number = _number(text, "REQ")
    return _find(
        session,
        select(Requisition),
        _matches([Requisition.title], text, Requisition.id, number),
        [Requisition.id.desc()],
        lambda r: Hit(
            "requisitions",
            r.id,
            f"{rules.display_number('requisition', r.id)} · {r.title}",
            f"{r.start_date} – {r.end_date} · {r.state.replace('_', ' ')}",
            "workforce.requisitions.show",
            {"requisition_id": r.id},
        ),
    )


def _freelancers(session, text) -> list[Hit]:
    # names and email only: tax ids and IBANs are never searched or shown here
    return _find(
        session,
        select(Freelancer),
        any_contains([Freelancer.display_name, Freelancer.legal_name, Freelancer.email], text),
        [Freelancer.display_name, Freelancer.id],
        lambda f: Hit(
            "freelancers",
            f.id,
            f.display_name,
            f"{f.email} · {f.country}",
            "workforce.freelancer",
            {"freelancer_id": f.id},
        ),
    )


def _suppliers(session, text) -> list[Hit]:
    return _find(
        session,
        select(Supplier),
        any_contains([Supplier.name, Supplier.legal_name], text),
        [Supplier.name, Supplier.id],
        lambda s: Hit(
            "suppliers",
            s.id,
            s.name,
            f"{s.legal_name or s.name} · {s.country}",
            "workforce.catalog.supplier",
            {"supplier_id": s.id},
        ),
    )


def _people(session, text) -> list[Hit]:
    return _find(
        session,
        select(Membership.id, User.name, User.email, Membership.is_active).join(
            User, User.id == Membership.user_id
        ),
        any_contains([User.name, User.email], text),
        [User.name, Membership.id],
        lambda membership_id, name, email, active: Hit(
            "people",
            membership_id,
            name,
            email + ("" if active else " · deactivated"),
            "identity.member",
            {"membership_id": membership_id},
        ),
    )
