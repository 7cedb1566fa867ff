"""Factories of the list component: saved views and finished export jobs."""

import itertools

import pytest

from tests.factories import as_org

_seq = itertools.count(1)


@pytest.fixture
def make_saved_view(session, make_member):
    def make(org, *, owner_user_id=None, **overrides):
        from fms.saved_views import SavedView

        if owner_user_id is None:
            owner_user_id = make_member(org).user_id
        values = {
            "org_id": org.id,
            "list_key": "engagements",
            "name": f"View {next(_seq)}",
            "query": "state=active",
            "owner_user_id": owner_user_id,
            "shared": False,
            **overrides,
        }
        with as_org(session, org.id):
            view = SavedView(**values)
            session.add(view)
            session.flush()
        return view

    return make


@pytest.fixture
def make_export_run(app, make_job_run):
    """A finished export job with its file in storage."""

    def make(org, **overrides):
        from fms.lists import export_path

        run = make_job_run(
            org,
            name="fms.lists.export_list",
            state="finished",
            progress=100,
            result={"rows": 1, "format": "csv", "filename": "engagements.csv"},
            **overrides,
        )
        path = export_path(app.config["FMS_STORAGE_DIR"], run.id, "csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xef\xbb\xbfid\r\n1\r\n")
        return run

    return make


def _own_view(f, org):
    """Org A's view is the signed-in admin's own (only owners rename and delete views)."""
    admin = f.org_admin
    owner = admin.user_id if org.id == admin.org_id else None
    return f.make_saved_view(org, owner_user_id=owner).id


ID_FACTORIES = {
    "view_id": _own_view,
    "run_id": lambda f, org: f.make_export_run(org).id,
}
