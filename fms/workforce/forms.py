"""HTML forms of workforce pages."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional


class UnitForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=30)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    is_active = BooleanField("Active", default=True)


class LocationForm(UnitForm):
    country = StringField(
        "Country", validators=[DataRequired(), Length(min=2, max=2)], description="e.g. DE"
    )
    city = StringField("City", validators=[Optional(), Length(max=120)])


def unit_form(kind: str, **kwargs):
    return (LocationForm if kind == "location" else UnitForm)(**kwargs)
