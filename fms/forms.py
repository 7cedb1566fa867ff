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

    number = int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError(value)
    return number


def page_arg(value: str) -> int:
    """A page number from 1 to 1,000,000 (for `type=`), else the default."""
    number = int(value)
    if not 1 <= number <= 1_000_000:
        raise ValueError(value)
    return number
