"""Exports over a real HTTP server: streamed responses outlive the view, so their rows must
come from the request's own (organization-scoped) session, not a fresh one."""

import csv
import io
import urllib.request

from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from tests.factories import as_org


def _get(app, session, base, membership, org, path: str) -> str:
    user = session.get(User, membership.user_id)
    with as_org(session, org.id):
        started = identity.start_session(
            session, user=user, method="password", ip="127.0.0.1", user_agent="t", org_id=org.id
        )
    session.commit()
    cookie = app.session_interface.get_signing_serializer(app).dumps({TOKEN_KEY: started.token})
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        base + path, headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
        assert response.status == 200
        return response.read().decode("utf-8-sig")


def test_streamed_csv_exports_carry_their_rows(
    app, live_fms, make_org, make_member, make_engagement, make_supplier
):
    from fms.extensions import db

    session = db.session
    org = make_org()
    admin = make_member(org, roles=("org_admin",))
    make_supplier(org, name="Talent Partners")
    for _ in range(3):
        make_engagement(org)
    session.commit()
    for path, expected in (
        ("/engagements/export.csv", 3),
        ("/suppliers/export.csv", 1),
        ("/admin/audit.csv", None),
    ):
        text = _get(app, session, live_fms, admin, org, path)
        rows = list(csv.reader(io.StringIO(text)))
        body = rows[1:]
        if expected is None:
            assert body, path  # the audit log holds at least the sign-ins above
        else:
            assert len(body) == expected, (path, rows)


def test_the_streamed_spend_csv_reaches_the_client(app, live_fms, make_org, make_member, caplog):
    """The spend export's CSV is streamed after the view returns: it must still read through
    the request's session (a generator without the request context failed mid-response)."""
    from fms.extensions import db

    session = db.session
    org = make_org()
    finance = make_member(org, roles=("finance",))
    session.commit()
    text = _get(
        app,
        session,
        live_fms,
        finance,
        org,
        "/reports/exports/spend.csv?from=2026-01-01&to=2026-11-30",
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0][0], rows  # the header row, at least
    # a failure after the header only shows in the server's log (the body just stops)
    failures = [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]
