"""The freelancer's compliance onboarding forms: sign by typing one's name, upload a
document, answer the classification questionnaire (built from the jurisdiction's questions
in classification_factors.toml, through the core)."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation

from fms.forms import OneTimeForm

# what each factor of the questionnaires is about, in plain words (the heading of its group)
FACTOR_HEADINGS = {
    "behavioural": ("Behavioural control", "Who decides how the work is done."),
    "financial": ("Financial control", "Who carries the business side of the work."),
    "relationship": ("Type of relationship", "How the parties see and set up the relationship."),
    "A: control": ("A — Control", "Whether you are free from the organization's direction."),
    "B: usual course of business": (
        "B — Usual course of business",
        "Whether the work is outside what the organization usually does.",
    ),
    "C: independent business": (
        "C — Independent business",
        "Whether you run a business of your own of the same kind.",
    ),
    "control": ("Control", "Who decides what, how, when and where."),
    "substitution": ("Substitution", "Whether someone else could do the work in your place."),
    "mutuality of obligation": (
        "Mutuality of obligation",
        "Whether the organization must offer work and you must take it.",
    ),
    "financial risk": ("Financial risk", "Whether you can lose money on the work."),
    "part and parcel": (
        "Part and parcel",
        "Whether you are treated like one of the organization's own staff.",
    ),
}
ANSWER = "Answer yes or no."


def factor_heading(factor: str) -> tuple[str, str]:
    return FACTOR_HEADINGS.get(factor, (factor[:1].upper() + factor[1:], ""))


class SignForm(OneTimeForm):
    typed_name = StringField(
        "Your full legal name",
        validators=[DataRequired("Type your full name to sign."), Length(max=200)],
        description="Type it exactly as on your profile; capitals and spacing do not matter.",
    )
    # what the page showed: the signing service checks it is still what would be signed
    seen_sha256 = HiddenField()


class UploadForm(OneTimeForm):
    file = FileField("File")


def _yes_or_no(form, field) -> None:
    if field.data not in ("yes", "no"):
        field.errors[:] = []
        raise StopValidation(ANSWER)


def questionnaire_form(questions: list[dict]):
    """A form class with one yes/no radio group per question of a questionnaire."""
    fields = {
        q["id"]: RadioField(
            q["text"],
            choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
            validators=[_yes_or_no],
            validate_choice=False,
            description=q.get("source", ""),
        )
        for q in questions
    }
    return type("QuestionnaireForm", (OneTimeForm,), fields)
