"""Form helpers: service errors as inline form errors, post/redirect/get, one-time tokens.

One-time tokens (issue 8): a form that creates a record carries a hidden token, issued
when the form is rendered, so a double click, a reload that re-posts or a second tab
creates one record, not two. The token is signed (who it was issued to, in which
organization, a random nonce, when), so issuing it writes nothing. The first successful
POST consumes it by inserting its nonce into `form_token` (primary key: two simultaneous
posts cannot both insert it, on SQLite or PostgreSQL) in the transaction that creates the
record, together with the created record's URL; a second POST with the same token creates
nothing and is sent to that URL. A form re-rendered with errors keeps its token (the insert
is rolled back with the failed change); a missing, forged or expired token re-renders the
form with a message and a fresh token. Used tokens are kept as long as tokens live, then
purged by the daily `flask fms sso purge`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import wraps

from flask_wtf import FlaskForm
from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import HiddenField

from fms.database import Id
from fms.extensions import db
from fms.timekeeping import UTCDateTime, utcnow

TOKEN_FIELD = "form_token"  # noqa: S105 - a field name, not a secret
TOKEN_MAX_AGE = timedelta(days=7)
EXPIRED = "This form has expired; check and submit again."
ALREADY = "This form was already submitted: nothing new was created."
_SALT = "fms.form-token"


class UsedFormToken(db.Model):
    """A one-time form token that was used, and what its form created."""

    __tablename__ = "form_token"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[Id | None] = mapped_column()
    org_id: Mapped[Id | None] = mapped_column()
    result_url: Mapped[str | None] = mapped_column(String(2000))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


def _serializer():
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    config = current_app.config
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or []), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=_SALT)


def _holder() -> list:
    """Who a token is for: the signed-in person and their current organization."""
    from flask import g

    actor = g.get("actor")
    return [actor.user_id, actor.org_id] if actor is not None else [None, None]


def issue_token() -> str:
    """A fresh one-time token for a form about to be rendered (writes nothing)."""
    return _serializer().dumps([*_holder(), secrets.token_hex(16)])


def _nonce(raw) -> str | None:
    """The nonce of a genuine, unexpired token issued to this person here; else None."""
    from itsdangerous import BadData

    if not isinstance(raw, str) or not raw or len(raw) > 500:
        return None
    try:
        user_id, org_id, nonce = _serializer().loads(
            raw, max_age=int(TOKEN_MAX_AGE.total_seconds())
        )
    except (BadData, TypeError, ValueError):
        return None
    if [user_id, org_id] != _holder() or not isinstance(nonce, str) or len(nonce) != 32:
        return None
    return nonce


def _used_url(nonce: str) -> str | None:
    return db.session.scalar(select(UsedFormToken.result_url).where(UsedFormToken.nonce == nonce))


def _was_used(nonce: str) -> bool:
    found = select(UsedFormToken.nonce).where(UsedFormToken.nonce == nonce)
    return db.session.scalar(found) is not None


def _claim(nonce: str, result_url: str | None = None) -> UsedFormToken | None:
    """Consume the token in the current transaction; None when another request has
    consumed it (a unique insert in a savepoint: the loser waits for the winner's commit,
    then fails on the primary key)."""
    user_id, org_id = _holder()
    row = UsedFormToken(nonce=nonce, user_id=user_id, org_id=org_id, result_url=result_url)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return None
    return row


def _already(nonce: str, fallback: str):
    from flask import flash, redirect

    flash(ALREADY, "info")
    return redirect(_used_url(nonce) or fallback)


def purge_used_tokens(session) -> int:
    """Housekeeping: forget used tokens older than any token still accepted."""
    table = UsedFormToken.__table__
    cutoff = utcnow() - TOKEN_MAX_AGE - timedelta(hours=1)
    return session.execute(delete(table).where(table.c.used_at < cutoff)).rowcount


class OneTimeTokenField(HiddenField):
    """The hidden one-time token: a fresh one whenever the form renders without one."""

    def _value(self):
        if not self.data:
            self.data = issue_token()
        return self.data


class OneTimeForm(FlaskForm):
    """A form that creates a record: it carries a one-time token, which `submitted` checks.

    `one_time=False` drops the token, for the same fields used to edit a record (an edit
    posted twice changes nothing the second time).
    """

    form_token = OneTimeTokenField()

    def __init__(self, *args, one_time: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not one_time:
            del self[TOKEN_FIELD]


def _token_field(form):
    return getattr(form, TOKEN_FIELD, None) if isinstance(form, OneTimeForm) else None


def creates_once(then):
    """For a POST view whose hand-written form creates a record: the one-time token of the
    request is consumed before the view runs (in its transaction), and `then(**view_args)`
    is where the record shows; a second POST with the token goes there and changes nothing,
    a missing or expired token goes there with a message."""

    def decorate(view):
        @wraps(view)
        def guarded(**kwargs):
            from flask import flash, redirect, request

            target = then(**kwargs)
            nonce = _nonce(request.form.get(TOKEN_FIELD))
            if nonce is None:
                flash(EXPIRED, "warning")
                return redirect(target)
            if _was_used(nonce) or _claim(nonce, target) is None:
                return _already(nonce, target)
            return view(**kwargs)

        return guarded

    return decorate


def apply_errors(form, exc) -> None:
    """Attach a service's per-field errors to the form's fields (others go to the top)."""
    unplaced = []
    for name, messages in (exc.errors or {}).items():
        field = getattr(form, name, None)
        if field is None:
            unplaced.extend(messages)
        else:
            field.errors = list(field.errors or []) + list(messages)
    form.form_errors = list(getattr(form, "form_errors", []) or []) + unplaced
    if not exc.errors:
        form.form_errors.append(exc.detail)


def submitted(form, action, *, success, then, rename: dict | None = None):
    """For a valid form: run the service, commit, flash, redirect. Otherwise None (re-render).

    Bad input from the service lands on the form as inline errors and changes nothing (the
    transaction is rolled back). `then` is a URL, or a function of the service's result that
    gives one (called before the commit, while the result is still loaded); `success` is a
    message, or a function of the result that gives one. `rename` maps a service's field
    names to the form's (weekly_minutes -> weekly_hours). A `OneTimeForm`'s token is
    consumed with the change: a second POST with it changes nothing and goes to what the
    first one created.
    """
    from flask import flash, redirect, request

    from fms.errors import InvalidInput, RuleViolation

    if not form.is_submitted():
        return None
    valid = form.validate()
    token = _token_field(form)
    nonce = None
    if token is not None:
        nonce = _nonce(token.data)
        if nonce is None:
            form.form_errors.append(EXPIRED)
            token.data = None  # renders with a fresh token
            return None
        if _was_used(nonce):
            return _already(nonce, then if isinstance(then, str) else request.path)
    if not valid:
        return None
    claim = None
    if nonce is not None:
        claim = _claim(nonce)
        if claim is None:  # a simultaneous POST with the same token won
            return _already(nonce, then if isinstance(then, str) else request.path)
    try:
        result = action()
    except (InvalidInput, RuleViolation) as exc:
        db.session.rollback()  # the token's claim too: the form keeps its token
        if rename:
            exc.errors = {rename.get(k, k): v for k, v in (exc.errors or {}).items()}
        apply_errors(form, exc)
        return None
    target = then(result) if callable(then) else then
    message = success(result) if callable(success) else success
    if claim is not None:
        claim.result_url = target
    db.session.commit()
    flash(message, "success")
    return redirect(target)


def status_of(*forms) -> int:
    """422 when a form shows errors (so clients and tests see the refusal), else 200."""
    return 422 if any(f.errors or getattr(f, "form_errors", None) for f in forms) else 200


def id_arg(value: str) -> int:
    """For `request.args.get(name, type=id_arg)`: a positive whole number that fits the
    id columns (fms.tenancy.MAX_ID); anything else falls back to the default instead of failing."""
    from fms.tenancy import MAX_ID

    number = parse_int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError(value)
    return number


def page_arg(value: str) -> int:
    """A page number from 1 to 1,000,000 (for `type=`), else the default."""
    number = parse_int(value)
    if not 1 <= number <= 1_000_000:
        raise ValueError(value)
    return number


# --- the strict input layer for pages (fms.input holds the rules) ---------------------------


def date_filter(name: str, label: str | None = None):
    """A date query filter of a page (`?on=`, `?date_from=`): None when absent; a date within
    the business range; anything else an InvalidInput, a 422 page naming the range, instead of
    a silent fallback or a crash in the date arithmetic further down."""
    from flask import request

    from fms.errors import InvalidInput
    from fms.input import DATE_MESSAGE, parse_date

    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError:
        raise InvalidInput(
            f"{label or name}: {DATE_MESSAGE}", errors={name: [DATE_MESSAGE]}
        ) from None


# The fields every page form takes dates and numbers through (imported here, at the end,
# so this section stands on its own; the helpers above import lazily).
import wtforms  # noqa: E402
import wtforms.validators  # noqa: E402

from fms.input import (  # noqa: E402
    DATE_MESSAGE,
    MAX_DATE,
    MIN_DATE,
    WHOLE_MESSAGE,
    parse_date,
    parse_int,
)
from fms.money import to_decimal  # noqa: E402


class _Strict:
    """Parse a field's text with `parse` (which raises ValueError with the message to show).
    A blank field is None, left to DataRequired or Optional; a field that does not parse
    keeps its own message (DataRequired would otherwise replace it with "required")."""

    message = "Not valid."

    def parse(self, text: str):
        raise NotImplementedError

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        text = " ".join(str(v) for v in valuelist).strip()
        if text:
            try:
                self.data = self.parse(text)
            except (TypeError, ValueError):
                raise ValueError(self.message) from None

    def pre_validate(self, form):
        if self.process_errors:
            raise wtforms.validators.StopValidation()
        super().pre_validate(form)


class DateField(_Strict, wtforms.DateField):
    """A date within the business range, YYYY-MM-DD in ASCII digits (the browser's date
    input sends that, and is told the range with min and max)."""

    message = DATE_MESSAGE

    def __init__(self, *args, **kwargs):
        render_kw = {"min": MIN_DATE.isoformat(), "max": MAX_DATE.isoformat()}
        kwargs["render_kw"] = render_kw | (kwargs.get("render_kw") or {})
        super().__init__(*args, **kwargs)

    def parse(self, text):
        return parse_date(text)


class DecimalField(_Strict, wtforms.DecimalField):
    """An exact number in ASCII digits: never NaN, an infinity or other scripts' digits
    (which Python's Decimal() reads); the services bound it."""

    message = "A number in ASCII digits, such as 1250.50."

    def parse(self, text):
        return to_decimal(text)


class IntegerField(_Strict, wtforms.IntegerField):
    """A whole number in ASCII digits (int() would read other scripts' digits too)."""

    message = WHOLE_MESSAGE

    def parse(self, text):
        return parse_int(text)


def whole_number(value) -> int:
    """`coerce=` for select fields of ids and levels: ASCII digits only (int() reads "١")."""
    return parse_int(value)


class LookupField(wtforms.Field):
    """A type-ahead picker: an id in a hidden input, and the text typed to find it.

    Rendered by `combobox()` in templates/_combobox.html; fms/static/js/combobox.js asks
    the lookup endpoint for a page of matches as the person types. Without JavaScript the
    person types a name (or code, or email) and the server resolves it here: one match is
    taken, several or none are a validation message — never a select of thousands.
    `search(text)` returns a `fms.lookups.LookupPage`, `describe(id)` the chosen option's
    `Match` (or None); both run at request time. `endpoint` and `params` name the lookup
    route the browser calls.
    """

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        search,
        describe,
        endpoint: str,
        params: dict | None = None,
        noun: str = "entry",
        required: bool = False,
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.search, self.describe = search, describe
        self.endpoint, self.params = endpoint, params or {}
        self.noun, self.required = noun, required
        self.text = ""
        self.chosen = None  # the Match shown for the current id

    @property
    def text_name(self) -> str:
        return f"{self.name}_text"

    def process(self, formdata, data=wtforms.utils.unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        if formdata is not None and self.text_name in formdata:
            self.text = " ".join(formdata.get(self.text_name, "").split())[:100]
        elif self.data:
            self.text = None  # the label of the id, looked up when shown

    def process_data(self, value):
        self.data = value or None

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and valuelist[0].strip():
            try:
                self.data = parse_int(valuelist[0].strip())
            except ValueError:
                raise ValueError(f"Choose the {self.noun} from the list.") from None

    def _value(self):
        return "" if self.data is None else str(self.data)

    def label_text(self) -> str:
        """What the visible text input shows."""
        if self.text is not None:
            return self.text
        self.chosen = self.describe(self.data) if self.data else None
        return self.chosen.label if self.chosen else ""

    def pre_validate(self, form):
        if self.process_errors:
            raise wtforms.validators.StopValidation()
        if self.text == "":  # the text was cleared: nothing is chosen
            self.data = None
        chosen = self.describe(self.data) if self.data else None
        if self.data and chosen is None:
            self.data = None
            raise wtforms.validators.StopValidation(f"Choose the {self.noun} from the list.")
        if self.text and (chosen is None or chosen.label != self.text):
            # typed, not picked (no JavaScript, or edited after picking): resolve the text
            found = self.search(self.text)
            exact = [m for m in found.items if self.text.casefold() in _exact_keys(m)]
            if len(found.items) == 1 or len(exact) == 1:
                chosen = (exact or found.items)[0]
                self.data, self.text = chosen.id, chosen.label
            else:
                self.data = None
                many = "more than one" if found.items else "none"
                raise wtforms.validators.StopValidation(
                    f"“{self.text}” matches {many}: type the full name, code or email "
                    f"of the {self.noun}."
                )
        self.chosen = chosen
        if self.required and not self.data:
            raise wtforms.validators.StopValidation(f"Choose the {self.noun}.")


def _exact_keys(match) -> set[str]:
    keys = {match.label.casefold()}
    keys.update(part.strip().casefold() for part in (match.detail or "").split("·"))
    return keys
