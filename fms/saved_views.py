"""Saved views of lists: a name for a list's filters and sort (its query string), kept for
one person or shared with the organization. Created, renamed and deleted from the list's
toolbar (templates/_lists.html); only their owner renames or deletes them."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import Boolean, Index, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from fms.database import Id
from fms.errors import InvalidInput, NotFound
from fms.extensions import db
from fms.forms import OneTimeForm, submitted
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class SavedView(TenantMixin, db.Model):
    """A list's filters and sort under a name: one person's, or shared with the organization."""

    __tablename__ = "saved_view"
    __table_args__ = (Index("ix_saved_view_org_id_list_key", "org_id", "list_key"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    list_key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000), default="")
    owner_user_id: Mapped[Id] = mapped_column()
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def views_for(session: Session, *, actor, list_key: str) -> list[dict]:
    """The actor's own views of a list and those shared with the organization, by name."""
    rows = session.scalars(
        select(SavedView)
        .where(
            SavedView.list_key == list_key,
            or_(SavedView.owner_user_id == actor.user_id, SavedView.shared.is_(True)),
        )
        .order_by(SavedView.name, SavedView.id)
    )
    return [
        {
            "id": v.id,
            "name": v.name,
            "query": v.query,
            "shared": v.shared,
            "mine": v.owner_user_id == actor.user_id,
        }
        for v in rows
    ]


def _list_spec(list_key: str, *, actor):
    """The registered list of that key, for someone who may read it; else InvalidInput."""
    from fms.identity.permissions import require
    from fms.lists import _REGISTRY

    spec = _REGISTRY.get(list_key)
    if spec is None:
        raise InvalidInput("No such list.", errors={"list_key": ["Unknown list."]})
    if spec.permission:
        require(actor, spec.permission)
    return spec


def list_views(session: Session, *, actor, list_key: str) -> list[SavedView]:
    """The views of a list the actor sees (their own and the shared ones), by name."""
    _list_spec(list_key, actor=actor)
    return list(
        session.scalars(
            select(SavedView)
            .where(
                SavedView.list_key == list_key,
                or_(SavedView.owner_user_id == actor.user_id, SavedView.shared.is_(True)),
            )
            .order_by(SavedView.name, SavedView.id)
        )
    )


def get_view(session: Session, *, actor, view_id: int) -> SavedView:
    """A view the actor sees: their own, or one shared with the organization."""
    view = session.scalar(
        select(SavedView).where(
            SavedView.id == view_id,
            or_(SavedView.owner_user_id == actor.user_id, SavedView.shared.is_(True)),
        )
    )
    if view is None:
        raise NotFound("No such saved view.")
    return view


def _clean_query(list_key: str, query: str, *, actor) -> str:
    """The query string as the list reads it (a view never stores what the list refuses);
    only someone who may read the list saves a view of it."""
    from fms.lists import query_from_string

    spec = _list_spec(list_key, actor=actor)
    if len(query) > 2000:
        raise InvalidInput("The view's filters are too long.")
    q = query_from_string(spec, query)  # a 422 for a bad filter
    return urlencode(q.args(page=None, per_page=None))


def create_view(session: Session, *, actor, list_key: str, name: str, query: str, shared: bool):
    """Save a list's filters and sort under a name. Anyone who may read the list keeps views
    for themselves; sharing with the whole organization is for staff."""
    from fms.audit import services as audit
    from fms.errors import NotAllowed

    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput("Name the view.", errors={"name": ["Required, at most 80 characters."]})
    if shared and not actor.is_staff:
        raise NotAllowed("Only staff share views with the organization.")
    view = SavedView(
        org_id=actor.org_id,
        list_key=list_key,
        name=name,
        query=_clean_query(list_key, query or "", actor=actor),
        owner_user_id=actor.user_id,
        shared=bool(shared),
    )
    session.add(view)
    session.flush()
    audit.record(
        session, actor, "saved_view.created", view, after={"list": list_key, "shared": view.shared}
    )
    return view


def _own_view(session: Session, *, actor, view_id: int) -> SavedView:
    view = session.scalar(
        select(SavedView).where(SavedView.id == view_id, SavedView.owner_user_id == actor.user_id)
    )
    if view is None:
        raise NotFound("No such saved view.")
    return view


def get_own_view(session: Session, *, actor, view_id: int) -> SavedView:
    """One of the actor's own views (those they may change); another's is not found."""
    return _own_view(session, actor=actor, view_id=view_id)


def rename_view(session: Session, *, actor, view_id: int, name: str) -> SavedView:
    """The owner renames a view."""
    from fms.audit import services as audit

    view = _own_view(session, actor=actor, view_id=view_id)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput("Name the view.", errors={"name": ["Required, at most 80 characters."]})
    before = view.name
    view.name = name
    session.flush()
    audit.record(
        session, actor, "saved_view.renamed", view, before={"name": before}, after={"name": name}
    )
    return view


def delete_view(session: Session, *, actor, view_id: int) -> str:
    """The owner deletes a view; returns its list key."""
    from fms.audit import services as audit

    view = _own_view(session, actor=actor, view_id=view_id)
    key = view.list_key
    audit.record(session, actor, "saved_view.deleted", view, before={"name": view.name})
    session.delete(view)
    session.flush()
    return key


# --- routes -------------------------------------------------------------------------------

bp = Blueprint("saved_views", __name__, url_prefix="/saved-views")


class SavedViewForm(OneTimeForm):
    list_key = HiddenField(validators=[DataRequired(), Length(max=40)])
    query = HiddenField(validators=[Length(max=2000)])
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    shared = BooleanField("Share with the organization")


class RenameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])


def _list_url(list_key: str, query: str = "") -> str:
    from fms.lists import _REGISTRY

    spec = _REGISTRY.get(list_key)
    base = url_for(spec.endpoint) if spec and spec.endpoint else url_for("reports.home")
    return base + (f"?{query}" if query else "")


@bp.post("")
@login_required
def create():
    from fms.identity.web_session import current_actor

    actor = current_actor()
    form = SavedViewForm()
    done = submitted(
        form,
        lambda: create_view(
            db.session,
            actor=actor,
            list_key=form.list_key.data,
            name=form.name.data,
            query=form.query.data or "",
            shared=form.shared.data,
        ),
        success=lambda view: f"View “{view.name}” saved.",
        then=lambda view: _list_url(view.list_key, view.query),
    )
    if done:
        return done
    flash(" ".join(sum(form.errors.values(), [])) or "The view was not saved.", "danger")
    return redirect(_list_url(request.form.get("list_key", "")))


@bp.post("/<int:view_id>/rename")
@login_required
def rename(view_id: int):
    from fms.identity.web_session import current_actor

    actor = current_actor()
    _own_view(db.session, actor=actor, view_id=view_id)  # another's view: 404 before all else
    form = RenameForm()
    if not form.validate():
        raise InvalidInput("Name the view.", errors={"name": ["Required, at most 80 characters."]})
    view = rename_view(db.session, actor=actor, view_id=view_id, name=form.name.data)
    target = _list_url(view.list_key, view.query)
    db.session.commit()
    flash("View renamed.", "success")
    return redirect(target)


@bp.post("/<int:view_id>/delete")
@login_required
def delete(view_id: int):
    from fms.identity.web_session import current_actor

    key = delete_view(db.session, actor=current_actor(), view_id=view_id)
    db.session.commit()
    flash("View deleted.", "success")
    return redirect(_list_url(key))
