"""The monthly spend roll-up: the lines of approved spend per month x engagement x the
terms' dimensions x kind x rate x exchange rate (`fms.reports.spend`: each line's exact
sums, its amount rounded once, and that amount in the base currency), so a year's
dashboard sums about one row per engagement and month instead of every day entry.

Kept exact by recomputing, never by adding: whenever a flush touches something an
engagement's approved spend depends on (its day entries and sheets, adjustments,
milestones, expenses, terms, time rounding, the engagement itself), or Timesheets
announces set-based approvals, the engagement is marked; before the transaction commits
(and before a report reads) each marked engagement's lines are deleted and computed
again from the raw rows. A new, changed or removed exchange rate recomputes every
engagement's lines from the month of its date on (the days it converts); a new base
currency recomputes them all.

Concurrency (PostgreSQL, READ COMMITTED): the recompute first takes a transaction lock per
engagement (in id order), so of two approvals of the same engagement at once the second
waits for the first to commit and its recompute, a new statement, sees both. A rebuild
takes the organization's lock exclusively, recomputes share it.

Organizations are read from the roll-up once built (`flask fms reports rebuild-rollup`,
SpendRollupState); before that the reports compute from the raw rows, with the same
figures.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, event, func, insert, inspect, literal, select, text
from sqlalchemy.orm import Session

from fms.identity.models import Organization
from fms.reports import spend
from fms.reports.models import SpendRollupCell, SpendRollupState
from fms.tenancy import ALL_TENANTS, session_org_id
from fms.timekeeping import utcnow
from fms.timesheets import hooks as timesheet_hooks
from fms.timesheets.models import Adjustment, Expense, Milestone, TimeRounding, Timesheet
from fms.timesheets.models import TimesheetEntry as Entry
from fms.workforce.models import Engagement, EngagementTerms, ExchangeRate

# session.info: {org_id: {"engagements": ids, "sheets": ids, "since": first day or None}}
_PENDING = "spend_rollup_pending"
# advisory lock classes (the two-key form: class, id)
_ORG_LOCK, _ENGAGEMENT_LOCK = 74_100, 74_101
_EARLIEST, _LATEST = date(1, 1, 1), date(9999, 12, 31)
# rows whose change moves an engagement's approved spend (by their engagement_id)
_BY_ENGAGEMENT = (Entry, Timesheet, Adjustment, Milestone, Expense, EngagementTerms, TimeRounding)
_UNSCOPED = {ALL_TENANTS: True}  # org_id is in every statement here


def _mark(session: Session, org_id, engagement_id=None, since: date | None = None) -> None:
    """Recompute this engagement's cells (all months), or every engagement's cells from
    the month of `since` on."""
    if org_id is None:
        return
    marks = session.info.setdefault(_PENDING, {}).setdefault(
        org_id, {"engagements": set(), "sheets": set(), "since": None}
    )
    if engagement_id is not None:
        marks["engagements"].add(engagement_id)
    if since is not None:
        marks["since"] = min(since, marks["since"] or since)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, _BY_ENGAGEMENT):
            _mark(session, obj.org_id, obj.engagement_id)
        elif isinstance(obj, Engagement):
            _mark(session, obj.org_id, obj.id)
        elif isinstance(obj, Organization):
            # every kept line holds its amount in the base currency: a new base converts all
            if inspect(obj).attrs.base_currency.history.has_changes():
                _mark(session, obj.id, since=_EARLIEST)
        elif isinstance(obj, ExchangeRate):
            # a rate covers the days from its date to the next rate's: a new, changed or
            # removed rate moves the conversion of those days only (old and new date)
            history = inspect(obj).attrs.effective_from.history
            days = [d for d in (*history.added, *history.deleted, *history.unchanged) if d]
            _mark(session, obj.org_id, since=min(days, default=_EARLIEST))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # commit flushes after this event: flush here, so what it writes is recomputed too
    if session.new or session.dirty or session.deleted or session.info.get(_PENDING):
        apply_pending(session)


def _on_timesheet_event(action, session=None, ids=(), **_kw) -> None:
    """Bulk approval moves sheets with one UPDATE (no ORM object to see): their engagements
    are looked up when recomputing, and only for an organization with a roll-up."""
    if action != "timesheet.approved" or session is None or not ids:
        return
    org_id = session_org_id(session)
    _mark(session, org_id)
    if org_id is not None:
        session.info[_PENDING][org_id]["sheets"].update(ids)


timesheet_hooks.record_event.connect(_on_timesheet_event, weak=False)


def apply_pending(session: Session) -> None:
    """Flush, then recompute the cells of every engagement marked in this transaction
    (of organizations whose roll-up is built)."""
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    built = set(
        session.scalars(
            select(SpendRollupState.org_id)
            .where(SpendRollupState.org_id.in_(sorted(pending)))
            .execution_options(**_UNSCOPED)
        )
    )
    for org_id in sorted(built):
        marks = pending[org_id]
        if marks["sheets"]:
            marks["engagements"].update(
                session.scalars(
                    select(Timesheet.engagement_id)
                    .where(Timesheet.org_id == org_id, Timesheet.id.in_(sorted(marks["sheets"])))
                    .execution_options(**_UNSCOPED)
                )
            )
        if marks["engagements"]:
            _recompute(session, org_id, sorted(marks["engagements"]))
        if marks["since"] is not None:
            _recompute(session, org_id, None, since=marks["since"])


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _recompute(session: Session, org_id: int, engagement_ids, since: date = _EARLIEST) -> None:
    """Replace the cells of these engagements (None: all the organization's), from the
    month of `since` on, with cells computed from the raw rows."""
    dialect = _dialect(session)
    spend.without_jit(session)
    since = date(since.year, since.month, 1)
    if dialect == "postgresql":
        if engagement_ids is None:
            _lock(session, "pg_advisory_xact_lock", _ORG_LOCK, [org_id])
        else:
            _lock(session, "pg_advisory_xact_lock_shared", _ORG_LOCK, [org_id])
            _lock(session, "pg_advisory_xact_lock", _ENGAGEMENT_LOCK, engagement_ids)
    gone = delete(SpendRollupCell).where(SpendRollupCell.org_id == org_id)
    if engagement_ids is not None:
        gone = gone.where(SpendRollupCell.engagement_id.in_(engagement_ids))
    if since > _EARLIEST:
        gone = gone.where(SpendRollupCell.day >= since)
    session.execute(gone.execution_options(**_UNSCOPED))
    cells = spend.approved_cells(
        org_id, since, _LATEST, "month", dialect, engagement_ids=engagement_ids
    ).subquery("cells")
    base = session.scalar(
        select(Organization.base_currency)
        .where(Organization.id == org_id)
        .execution_options(**_UNSCOPED)
    )
    lines = spend.priced(cells, base).subquery("lines")
    columns = list(spend.LINE_COLUMNS)
    session.execute(
        insert(SpendRollupCell)
        .from_select(
            ["org_id", *columns],
            select(literal(org_id).label("org_id"), *[lines.c[c] for c in columns]),
        )
        .execution_options(**_UNSCOPED)
    )


def _lock(session: Session, function: str, lock_class: int, ids) -> None:
    # in id order, so two transactions never wait on each other crosswise; ids fold into
    # the 32-bit key (a collision only makes two engagements wait on each other)
    for key in sorted({int(i) % 2**31 for i in ids}):
        session.execute(text(f"SELECT {function}(:c, :k)"), {"c": lock_class, "k": key})


def rebuild(session: Session, org_id: int) -> int:
    """Build (or rebuild) the organization's roll-up from its raw rows and read from it
    from now on. Returns the number of cells."""
    session.flush()
    _recompute(session, org_id, None)
    state = session.get(SpendRollupState, org_id)
    if state is None:
        session.add(SpendRollupState(org_id=org_id, built_at=utcnow()))
    else:
        state.built_at = utcnow()
    session.flush()
    return session.scalar(
        select(func.count())
        .select_from(SpendRollupCell)
        .where(SpendRollupCell.org_id == org_id)
        .execution_options(**_UNSCOPED)
    )


class KeptLines:
    """An organization's kept lines, as selects for `spend._line_sources`."""

    def __init__(self, org_id: int):
        self.org_id = org_id

    def _select(self, columns, first: date, last: date):
        table = SpendRollupCell.__table__
        return select(*[table.c[c] for c in columns]).where(
            table.c.org_id == self.org_id, table.c.day >= first, table.c.day <= last
        )

    def lines(self, first_month: date, last_month: date):
        """The lines (LINE_COLUMNS) of the months first_month..last_month."""
        return self._select(spend.LINE_COLUMNS, first_month, last_month)

    def cells(self, month: date):
        """One month's exact cells (CELL_COLUMNS), to take days off before rounding."""
        return self._select(spend.CELL_COLUMNS, month, month)


def kept_lines(session: Session, org_id: int) -> KeptLines | None:
    """For `spend._approved_statement`: the organization's kept lines, or None when its
    roll-up is not built (then the raw rows give everything). Recomputes what this
    transaction changed first, so a report in the same transaction sees its own changes."""
    apply_pending(session)
    built = session.scalar(
        select(SpendRollupState.org_id)
        .where(SpendRollupState.org_id == org_id)
        .execution_options(**_UNSCOPED)
    )
    return None if built is None else KeptLines(org_id)
