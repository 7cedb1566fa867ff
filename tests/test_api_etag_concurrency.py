"""If-Match under real concurrency on PostgreSQL: two updates of one freelancer profile
(procurement in two tabs) at the same moment with the ETag both read. The check and the
write hold together (the row is locked before the comparison): one wins, the other 412."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.tenancy import scope_session
from fms.workforce import services as workforce
from fms.workforce.models import Freelancer
from tests.test_api_idempotency_concurrency import at_once, signed_in_clients, slowed
from tests.test_timesheet_concurrency import _setup

pytestmark = pytest.mark.postgres


def test_two_updates_with_the_same_etag_one_wins(app, committed, monkeypatch):
    org_id, _, people = _setup(committed, submit=False)
    scope_session(committed, org_id)
    profile_id = committed.scalar(select(Freelancer.id))
    first, second = signed_in_clients(app, committed, org_id, people["procurement"].user_id, 2)
    url = f"/api/v1/freelancers/{profile_id}"
    read = first.get(url)
    assert read.status_code == 200, read.get_json()
    tag = read.headers["ETag"]
    # each update takes a while after its check: without the row lock both checks would
    # pass against the old version before either wrote
    slowed(monkeypatch, workforce, "update_freelancer")
    answers = at_once(
        [
            lambda: first.patch(url, json={"headline": "From A"}, headers={"If-Match": tag}),
            lambda: second.patch(url, json={"headline": "From B"}, headers={"If-Match": tag}),
        ]
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412], [a.get_json() for a in answers]
    (winner,) = [a for a in answers if a.status_code == 200]
    committed.expire_all()
    assert committed.get(Freelancer, profile_id).headline == winner.get_json()["headline"]
    assert first.get(url).headers["ETag"] == winner.headers["ETag"]


def test_two_admins_saving_the_workforce_settings_with_one_tag_one_wins(
    app, committed, monkeypatch
):
    """Settings have no row of their own until first saved: the check locks the
    organization's row, so two saves with the tag both read still give one 200 and one
    412."""
    from fms.identity.models import Membership, User

    org_id, _, _ = _setup(committed, submit=False)
    scope_session(committed, org_id)
    admin = User(email="ts-admin@example.com", name="admin")
    committed.add(admin)
    committed.flush()
    committed.add(Membership(org_id=org_id, user_id=admin.id, roles=["org_admin"]))
    committed.commit()
    first, second = signed_in_clients(app, committed, org_id, admin.id, 2)
    url = "/api/v1/workforce-settings"
    read = first.get(url)
    assert read.status_code == 200, read.get_json()
    tag = read.headers["ETag"]
    slowed(monkeypatch, workforce, "update_settings")

    def save(days):
        body = {"notice_period_days": days, "trial_max_days": 30, "trial_max_budget": "5000"}
        return lambda client: client.put(url, json=body, headers={"If-Match": tag})

    answers = at_once([lambda: save(21)(first), lambda: save(28)(second)])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412], [a.get_json() for a in answers]
    (winner,) = [a for a in answers if a.status_code == 200]
    assert first.get(url).get_json() == winner.get_json()
