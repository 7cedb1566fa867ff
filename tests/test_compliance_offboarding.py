"""Offboarding: the checklist an ending engagement gets from the policy, each party ticking
its own items; and the default template's manual NDA and contract steps giving way to the
policy's own."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.compliance import offboarding, rules, services
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import system_actor
from fms.workforce import engagements as workforce


def actions(world, action):
    return world.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    )


def activate(world, engagement=None):
    engagement = engagement or world.engagement
    engagement.state = "active"
    world.session.flush()
    return engagement


def give_notice(world, actor=None):
    return workforce.give_notice(
        world.session,
        actor=actor or world.manager,
        engagement_id=world.engagement.id,
        end_date=world.today + timedelta(days=60),
        reason="Project finished early",
        today=world.today,
    )


def steps(world, engagement=None):
    return {
        s.key: s for s in offboarding.steps_of(world.session, (engagement or world.engagement).id)
    }


def tick(world, actor, key):
    return offboarding.complete_offboarding_step(
        world.session, actor=actor, step_id=steps(world)[key].id
    )


def test_notice_opens_the_checklist_from_the_default_policy_once(cworld):
    activate(cworld)
    assert steps(cworld) == {}
    give_notice(cworld)
    opened = steps(cworld)
    assert list(opened) == [key for key, _, _ in rules.DEFAULT_OFFBOARDING]
    assert {k: s.party for k, s in opened.items()} == {
        key: party for key, _, party in rules.DEFAULT_OFFBOARDING
    }
    assert actions(cworld, "offboarding.opened") == 1
    # opening again (the engagement ending later, say) adds nothing
    again = offboarding.open_offboarding(
        cworld.session, actor=cworld.officer, engagement=cworld.engagement
    )
    assert [s.id for s in again] == [s.id for s in opened.values()]
    assert actions(cworld, "offboarding.opened") == 1


def test_an_engagement_reaching_its_last_day_gets_the_checklist_when_it_ends(cworld):
    engagement = activate(cworld)
    engagement.end_date = cworld.today - timedelta(days=1)
    cworld.session.flush()
    robot = system_actor(cworld.org.id, channel="cli")
    assert workforce.end_due_engagements(cworld.session, actor=robot, today=cworld.today) == 1
    assert engagement.state == "ended"
    assert len(steps(cworld)) == len(rules.DEFAULT_OFFBOARDING)
    assert workforce.end_due_engagements(cworld.session, actor=robot, today=cworld.today) == 0
    assert actions(cworld, "offboarding.opened") == 1


def test_notice_and_then_the_end_make_one_checklist(cworld):
    activate(cworld)
    give_notice(cworld)
    robot = system_actor(cworld.org.id, channel="cli")
    later = cworld.today + timedelta(days=61)
    assert workforce.end_due_engagements(cworld.session, actor=robot, today=later) == 1
    assert cworld.engagement.state == "ended"
    assert len(steps(cworld)) == len(rules.DEFAULT_OFFBOARDING)
    assert actions(cworld, "offboarding.opened") == 1
    # after the last day the freelancer still ticks their items
    tick(cworld, cworld.me, "final_timesheet")


def test_the_sweep_opens_the_checklist_two_weeks_before_the_last_day(cworld):
    from fms.compliance.sweep import sweep

    engagement = activate(cworld)
    robot = system_actor(cworld.org.id, channel="cli")
    last_day = engagement.end_date
    early = last_day - timedelta(days=offboarding.OFFBOARDING_LEAD_DAYS + 1)
    assert sweep(cworld.session, actor=robot, today=early).offboarding_opened == 0
    assert steps(cworld) == {}
    on_time = last_day - timedelta(days=offboarding.OFFBOARDING_LEAD_DAYS)
    assert sweep(cworld.session, actor=robot, today=on_time).offboarding_opened == 1
    assert len(steps(cworld)) == len(rules.DEFAULT_OFFBOARDING)
    assert sweep(cworld.session, actor=robot, today=on_time).offboarding_opened == 0
    assert actions(cworld, "offboarding.opened") == 1
    # notice given afterwards opens nothing new
    give_notice(cworld)
    assert actions(cworld, "offboarding.opened") == 1


def test_offboarding_does_not_open_before_the_engagement_is_ending(cworld):
    activate(cworld)
    with pytest.raises(RuleViolation):
        offboarding.open_offboarding(
            cworld.session, actor=cworld.officer, engagement=cworld.engagement
        )


def test_each_party_ticks_its_own_items_and_nobody_elses(cworld):
    activate(cworld)
    give_notice(cworld, actor=cworld.me)  # the freelancer gives notice: same checklist
    # the freelancer: their items, not the manager's or compliance's
    done = tick(cworld, cworld.me, "equipment")
    assert done.done_at is not None and done.done_by_user_id == cworld.me.user_id
    for key in ("access", "documents"):
        with pytest.raises(NotAllowed):
            tick(cworld, cworld.me, key)
    # the hiring manager: theirs, not the freelancer's
    with pytest.raises(NotAllowed):
        tick(cworld, cworld.manager, "handover")
    tick(cworld, cworld.manager, "access")
    # procurement reads the engagement but is no party to the checklist
    with pytest.raises(NotAllowed):
        tick(cworld, cworld.procurement, "handover_received")
    # compliance ticks the documents item (kept, by default)
    assert steps(cworld)["documents"].title == rules.RETENTION_CHOICES["keep"]
    tick(cworld, cworld.officer, "documents")
    with pytest.raises(RuleViolation):
        tick(cworld, cworld.officer, "documents")
    assert actions(cworld, "offboarding_step.completed") == 3
    assert not offboarding.offboarding_done(cworld.session, cworld.engagement.id)
    for actor, key in (
        (cworld.me, "final_timesheet"),
        (cworld.me, "handover"),
        (cworld.manager, "handover_received"),
    ):
        tick(cworld, actor, key)
    assert offboarding.offboarding_done(cworld.session, cworld.engagement.id)


def test_the_managers_stand_in_ticks_the_managers_items(cworld, make_member, actor_of):
    from fms.workforce.models import Delegation

    activate(cworld)
    give_notice(cworld)
    other = actor_of(make_member(cworld.org, roles=("hiring_manager",)))
    with pytest.raises(NotAllowed):  # another manager, standing in for nobody
        tick(cworld, other, "access")
    cworld.session.add(
        Delegation(
            org_id=cworld.org.id,
            manager_user_id=cworld.manager.user_id,
            delegate_user_id=other.user_id,
            starts_on=cworld.today - timedelta(days=1),
            ends_on=cworld.today + timedelta(days=7),
            created_by_user_id=cworld.manager.user_id,
        )
    )
    cworld.session.flush()
    assert tick(cworld, other, "access").done_by_user_id == other.user_id
    with pytest.raises(NotAllowed):
        tick(cworld, other, "equipment")


def test_each_party_sees_the_items_it_ticks(cworld):
    from fms.compliance import queries

    activate(cworld)
    give_notice(cworld)

    def to_do(actor):
        return [
            r.title
            for r in queries.offboarding_to_do(cworld.session, actor=actor, today=cworld.today)
        ]

    by_party = {
        p: [t for _, t, q in rules.DEFAULT_OFFBOARDING if q == p] for p in rules.OFFBOARDING_PARTIES
    }
    assert to_do(cworld.me) == by_party["freelancer"]
    assert to_do(cworld.manager) == by_party["hiring_manager"]
    assert to_do(cworld.officer) == [rules.RETENTION_CHOICES["keep"]]
    assert to_do(cworld.procurement) == []
    tick(cworld, cworld.me, "equipment")
    assert "Equipment returned" not in to_do(cworld.me)


def test_another_freelancer_sees_nothing_of_the_checklist(cworld, make_member, actor_of):
    activate(cworld)
    give_notice(cworld)
    stranger = actor_of(make_member(cworld.org, roles=("freelancer",)))
    with pytest.raises(NotFound):
        tick(cworld, stranger, "equipment")
    with pytest.raises(NotFound):
        offboarding.checklist(cworld.session, actor=stranger, engagement_id=cworld.engagement.id)
    mine = offboarding.checklist(
        cworld.session, actor=cworld.me, engagement_id=cworld.engagement.id
    )
    assert len(mine) == len(rules.DEFAULT_OFFBOARDING)


def test_the_retention_setting_words_the_documents_item(cworld):
    services.update_settings(
        cworld.session,
        actor=cworld.officer,
        non_compliance_mode="warn",
        document_retention="delete",
    )
    with pytest.raises(InvalidInput):
        services.update_settings(
            cworld.session,
            actor=cworld.officer,
            non_compliance_mode="warn",
            document_retention="shred",
        )
    # saving other settings leaves the retention as it is
    services.update_settings(cworld.session, actor=cworld.officer, non_compliance_mode="block")
    activate(cworld)
    give_notice(cworld)
    assert steps(cworld)["documents"].title == rules.RETENTION_CHOICES["delete"]


def test_an_organization_sets_its_own_offboarding_policy(cworld):
    with pytest.raises(NotAllowed):
        offboarding.set_offboarding_item(
            cworld.session, actor=cworld.manager, key="laptop", title="Laptop", party="freelancer"
        )
    with pytest.raises(InvalidInput) as info:
        offboarding.set_offboarding_item(
            cworld.session, actor=cworld.officer, key="Bad Key", title="", party="boss"
        )
    assert set(info.value.errors) == {"key", "title", "party"}
    offboarding.set_offboarding_item(
        cworld.session,
        actor=cworld.officer,
        key="laptop",
        title="Laptop returned",
        party="freelancer",
    )
    offboarding.set_offboarding_item(
        cworld.session,
        actor=cworld.officer,
        key="access",
        title="Accounts closed",
        party="hiring_manager",
    )
    # changing an item keeps its place
    offboarding.set_offboarding_item(
        cworld.session,
        actor=cworld.officer,
        key="laptop",
        title="Laptop and badge returned",
        party="freelancer",
    )
    assert actions(cworld, "offboarding_policy_item.set") == 3
    activate(cworld)
    give_notice(cworld)
    assert [(s.key, s.title, s.party) for s in steps(cworld).values()] == [
        ("laptop", "Laptop and badge returned", "freelancer"),
        ("access", "Accounts closed", "hiring_manager"),
    ]


def test_the_review_stays_with_workforce(cworld):
    activate(cworld)
    give_notice(cworld)
    review = workforce.write_review(
        cworld.session,
        actor=cworld.manager,
        engagement_id=cworld.engagement.id,
        rating=4,
        comment="Good handover",
        today=cworld.today,
    )
    assert review.rating == 4
    assert "review" not in steps(cworld)


# --- the default template's manual NDA and contract steps ---------------------------------


def titles(world):
    return [
        (s.title, s.provider_key)
        for s in workforce.onboarding_steps(world.session, world.engagement.id)
    ]


def test_the_policys_nda_step_replaces_the_manual_one(cworld):
    """Decision: when the policy asks for the NDA (or the contract), the default template's
    "NDA signed" step is removed when onboarding starts: the policy's step completes itself
    when the freelancer signs, so nobody ticks the same thing by hand."""
    workforce._onboarding_from_template(cworld.session, cworld.engagement)
    cworld.session.flush()
    cworld.policy("nda")
    cworld.onboard()
    found = titles(cworld)
    assert ("NDA signed", None) not in found
    assert ("Contract signed", None) in found  # the policy does not ask for the contract
    assert any(key == "compliance:nda" for _, key in found)


def test_without_a_policy_the_manual_steps_stay(cworld):
    workforce._onboarding_from_template(cworld.session, cworld.engagement)
    cworld.session.flush()
    cworld.onboard()
    found = titles(cworld)
    assert ("NDA signed", None) in found and ("Contract signed", None) in found


def test_an_offboarding_item_in_the_audit_log_links_to_its_engagement(cworld, app):
    from fms.audit import hooks

    activate(cworld)
    give_notice(cworld)
    step = steps(cworld)["equipment"]
    with app.test_request_context():
        links = hooks._BATCH_LINKS["offboarding_step"]([step.id])
    assert links[step.id].endswith(f"/compliance/offboarding/{cworld.engagement.id}")


# --- retention: "delete" erases the departing freelancer's uploads -------------------------


def _retention(world, rule):
    services.update_settings(
        world.session, actor=world.officer, non_compliance_mode="warn", document_retention=rule
    )


def test_ticking_documents_under_delete_erases_the_uploads_and_keeps_their_records(cworld):
    from fms import storage

    first = cworld.upload("w9")
    cworld.session.commit()
    path = storage.path_of(storage.get_file(cworld.session, first.file_id))
    assert path.exists()
    _retention(cworld, "delete")
    activate(cworld)
    give_notice(cworld)
    step = tick(cworld, cworld.officer, "documents")
    assert "1 uploaded document file(s) deleted" in step.retention_note
    assert path.exists()  # not before the transaction commits
    cworld.session.commit()
    assert not path.exists()
    stored = storage.get_file(cworld.session, first.file_id)
    assert stored.erased_at is not None and len(stored.sha256) == 64  # the record stays
    with pytest.raises(NotFound, match="retention"):
        storage.send_stored(stored)
    entry = cworld.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "offboarding_step.completed")
    ).one()
    assert entry.after["documents_erased"] == 1


def test_a_rolled_back_tick_erases_nothing(cworld):
    from fms import storage

    document = cworld.upload("w9")
    cworld.session.commit()
    path = storage.path_of(storage.get_file(cworld.session, document.file_id))
    _retention(cworld, "delete")
    activate(cworld)
    give_notice(cworld)
    cworld.session.commit()
    tick(cworld, cworld.officer, "documents")
    cworld.session.rollback()
    assert path.exists()
    assert storage.get_file(cworld.session, document.file_id).erased_at is None


def test_documents_another_live_engagement_needs_are_kept(cworld):
    from fms import storage

    document = cworld.upload("w9")
    cworld.make_engagement(cworld.org, freelancer=cworld.freelancer, state="active")
    _retention(cworld, "delete")
    activate(cworld)
    give_notice(cworld)
    step = tick(cworld, cworld.officer, "documents")
    cworld.session.commit()
    assert "still needs them" in step.retention_note
    assert storage.path_of(storage.get_file(cworld.session, document.file_id)).exists()


def test_under_keep_the_documents_stay(cworld):
    from fms import storage

    document = cworld.upload("w9")
    activate(cworld)
    give_notice(cworld)
    step = tick(cworld, cworld.officer, "documents")
    cworld.session.commit()
    assert step.retention_note is None
    assert storage.get_file(cworld.session, document.file_id).erased_at is None


# --- the checklist page -------------------------------------------------------------------


def test_each_party_ticks_on_the_checklist_page(cworld, app, sign_in, make_user, make_member):
    from fms.identity.models import User

    activate(cworld)
    give_notice(cworld)
    cworld.session.commit()

    def client(actor):
        c = app.test_client()
        sign_in(c, cworld.session.get(User, actor.user_id), cworld.org)
        return c

    url = f"/compliance/offboarding/{cworld.engagement.id}"
    me = client(cworld.me)
    assert url in me.get(f"/engagements/{cworld.engagement.id}").get_data(as_text=True)
    page = me.get(url).get_data(as_text=True)
    assert "0 of 6 done" in page and "Equipment returned" in page
    equipment = steps(cworld)["equipment"]
    access = steps(cworld)["access"]
    assert f"/compliance/offboarding/steps/{equipment.id}" in page
    assert f"/compliance/offboarding/steps/{access.id}" not in page  # the manager's
    ticked = me.post(f"/compliance/offboarding/steps/{equipment.id}")
    assert ticked.status_code == 302
    assert "1 of 6 done" in me.get(url).get_data(as_text=True)
    refused = me.post(
        f"/compliance/offboarding/steps/{access.id}", headers={"Referer": "http://localhost" + url}
    )
    assert refused.status_code in (302, 403)
    cworld.session.expire_all()
    assert steps(cworld)["access"].done_at is None
    manager = client(cworld.manager)
    assert manager.post(f"/compliance/offboarding/steps/{access.id}").status_code == 302
    # another freelancer of the organization finds nothing
    stranger_user = make_user()
    stranger = make_member(cworld.org, roles=("freelancer",), user=stranger_user)
    cworld.session.commit()
    other = client(stranger)
    assert other.get(url).status_code == 404
    handover = steps(cworld)["handover"]
    assert other.post(f"/compliance/offboarding/steps/{handover.id}").status_code == 404


def test_the_checklist_through_the_api(cworld, app, sign_in):
    from fms.identity.models import User

    activate(cworld)
    give_notice(cworld)
    cworld.session.commit()

    def client(actor):
        c = app.test_client()
        sign_in(c, cworld.session.get(User, actor.user_id), cworld.org)
        return c

    path = f"/api/v1/engagements/{cworld.engagement.id}/offboarding"
    listed = client(cworld.me).get(path)
    assert listed.status_code == 200
    by_key = {s["key"]: s for s in listed.get_json()}
    assert [s["key"] for s in listed.get_json()][:2] == ["equipment", "final_timesheet"]
    me = client(cworld.me)
    done = me.post(f"/api/v1/offboarding-steps/{by_key['equipment']['id']}/complete")
    assert done.status_code == 200 and done.get_json()["done_at"]
    again = me.post(f"/api/v1/offboarding-steps/{by_key['equipment']['id']}/complete")
    assert again.status_code == 409
    not_mine = me.post(f"/api/v1/offboarding-steps/{by_key['access']['id']}/complete")
    assert not_mine.status_code == 403
    assert client(cworld.manager).get(path).status_code == 200


def test_compliance_records_in_the_audit_log_link_to_their_pages(cworld, app):
    from fms.audit import hooks

    cworld.policy("nda")
    cworld.publish()
    cworld.onboard()
    signature = cworld.sign()
    document = cworld.upload("w9")
    with app.test_request_context():
        assert hooks._LINKS["compliance_document"](document.id) == (
            f"/compliance/reviews/documents/{document.id}"
        )
        signed = hooks._BATCH_LINKS["signature"]([signature.id])
    assert signed[signature.id] == f"/compliance/engagements/{cworld.engagement.id}"
