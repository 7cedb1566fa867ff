"""Org structure and freelancer profiles: the rules."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, joinedload

from fms import money
from fms.audit import services as audit
from fms.errors import AlreadyExists, InvalidInput
from fms.identity.actor import Actor
from fms.identity.models import Organization
from fms.identity.permissions import may_see_field, require
from fms.input import DATE_MESSAGE, parse_int
from fms.lookups import fold
from fms.records import add_unique
from fms.tenancy import get_in_org
from fms.workforce import queries, rules
from fms.workforce.models import (
    ApprovalRule,
    CostCentre,
    Department,
    ExchangeRate,
    Freelancer,
    FreelancerSkill,
    Location,
    OnboardingTemplateStep,
    Skill,
    Supplier,
    SupplierContact,
    WorkforceSettings,
)
from fms.workforce.queries import freelancer_matches
from fms.workforce.validation import MAX_AMOUNT, RATE_PLACES, amount_in, date_in, has_places

STRUCTURE_KINDS = {
    "department": Department,
    "cost_centre": CostCentre,
    "location": Location,
}
STRUCTURE_LABELS = {
    "department": "department",
    "cost_centre": "cost centre",
    "location": "location",
}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _model(kind: str):
    try:
        return STRUCTURE_KINDS[kind]
    except KeyError:
        raise InvalidInput(f"Unknown kind of unit: {kind!r}.") from None


def _snapshot(unit) -> dict:
    data = {"code": unit.code, "name": unit.name, "is_active": unit.is_active}
    if isinstance(unit, Location):
        data.update(country=unit.country, city=unit.city)
    return data


def _clean(kind: str, *, code, name, country=None, city=None) -> dict:
    errors: dict[str, list[str]] = {}
    code = (code or "").strip()
    name = (name or "").strip()
    if not _CODE.match(code):
        errors["code"] = ["Up to 30 letters, digits, dots, dashes or underscores."]
    if not name or len(name) > 120:
        errors["name"] = ["Required, at most 120 characters."]
    values = {"code": code, "name": name}
    if kind == "location":
        country = (country or "").strip().upper()
        if not _COUNTRY.match(country):
            errors["country"] = ["A two-letter ISO 3166 country code, such as DE."]
        city = (city or "").strip() or None
        if city and len(city) > 120:
            errors["city"] = ["At most 120 characters."]
        values.update(country=country, city=city)
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    return values


def _code_taken(session: Session, model, code: str, exclude_id: int | None = None) -> bool:
    stmt = select(model.id).where(model.code == code)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return session.scalar(stmt) is not None


def list_units(session: Session, *, actor: Actor, kind: str, include_archived: bool = True):
    require(actor, "structure.read")
    model = _model(kind)
    stmt = select(model).order_by(model.is_active.desc(), model.code)
    if not include_archived:
        stmt = stmt.where(model.is_active.is_(True))
    return list(session.scalars(stmt))


def get_unit(session: Session, *, actor: Actor, kind: str, unit_id: int):
    require(actor, "structure.read")
    return get_in_org(session, _model(kind), unit_id, what=STRUCTURE_LABELS[kind])


def create_unit(session: Session, *, actor: Actor, kind: str, **fields):
    """Org admins add a department, cost centre or location; codes are unique per kind."""
    require(actor, "structure.manage")
    model = _model(kind)
    values = _clean(kind, **fields)
    unit = add_unique(
        session,
        model(org_id=actor.org_id, **values),
        existing=lambda: session.scalar(select(model.id).where(model.code == values["code"])),
        detail=f"A {STRUCTURE_LABELS[kind]} with code {values['code']} already exists.",
        errors={"code": ["Already in use."]},
    )
    audit.record(session, actor, f"{kind}.created", unit, after=_snapshot(unit))
    return unit


def update_unit(session: Session, *, actor: Actor, kind: str, unit_id: int, **fields):
    """Rename or recode a unit, or archive it (is_active=False) so it is not offered anymore."""
    require(actor, "structure.manage")
    model = _model(kind)
    unit = get_in_org(session, model, unit_id, what=STRUCTURE_LABELS[kind])
    is_active = fields.pop("is_active", None)
    merged = {"code": unit.code, "name": unit.name}
    if kind == "location":
        merged.update(country=unit.country, city=unit.city)
    merged.update({k: v for k, v in fields.items() if v is not None})
    values = _clean(kind, **merged)
    if _code_taken(session, model, values["code"], exclude_id=unit.id):
        raise InvalidInput(
            f"A {STRUCTURE_LABELS[kind]} with code {values['code']} already exists.",
            errors={"code": ["Already in use."]},
        )
    before = _snapshot(unit)
    for key, value in values.items():
        setattr(unit, key, value)
    if is_active is not None:
        unit.is_active = bool(is_active)
    after = _snapshot(unit)
    if before == after:
        return unit
    action = f"{kind}.updated"
    if before["is_active"] != after["is_active"]:
        action = f"{kind}.{'restored' if after['is_active'] else 'archived'}"
    audit.record(session, actor, action, unit, before=before, after=after)
    return unit


# --- freelancers -------------------------------------------------------------------------


def list_freelancers(
    session: Session,
    *,
    actor: Actor,
    country: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
):
    """Freelancers known to the organization, filtered, one page at a time."""

    require(actor, "freelancers.read")
    stmt = select(Freelancer)
    if country:
        stmt = stmt.where(Freelancer.country == country.upper())
    if search and search.strip():
        stmt = stmt.where(freelancer_matches(search.strip()))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(Freelancer.display_name, Freelancer.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def get_freelancer(session: Session, *, actor: Actor, freelancer_id: int) -> Freelancer:
    require(actor, "freelancers.read")
    return get_in_org(session, Freelancer, freelancer_id, what="freelancer")


def freelancer_countries(session: Session, *, actor: Actor) -> list[str]:
    require(actor, "freelancers.read")
    return list(session.scalars(select(Freelancer.country).distinct().order_by(Freelancer.country)))


# --- settings --------------------------------------------------------------------------------


def update_settings(
    session: Session, *, actor: Actor, notice_period_days, trial_max_days, trial_max_budget=None
):
    """Org admins set the notice period and the trial engagement limits (length, and budget
    in the base currency; an absent budget keeps the current one)."""
    require(actor, "approval_rules.manage")
    errors = {}
    values = {}
    current_budget = queries.workforce_settings(session).trial_max_budget
    if trial_max_budget in (None, ""):
        values["trial_max_budget"] = current_budget
    else:
        values["trial_max_budget"] = amount_in(trial_max_budget)
        if values["trial_max_budget"] is None:
            errors["trial_max_budget"] = ["A positive amount in the base currency."]
        else:
            base = session.get(Organization, actor.org_id).base_currency
            values["trial_max_budget"] = money.round_half_up(values["trial_max_budget"], base)
    for name, value, low, high in (
        ("notice_period_days", notice_period_days, 0, 365),
        ("trial_max_days", trial_max_days, 1, 180),
    ):
        try:
            values[name] = parse_int(value)
        except ValueError:
            values[name] = None
        if values[name] is None or not low <= values[name] <= high:
            errors[name] = [f"A whole number of days from {low} to {high}."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    settings = session.scalar(select(WorkforceSettings))
    if settings is None:  # the first change: the row begins with the defaults
        try:
            settings = add_unique(
                session,
                queries.default_workforce_settings(),
                existing=lambda: session.scalar(select(WorkforceSettings.id)),
                detail="The workforce settings exist.",
            )
        except AlreadyExists:
            settings = session.scalar(select(WorkforceSettings))
    before = {
        "notice_period_days": settings.notice_period_days,
        "trial_max_days": settings.trial_max_days,
        "trial_max_budget": settings.trial_max_budget,
    }
    for name, value in values.items():
        setattr(settings, name, value)
    audit.record(
        session, actor, "workforce_settings.updated", settings, before=before, after=values
    )
    return settings


def set_approval_chain(session: Session, *, actor: Actor, steps: list[dict]) -> list:
    """Replace the approval rules; chains already submitted keep the steps they were given.
    Each step's label is made from its role and threshold (`rules.step_label`); a label sent
    in is ignored, so it can never disagree with the rule."""
    require(actor, "approval_rules.manage")
    from fms.identity.permissions import APPROVER_ROLES

    currency = session.get(Organization, actor.org_id).base_currency

    errors: dict[str, list[str]] = {}
    cleaned = []
    for index, step in enumerate(steps):
        role = step.get("role")
        try:
            minimum = money.to_decimal(step.get("min_budget") or "0")
        except (TypeError, ValueError):
            minimum = None
        # bounded like every amount, and no finer than the column (four places)
        if minimum is not None and not (
            0 <= minimum < MAX_AMOUNT and has_places(minimum, money.MONEY_SCALE)
        ):
            minimum = None
        if role not in APPROVER_ROLES:
            errors[f"steps/{index}/role"] = [f"One of {', '.join(APPROVER_ROLES)}."]
        if minimum is None:
            errors[f"steps/{index}/min_budget"] = [
                "Zero or a positive amount below 1,000,000,000,000, in ASCII digits."
            ]
        if role in APPROVER_ROLES and minimum is not None:
            cleaned.append((role, rules.step_label(role, minimum, currency), minimum))
    if not steps:
        errors["steps"] = ["At least one step."]
    if errors:
        raise InvalidInput("Check the approval steps.", errors=errors)
    before = [
        {"role": r.role, "label": r.label, "min_budget": r.min_budget}
        for r in session.scalars(select(ApprovalRule).order_by(ApprovalRule.position))
    ]
    session.execute(delete(ApprovalRule).execution_options(synchronize_session=False))
    rules_ = []
    for position, (role, label, minimum) in enumerate(cleaned, start=1):
        rule = ApprovalRule(
            org_id=actor.org_id, position=position, role=role, label=label, min_budget=minimum
        )
        session.add(rule)
        rules_.append(rule)
    session.flush()
    after = [{"role": r, "label": lbl, "min_budget": m} for r, lbl, m in cleaned]
    audit.record(
        session,
        actor,
        "approval_rules.replaced",
        entity_type="approval_rule",
        before={"steps": before},
        after={"steps": after},
    )
    return rules_


# --- suppliers -------------------------------------------------------------------------------


def list_suppliers(session: Session, *, actor: Actor) -> list[Supplier]:
    require(actor, "suppliers.read")
    return list(session.scalars(select(Supplier).order_by(Supplier.name)))


def get_supplier(session: Session, *, actor: Actor, supplier_id: int) -> Supplier:
    require(actor, "suppliers.read")
    return get_in_org(session, Supplier, supplier_id, what="supplier")


def supplier_fields(actor: Actor, supplier: Supplier) -> dict:
    """A supplier as the actor may read it: the tax id only for those granted the field
    (procurement, finance); the others learn whether one is on file."""
    fields = {
        "id": supplier.id,
        "name": supplier.name,
        "legal_name": supplier.legal_name,
        "country": supplier.country,
        "tax_id_on_file": supplier.tax_id is not None,
        "is_active": supplier.is_active,
    }
    if may_see_field(actor, "supplier.tax_id"):
        fields["tax_id"] = supplier.tax_id
    return fields


def create_supplier(
    session: Session, *, actor: Actor, name, country, legal_name=None, tax_id=None
) -> Supplier:
    """Procurement registers a staffing agency; names are unique in the organization."""
    require(actor, "suppliers.manage")
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    country = (country or "").strip().upper()
    if not name or len(name) > 200:
        errors["name"] = ["Required, at most 200 characters."]
    if not _COUNTRY.match(country):
        errors["country"] = ["A two-letter ISO 3166 country code, such as DE."]
    tax = None
    if tax_id:
        tax, message = validate_tax_id(country, tax_id)
        if message:
            errors["tax_id"] = [message]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    supplier = add_unique(
        session,
        Supplier(
            org_id=actor.org_id,
            name=name,
            country=country,
            tax_id=tax,
            legal_name=(legal_name or "").strip() or None,
        ),
        existing=lambda: session.scalar(select(Supplier.id).where(Supplier.name == name)),
        detail=f"A supplier named {name} exists.",
        errors={"name": ["A supplier with this name exists."]},
    )
    audit.record(
        session,
        actor,
        "supplier.created",
        supplier,
        after={"name": name, "country": country, "tax_id": tax},
    )
    return supplier


def add_supplier_contact(
    session: Session, *, actor: Actor, supplier_id: int, name, email, phone=None, role=None
) -> SupplierContact:
    require(actor, "suppliers.manage")
    supplier = get_in_org(session, Supplier, supplier_id, what="supplier")
    errors = {}
    name = (name or "").strip()
    email = (email or "").strip().lower()
    if not name or len(name) > 200:
        errors["name"] = ["Required."]
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email) or len(email) > 254:
        errors["email"] = ["A valid email address."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    contact = SupplierContact(
        org_id=actor.org_id,
        supplier_id=supplier.id,
        name=name,
        email=email,
        phone=(phone or "").strip()[:40] or None,
        role=(role or "").strip()[:80] or None,
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "supplier_contact.created",
        contact,
        after={"supplier_id": supplier.id, "name": name, "email": email},
    )
    return contact


def supplier_contacts(session: Session, supplier_id: int) -> list[SupplierContact]:
    return list(
        session.scalars(
            select(SupplierContact)
            .where(SupplierContact.supplier_id == supplier_id)
            .order_by(SupplierContact.name)
        )
    )


def validate_tax_id(country: str, value: str) -> tuple[str | None, str | None]:
    """A tax id checked with python-stdnum's validator for the country, where one exists."""
    from stdnum import get_cc_module
    from stdnum.exceptions import ValidationError

    value = (value or "").strip()
    if len(value) > 40:
        return None, "At most 40 characters."
    for kind in ("vat", "tin", "pan", "ein", "gst"):
        module = get_cc_module(country.lower(), kind) if country else None
        if module is not None:
            try:
                return module.compact(module.validate(value)), None
            except ValidationError:
                name = getattr(module, "name", kind.upper())
                return None, f"Not a valid {name} ({country})."
    return value, None


# --- skills ----------------------------------------------------------------------------------


def list_skills(session: Session, *, actor: Actor) -> list[Skill]:
    require(actor, "freelancers.read")
    return list(session.scalars(select(Skill).order_by(Skill.category, Skill.name)))


def create_skill(session: Session, *, actor: Actor, name, category=None) -> Skill:
    """Add an entry to the organization's skill taxonomy."""
    require(actor, "skills.manage")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput("Name the skill.", errors={"name": ["Required, at most 80."]})
    skill = add_unique(
        session,
        Skill(org_id=actor.org_id, name=name, category=(category or "").strip()[:80] or None),
        # Unicode case folding on both databases (SQLite's lower() folds ASCII only), and
        # the exact name, which the unique constraint itself compares
        existing=lambda: session.scalar(
            select(Skill.id).where(or_(fold(Skill.name) == name.lower(), Skill.name == name))
        ),
        detail="This skill exists.",
        errors={"name": ["Already in the taxonomy."]},
    )
    audit.record(session, actor, "skill.created", skill, after={"name": name})
    return skill


def set_freelancer_skill(
    session: Session, *, actor: Actor, freelancer_id: int, skill_id: int, level
) -> FreelancerSkill:
    """Record a freelancer's level (1-5) in a skill of the taxonomy."""
    require(actor, "freelancers.manage")
    freelancer = get_in_org(session, Freelancer, freelancer_id, what="freelancer")
    skill = get_in_org(session, Skill, skill_id, what="skill")
    try:
        level = parse_int(level)
    except ValueError:
        level = 0
    if not 1 <= level <= 5:
        raise InvalidInput("Level from 1 to 5.", errors={"level": ["From 1 (basic) to 5."]})
    row = session.scalar(
        select(FreelancerSkill).where(
            FreelancerSkill.freelancer_id == freelancer.id, FreelancerSkill.skill_id == skill.id
        )
    )
    before = {"level": row.level} if row else None
    if row is None:
        row = FreelancerSkill(
            org_id=actor.org_id, freelancer_id=freelancer.id, skill_id=skill.id, level=level
        )
        session.add(row)
    row.level = level
    session.flush()
    audit.record(
        session,
        actor,
        "freelancer_skill.set",
        row,
        before=before,
        after={"freelancer_id": freelancer.id, "skill": skill.name, "level": level},
    )
    return row


def freelancer_skills(session: Session, freelancer_id: int) -> list[FreelancerSkill]:
    """A freelancer's skills with their names, in one query (the caller read the profile)."""
    return list(
        session.scalars(
            select(FreelancerSkill)
            .where(FreelancerSkill.freelancer_id == freelancer_id)
            .options(joinedload(FreelancerSkill.skill))
        )
    )


# --- exchange rates --------------------------------------------------------------------------


def add_exchange_rate(session: Session, *, actor: Actor, currency, rate, effective_from):
    """Finance records how much of the base currency one unit of a currency is worth."""
    require(actor, "exchange_rates.manage")
    from fms.identity.models import Organization

    org = session.get(Organization, actor.org_id)
    errors = {}
    try:
        currency = money.check_currency(currency or "")
    except money.CurrencyError:
        errors["currency"] = ["An ISO 4217 currency code such as USD."]
    else:
        if currency == org.base_currency:
            errors["currency"] = [f"{currency} is the base currency."]
    value = amount_in(rate)
    if value is None:
        errors["rate"] = ["A positive number such as 0.92."]
    elif not has_places(value, RATE_PLACES):
        errors["rate"] = ["At most six decimal places."]
    effective = date_in(effective_from)
    if effective is None:
        errors["effective_from"] = [DATE_MESSAGE]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    row = add_unique(
        session,
        ExchangeRate(org_id=actor.org_id, currency=currency, rate=value, effective_from=effective),
        existing=lambda: session.scalar(
            select(ExchangeRate.id).where(
                ExchangeRate.currency == currency, ExchangeRate.effective_from == effective
            )
        ),
        detail=f"There is a {currency} rate for {effective} already.",
        errors={"effective_from": ["There is a rate for this currency and date already."]},
    )
    audit.record(
        session,
        actor,
        "exchange_rate.created",
        row,
        after={"currency": currency, "rate": value, "effective_from": effective},
    )
    return row


# --- onboarding template -----------------------------------------------------------------


def onboarding_template(session: Session) -> list[OnboardingTemplateStep]:
    return list(
        session.scalars(select(OnboardingTemplateStep).order_by(OnboardingTemplateStep.position))
    )


def add_onboarding_template_step(session: Session, *, actor: Actor, title, kind):
    """Org admins shape the checklist that new engagements start with."""
    require(actor, "onboarding_template.manage")
    from fms.workforce.rules import FREELANCER_STEP_KINDS

    title = (title or "").strip()
    errors = {}
    if not title or len(title) > 200:
        errors["title"] = ["Required, at most 200 characters."]
    if kind not in (*FREELANCER_STEP_KINDS, "review"):
        errors["kind"] = ["answer, sign, upload or review."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    # the next position is read, then written: two steps added at once queue here (the
    # head is otherwise taken only at the write) so each reads the other's
    audit.take_head(session, actor.org_id)
    position = (session.scalar(select(func.max(OnboardingTemplateStep.position))) or 0) + 1
    step = OnboardingTemplateStep(org_id=actor.org_id, position=position, title=title, kind=kind)
    session.add(step)
    session.flush()
    audit.record(
        session,
        actor,
        "onboarding_template_step.created",
        step,
        after={"title": title, "kind": kind},
    )
    return step


# --- freelancer profiles ---------------------------------------------------------------------

PROFILE_FIELDS = (
    "legal_name",
    "display_name",
    "email",
    "country",
    "timezone",
    "currency",
    "headline",
    "tax_id",
    "iban",
    "supplier_id",
)


# Bank and tax details: read and changed by finance/procurement (field permissions) and by
# the freelancer on their own profile; everyone else may only learn that they are on file.
BANK_FIELDS = ("iban", "tax_id")


def is_own_profile(actor: Actor, profile: Freelancer) -> bool:
    return profile.user_id is not None and profile.user_id == actor.user_id


def may_see_bank_details(actor: Actor, profile: Freelancer | None = None) -> bool:
    """Whether the actor may read a profile's IBAN and tax id (None: a new profile)."""
    if profile is not None and is_own_profile(actor, profile):
        return True
    return all(may_see_field(actor, f"freelancer.{name}") for name in BANK_FIELDS)


def _require_bank_access(actor: Actor, profile: Freelancer | None, values: dict) -> None:
    """Whoever may not read bank and tax details may not write them either (not even blank)."""
    from fms.errors import NotAllowed

    if any(name in values for name in BANK_FIELDS) and not may_see_bank_details(actor, profile):
        raise NotAllowed("Only procurement and the freelancer change bank and tax details.")


def _clean_profile(session: Session, values: dict, *, freelancer_id: int | None) -> dict:
    from zoneinfo import available_timezones

    from stdnum import iban as iban_check
    from stdnum.exceptions import ValidationError

    errors: dict[str, list[str]] = {}
    out = {}
    for name in ("legal_name", "display_name"):
        out[name] = (values.get(name) or "").strip()
        if not out[name] or len(out[name]) > 200:
            errors[name] = ["Required, at most 200 characters."]
    email = (values.get("email") or "").strip().lower()
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email) or len(email) > 254:
        errors["email"] = ["A valid email address."]
    else:
        clash = select(Freelancer.id).where(Freelancer.email == email)
        if freelancer_id is not None:
            clash = clash.where(Freelancer.id != freelancer_id)
        if session.scalar(clash):
            errors["email"] = ["Another freelancer of this organization has this email."]
    out["email"] = email
    country = (values.get("country") or "").strip().upper()
    if not _COUNTRY.match(country):
        errors["country"] = ["A two-letter ISO 3166 country code, such as DE."]
    out["country"] = country
    timezone = (values.get("timezone") or "").strip()
    if timezone not in available_timezones():
        errors["timezone"] = ["An IANA timezone such as Europe/Berlin."]
    out["timezone"] = timezone
    try:
        out["currency"] = money.check_currency(values.get("currency") or "")
    except money.CurrencyError:
        errors["currency"] = ["An ISO 4217 currency code such as EUR."]
    out["headline"] = (values.get("headline") or "").strip()[:200] or None
    out["tax_id"] = None
    if values.get("tax_id") and not errors.get("country"):
        out["tax_id"], message = validate_tax_id(country, values["tax_id"])
        if message:
            errors["tax_id"] = [message]
    out["iban"] = None
    if values.get("iban"):
        try:
            out["iban"] = iban_check.validate(values["iban"])
        except ValidationError:
            errors["iban"] = ["Not a valid IBAN."]
    supplier_id = values.get("supplier_id")
    out["supplier_id"] = None
    if supplier_id not in (None, "", 0):
        supplier = session.scalar(select(Supplier).where(Supplier.id == int(supplier_id)))
        if supplier is None:
            errors["supplier_id"] = ["Choose one of the organization's suppliers."]
        else:
            out["supplier_id"] = supplier.id
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    return out


def create_freelancer(session: Session, *, actor: Actor, **values) -> Freelancer:
    """Procurement records a freelancer (e.g. one a supplier proposes) before inviting them."""
    require(actor, "freelancers.manage")
    _require_bank_access(actor, None, {k: v for k, v in values.items() if v not in (None, "")})
    cleaned = _clean_profile(session, values, freelancer_id=None)
    profile = add_unique(
        session,
        Freelancer(org_id=actor.org_id, **cleaned),
        existing=lambda: session.scalar(
            select(Freelancer.id).where(Freelancer.email == cleaned.get("email"))
        ),
        detail="A freelancer with this email exists.",
        errors={"email": ["A freelancer with this email exists."]},
    )
    audit.record(session, actor, "freelancer.created", profile, after=cleaned)
    return profile


def update_freelancer(session: Session, *, actor: Actor, freelancer_id: int, **values):
    """Procurement, or the freelancer for their own profile, keep the profile current."""
    profile = get_in_org(session, Freelancer, freelancer_id, what="freelancer")
    own = is_own_profile(actor, profile)
    if not (own or actor.can("freelancers.manage")):
        from fms.errors import NotAllowed, NotFound

        if actor.can("freelancers.read"):
            raise NotAllowed("Procurement keeps freelancer profiles.")
        raise NotFound("No such freelancer.")
    _require_bank_access(actor, profile, values)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    merged = before | {k: v for k, v in values.items() if k in PROFILE_FIELDS}
    if own and not actor.can("freelancers.manage"):
        merged["supplier_id"] = profile.supplier_id  # the supplier link is procurement's
    cleaned = _clean_profile(session, merged, freelancer_id=profile.id)
    for name, value in cleaned.items():
        setattr(profile, name, value)
    after = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    if after != before:
        # the audit log says whether IBAN and tax id were set, changed or removed, not their values
        audit.record(session, actor, "freelancer.updated", profile, before=before, after=after)
    return profile


def own_profile(session: Session, *, actor: Actor) -> Freelancer:
    """The signed-in freelancer's profile in the current organization."""
    from fms.errors import NotFound

    profile = session.scalar(select(Freelancer).where(Freelancer.user_id == actor.user_id))
    if profile is None or actor.user_id is None:
        raise NotFound("You have no freelancer profile in this organization.")
    return profile
