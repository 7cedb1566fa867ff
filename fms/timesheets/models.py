"""Timesheet tables: weekly sheets and their day entries, adjustments, milestones, expenses,
the organization's week start and task codes, per-engagement time rounding, period locks.

Time is integer minutes; daily-rate engagements record half days as an integer (1 = half a
day, 2 = a full day), so no fraction is ever stored. Amounts are `ScaledDecimal` (exact).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.modified import touches_parent
from fms.money import MONEY_SCALE, ScaledDecimal
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class WeekStart(TenantMixin, db.Model):
    """The organization's week start (0 = Monday ... 6 = Sunday) for weeks beginning on or
    after `effective_from` (the first day of the first week under the new weekday). Before
    the first row, weeks start on Monday. Sheets keep their own week dates, so a change
    never moves a sheet that exists."""

    __tablename__ = "timesheet_week_start"
    __table_args__ = (
        UniqueConstraint("org_id", "effective_from"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date)
    weekday: Mapped[int] = mapped_column(Integer)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskCode(TenantMixin, db.Model):
    """One entry of the organization's task/project code list for time entries."""

    __tablename__ = "timesheet_task_code"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(120))
    is_active: Mapped[bool] = mapped_column(default=True)


class TimeRounding(TenantMixin, db.Model):
    """How an engagement's billable minutes are rounded per day (rules.ROUNDING_MODES).
    Owned by timesheets (workforce's engagement table does not know timesheets); no row
    means no rounding."""

    __tablename__ = "timesheet_rounding"
    __table_args__ = (UniqueConstraint("engagement_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"))
    mode: Mapped[str] = mapped_column(String(20), default="none")


class Timesheet(TenantMixin, db.Model):
    """One engagement's time for one week (`week_start` .. `week_end`, inclusive)."""

    __tablename__ = "timesheet"
    __table_args__ = (
        UniqueConstraint("engagement_id", "week_start"),
        Index("ix_timesheet_org_state_week", "org_id", "state", "week_start"),
        Index("ix_timesheet_org_updated", "org_id", "updated_at"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    freelancer_id: Mapped[int] = mapped_column(ForeignKey("freelancer.id"), index=True)
    week_start: Mapped[date] = mapped_column(Date)
    week_end: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the last change to the sheet or its days (fms.modified): `?updated_since=`
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class TimesheetEntry(TenantMixin, db.Model):
    """One day of a sheet: minutes (hourly work) or half days (daily-rate engagements).
    The billable item of DESIGN.md's money rules; invoicing marks it invoiced."""

    __tablename__ = "timesheet_entry"
    __table_args__ = (
        UniqueConstraint("timesheet_id", "work_date"),
        CheckConstraint("minutes BETWEEN 0 AND 1440", name="minutes"),
        CheckConstraint("half_days IS NULL OR half_days BETWEEN 0 AND 2", name="half_days"),
        Index("ix_timesheet_entry_engagement_date", "engagement_id", "work_date"),
        # reports: the days of a range's partial months
        Index("ix_timesheet_entry_org_date", "org_id", "work_date"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    timesheet_id: Mapped[int] = mapped_column(ForeignKey("timesheet.id"), index=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"))
    work_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    half_days: Mapped[int | None] = mapped_column(Integer)
    task_code_id: Mapped[int | None] = mapped_column(ForeignKey("timesheet_task_code.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    invoiced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the invoicing area's invoice; no foreign key: that table belongs to a higher area
    invoice_id: Mapped[Id | None] = mapped_column()


class Adjustment(TenantMixin, db.Model):
    """A correction to approved time: signed minutes (priced at the terms of the day it
    corrects) or a signed amount, with a reason; approved like a sheet, billed on its own."""

    __tablename__ = "timesheet_adjustment"
    __table_args__ = (
        CheckConstraint("(minutes IS NULL) <> (amount IS NULL)", name="minutes_or_amount"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    timesheet_id: Mapped[int] = mapped_column(ForeignKey("timesheet.id"), index=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    work_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    invoiced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_id: Mapped[Id | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PeriodLock(TenantMixin, db.Model):
    """A billing period invoicing has closed. Late sheets of its weeks may still be
    submitted and approved (they bill in the next close); approved time changes only by
    adjustments."""

    __tablename__ = "timesheet_period_lock"
    __table_args__ = (UniqueConstraint("org_id", "period_start"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    locked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Milestone(TenantMixin, db.Model):
    """A fixed-fee deliverable with its agreed amount in the engagement's currency."""

    __tablename__ = "milestone"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    # the deliverable the freelancer attached (optional): a stored file they uploaded
    attachment_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"), index=True)
    invoiced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_id: Mapped[Id | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Expense(TenantMixin, db.Model):
    """A reimbursable cost in its own currency, with a receipt kept by fms.storage: the
    stored file's row, and its SHA-256 and name copied from it (never from the client)."""

    __tablename__ = "expense"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    spent_on: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    receipt_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"), index=True)
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    receipt_name: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    invoiced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_id: Mapped[Id | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# a day entered, changed or removed changes the sheet the API shows
touches_parent(TimesheetEntry, Timesheet, "timesheet_id")
