"""Ids of real spend-export rows for the tenancy route walk (tests/test_tenancy_routes.py):
a monthly spend pack sent to a finance user of the organization (`/reports/packs/<pack_id>`),
a subscription to the pack and a spend export (a queued run of its job) of the walk's own
org admin in their organization (a subscription is its person's only), of a fresh finance
user in any other."""

from __future__ import annotations

import itertools

_months = itertools.count(1)


def _pack(f, org) -> int:
    from fms.reports.models import SpendPackDelivery
    from tests.factories import as_org

    user_id = f.make_member(org, roles=("finance",)).user_id
    with as_org(f.session, org.id):
        row = SpendPackDelivery(
            org_id=org.id, month=f"2026-{(next(_months) - 1) % 12 + 1:02d}", user_id=user_id
        )
        f.session.add(row)
        f.session.flush()
    return row.id


def _person(f, org) -> int:
    mine = f.org_admin
    return mine.user_id if mine.org_id == org.id else f.make_member(org, roles=("finance",)).user_id


def _subscription(f, org) -> int:
    from sqlalchemy import select

    from fms.reports.models import SpendPackSubscription
    from tests.factories import as_org

    user_id = _person(f, org)
    with as_org(f.session, org.id):
        row = f.session.scalar(
            select(SpendPackSubscription).where(SpendPackSubscription.user_id == user_id)
        )
        if row is None:
            row = SpendPackSubscription(org_id=org.id, user_id=user_id)
            f.session.add(row)
            f.session.flush()
    return row.id


def _export(f, org) -> str:
    from fms.reports.jobs import export_spend_job

    return f.make_job_run(
        org,
        name=export_spend_job.job_name,
        args=["2026-11-01", "2026-11-30", "month", "", "base", "csv"],
        requested_by_user_id=_person(f, org),
    ).id


ID_FACTORIES: dict = {"pack_id": _pack, "subscription_id": _subscription, "export_id": _export}
