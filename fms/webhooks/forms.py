"""The endpoint form of the webhook pages (the services check everything again)."""

from __future__ import annotations

from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fms.forms import OneTimeForm
from fms.identity.forms import MultiCheckboxField
from fms.webhooks.events import event_choices
from fms.webhooks.services import MAX_DESCRIPTION, MAX_URL


class EndpointForm(OneTimeForm):
    url = StringField(
        "Receiver URL",
        validators=[DataRequired(), Length(max=MAX_URL)],
        description="An https:// address on a public host. FMS posts each event there as JSON.",
    )
    description = TextAreaField(
        "Description (optional)",
        validators=[Optional(), Length(max=MAX_DESCRIPTION)],
        description="What the receiver is, for whoever reads the list next.",
    )
    events = MultiCheckboxField("Events", validators=[DataRequired("Choose one or more.")])
    is_active = BooleanField("Active: send events to this endpoint", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events.choices = event_choices()

    def values(self) -> dict:
        return {
            "url": self.url.data,
            "description": self.description.data or "",
            "events": self.events.data or [],
            "is_active": bool(self.is_active.data),
        }
