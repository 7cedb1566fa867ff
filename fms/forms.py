"""Turning service errors into inline form errors."""


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


def submitted(form, action, *, success: str, then, rename: dict | None = None):
    """For a valid form: run the service, commit, flash, redirect. Otherwise None (re-render).

    Bad input from the service lands on the form as inline errors and changes nothing (the
    transaction is rolled back). `then` is a URL, or a function of the service's result that
    gives one (called before the commit, while the result is still loaded). `rename` maps
    a service's field names to the form's (weekly_minutes -> weekly_hours).
    """
    from flask import flash, redirect

    from fms.errors import InvalidInput, RuleViolation
    from fms.extensions import db

    if not form.validate_on_submit():
        return None
    try:
        result = action()
    except (InvalidInput, RuleViolation) as exc:
        db.session.rollback()
        if rename:
            exc.errors = {rename.get(k, k): v for k, v in (exc.errors or {}).items()}
        apply_errors(form, exc)
        return None
    target = then(result) if callable(then) else then
    db.session.commit()
    flash(success, "success")
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
