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
