"""Outside development and test, laptop settings stop the app; secrets have their own keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from fms.config import DEV_SECRET_KEY, ConfigError
from fms.encryption import decrypt, encrypt, keys_for
from fms.identity.models import Organization
from fms.identity.sso.models import SsoConnection
from tests.conftest import make_app

GOOD_SECRET = "s" * 48
KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Start an app under FMS_ENV=<env> with the given environment variables."""

    def start(fms_env: str, **variables):
        monkeypatch.setenv("FMS_ENV", fms_env)
        for name in ("FMS_SECRET_KEY", "FMS_ENCRYPTION_KEYS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        # make_app passes a test SECRET_KEY: use the environment's, as production does
        secret = variables.get("FMS_SECRET_KEY", DEV_SECRET_KEY)
        return make_app(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/g.sqlite3",
            SECRET_KEY=secret,
            FMS_DOMAIN_VERIFICATION=variables.get("FMS_DOMAIN_VERIFICATION", "dns"),
        )

    return start


@pytest.mark.parametrize("fms_env", ["staging", "production", "prod", "qa"])
def test_any_env_but_development_and_test_refuses_the_development_key(env, fms_env):
    with pytest.raises(ConfigError, match="FMS_SECRET_KEY"):
        env(fms_env, FMS_ENCRYPTION_KEYS=KEY_NEW)


def test_staging_refuses_a_short_secret_key(env):
    with pytest.raises(ConfigError, match="at least 32"):
        env("staging", FMS_SECRET_KEY="x" * 31, FMS_ENCRYPTION_KEYS=KEY_NEW)


def test_staging_requires_encryption_keys_and_valid_ones(env):
    with pytest.raises(ConfigError, match="FMS_ENCRYPTION_KEYS"):
        env("staging", FMS_SECRET_KEY=GOOD_SECRET)
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        env("staging", FMS_SECRET_KEY=GOOD_SECRET, FMS_ENCRYPTION_KEYS=f"{KEY_NEW},oops")


def test_staging_starts_with_proper_settings_and_development_with_none(env):
    app = env("staging", FMS_SECRET_KEY=GOOD_SECRET, FMS_ENCRYPTION_KEYS=KEY_NEW)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    # staging is served over https like production: HSTS too
    assert "max-age=" in app.test_client().get("/login").headers["Strict-Transport-Security"]
    assert env("development").config["SECRET_KEY"] == DEV_SECRET_KEY
    assert env("test").config["FMS_ENV"] == "test"


@pytest.mark.parametrize("fms_env", ["production", "staging"])
def test_the_demo_refuses_to_load_outside_development_and_test(env, fms_env):
    from flask_migrate import upgrade

    from fms.extensions import db

    app = env(fms_env, FMS_SECRET_KEY=GOOD_SECRET, FMS_ENCRYPTION_KEYS=KEY_NEW)
    with app.app_context():
        upgrade(revision="heads")
        result = app.test_cli_runner().invoke(args=["fms", "demo"])
        assert result.exit_code != 0
        assert "only loads when FMS_ENV is development or test" in result.output
        assert db.session.scalars(select(Organization)).all() == []
        db.engine.dispose()


# --- secrets encryption --------------------------------------------------------------------


def test_multifernet_encrypts_with_the_newest_key_and_decrypts_with_older_ones(
    app, session, monkeypatch
):
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", KEY_OLD)
    old_token = encrypt("client-secret-1")
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", f"{KEY_NEW}, {KEY_OLD}")
    assert decrypt(old_token) == "client-secret-1"
    new_token = encrypt("client-secret-2")
    assert Fernet(KEY_NEW.encode()).decrypt(new_token.encode()) == b"client-secret-2"
    with pytest.raises(InvalidToken):
        Fernet(KEY_OLD.encode()).decrypt(new_token.encode())
    # a key taken away no longer opens its values
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", KEY_NEW)
    assert decrypt(old_token) is None


def test_development_without_keys_uses_the_key_derived_from_secret_key(app, session, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", "")
    assert len(keys_for(app.config)) == 1  # only the derived one
    token = encrypt("dev-secret")
    assert decrypt(token) == "dev-secret"


def test_secrets_rotate_rewrites_stored_secrets_under_the_newest_key(
    app, session, make_org, make_user, make_oidc_connection, monkeypatch
):
    from fms.identity.models import User

    org = make_org()
    # one secret saved before FMS_ENCRYPTION_KEYS existed (derived key), two under the old key
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", "")
    legacy = make_oidc_connection(
        org, issuer="https://idp.example.com", client_secret_encrypted=encrypt("legacy")
    )
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", KEY_OLD)
    connection = make_oidc_connection(
        org, issuer="https://idp2.example.com", client_secret_encrypted=encrypt("oidc-secret")
    )
    user = make_user(totp_secret_encrypted=encrypt("JBSWY3DPEHPK3PXP"))
    untouched = make_user()
    broken = make_user(totp_secret_encrypted="not-a-fernet-token")
    session.commit()
    before = {
        legacy.id: legacy.client_secret_encrypted,
        connection.id: connection.client_secret_encrypted,
    }
    user_token = user.totp_secret_encrypted
    ids = (legacy.id, connection.id, user.id, untouched.id, broken.id)

    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", f"{KEY_NEW},{KEY_OLD}")
    result = app.test_cli_runner().invoke(args=["fms", "secrets", "rotate"])
    assert "3 secret(s) re-encrypted" in result.output, result.output
    assert f"user_account.totp_secret_encrypted #{broken.id}" in result.output
    assert result.exit_code == 1  # an unreadable value is reported, and left as it was

    session.expire_all()
    everyone = {"all_tenants": True}
    rows = {
        c.id: c for c in session.scalars(select(SsoConnection).execution_options(**everyone)).all()
    }
    new_key = Fernet(KEY_NEW.encode())
    for conn_id, plain in ((ids[0], b"legacy"), (ids[1], b"oidc-secret")):
        token = rows[conn_id].client_secret_encrypted
        assert token != before[conn_id]
        assert new_key.decrypt(token.encode()) == plain
    rotated_user = session.get(User, ids[2])
    assert rotated_user.totp_secret_encrypted != user_token
    assert new_key.decrypt(rotated_user.totp_secret_encrypted.encode()) == b"JBSWY3DPEHPK3PXP"
    assert session.get(User, ids[3]).totp_secret_encrypted is None
    assert session.get(User, ids[4]).totp_secret_encrypted == "not-a-fernet-token"

    # the old key can now go: everything still opens with the newest alone
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", KEY_NEW)
    assert decrypt(rows[ids[1]].client_secret_encrypted) == "oidc-secret"
    assert decrypt(rotated_user.totp_secret_encrypted) == "JBSWY3DPEHPK3PXP"


def test_manual_domain_verification_is_refused_outside_development_and_test(env):
    """A verified domain makes its organization the authority for its addresses."""
    from cryptography.fernet import Fernet

    with pytest.raises(ConfigError, match="FMS_DOMAIN_VERIFICATION=dns"):
        env(
            "staging",
            FMS_SECRET_KEY="s" * 48,
            FMS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            FMS_DOMAIN_VERIFICATION="manual",
        )
