"""Ids of real spend-export rows for the tenancy route walk (tests/test_tenancy_routes.py):
a monthly spend pack sent to a finance user of the organization (`/reports/packs/<pack_id>`)."""

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


ID_FACTORIES: dict = {"pack_id": _pack}
