"""Billing settings: the organization's billing period, issuing entity and numbering, its
bill-to entities, which cost centre bills to which entity, and VAT rates. Services flush,
never commit; each docstring says the rule."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fms import money
from fms.audit import services as audit
from fms.errors import AlreadyExists, InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import rules
from fms.invoicing.models import (
    BillingSettings,
    BillToEntity,
    CostCentreBilling,
    ServiceFee,
    TaxComponent,
    VatRate,
)
from fms.records import add_unique
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.timesheets.services import date_in, text_in
from fms.workforce.models import CostCentre, Supplier

_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", re.ASCII)
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", re.ASCII)
_PREFIX = re.compile(r"[A-Za-z0-9/_.-]{0,20}", re.ASCII)
MAX_VAT_RATE = Decimal(100)

# the settings a field may take, and how each is read
_TEXT_FIELDS = {
    "issuer_legal_name": 200,
    "issuer_address": 1000,
    "issuer_vat_id": 40,
    "issuer_bank_text": 500,
}


def country_in(value, name: str = "country") -> str:
    text = str(value or "").strip().upper()
    if not _COUNTRY.fullmatch(text):
        raise InvalidInput("A two-letter ISO 3166 country code.", errors={name: ["Country."]})
    return text


def _pattern_in(value, pattern, name: str, message: str) -> str | None:
    text = re.sub(r"\s+", "", str(value or "")).upper()
    if not text:
        return None
    if not pattern.fullmatch(text):
        raise InvalidInput(message, errors={name: [message]})
    return text


def billing_settings(session) -> BillingSettings:
    """The organization's billing settings; an unsaved row of defaults when none is stored."""
    row = session.scalar(select(BillingSettings))
    if row is None:
        row = BillingSettings(
            billing_period="monthly",
            issuer_legal_name="",
            issuer_address="",
            issuer_country="DE",
            payment_terms_days=30,
            invoice_prefix="INV-",
            credit_note_prefix="CN-",
            yearly_reset=True,
            four_eyes=False,
        )
    return row


def _settings_for_change(session) -> BillingSettings:
    """The organization's settings row for a change, locked until the transaction ends; the
    first change stores the defaults first. Two first saves at once would both insert
    (the second failing the unique org_id, a 500): the insert runs in a savepoint, and the
    one that loses it locks the winner's row instead."""
    row = session.scalar(select(BillingSettings).with_for_update())
    if row is not None:
        return row
    row = billing_settings(session)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.scalar(select(BillingSettings).with_for_update())
    return row


def update_billing_settings(session, *, actor: Actor, **values) -> BillingSettings:
    """Finance and org admins set the billing period, the issuing entity, numbering and the
    four-eyes rule. Issued invoices keep the issuer as it was (they hold a copy)."""
    require(actor, "invoicing.manage")
    row = _settings_for_change(session)
    changes: dict = {}
    for key, value in values.items():
        if key in _TEXT_FIELDS:
            changes[key] = text_in(value, limit=_TEXT_FIELDS[key], name=key) or (
                None if key in ("issuer_vat_id", "issuer_bank_text") else ""
            )
        elif key == "billing_period":
            if value not in rules.BILLING_PERIODS:
                raise InvalidInput(
                    "Monthly, weekly or semi-monthly.", errors={key: ["Choose one."]}
                )
            changes[key] = value
        elif key == "issuer_country":
            changes[key] = country_in(value, key)
        elif key == "issuer_iban":
            changes[key] = _pattern_in(
                value, _IBAN, key, "An IBAN, such as DE89370400440532013000."
            )
        elif key == "issuer_bic":
            changes[key] = _pattern_in(value, _BIC, key, "A BIC of 8 or 11 characters.")
        elif key == "payment_terms_days":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
                raise InvalidInput("Between 0 and 365 days.", errors={key: ["0 to 365."]})
            changes[key] = value
        elif key in ("invoice_prefix", "credit_note_prefix"):
            text = str(value or "")
            if not _PREFIX.fullmatch(text):
                raise InvalidInput(
                    "Up to 20 letters, digits and - _ . /", errors={key: ["Prefix."]}
                )
            changes[key] = text
        elif key in ("yearly_reset", "four_eyes"):
            changes[key] = bool(value)
        elif key == "logo_file_id":
            changes[key] = value
        else:
            raise InvalidInput(f"Unknown setting {key!r}.", errors={key: ["Unknown."]})
    if changes.get("invoice_prefix", row.invoice_prefix) == changes.get(
        "credit_note_prefix", row.credit_note_prefix
    ):
        raise InvalidInput(
            "Invoices and credit notes need different prefixes (their numbers share one "
            "list of numbers per organization).",
            errors={"credit_note_prefix": ["Same as the invoice prefix."]},
        )
    before = {key: getattr(row, key) for key in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(session, actor, "billing_settings.updated", row, before=before, after=changes)
    return row


LOGO_KINDS = ("png", "jpeg")
MAX_LOGO_BYTES = 1024 * 1024  # the PDF embeds it (fms.invoicing.pdf.MAX_LOGO_BYTES)


def set_logo(session, *, actor: Actor, upload, field: str = "logo") -> BillingSettings:
    """The issuing entity's logo, printed on invoices from now on: a PNG or JPEG (by its
    content) of at most 1 MB. Issued invoices keep the logo they were issued with. A refusal
    names `field` (the form's or the request's name of the file) and stores nothing."""
    from fms import storage

    require(actor, "invoicing.manage")
    if upload is None or not getattr(upload, "filename", None):
        raise InvalidInput("Choose a PNG or JPEG file.", errors={field: ["Choose a file."]})
    stored = storage.store(
        session,
        org_id=actor.org_id,
        filename=upload.filename,
        allowed_kinds=LOGO_KINDS,
        max_bytes=MAX_LOGO_BYTES,
        stream=upload.stream,
        created_by=actor.user_id,
        field=field,
    )
    return update_billing_settings(session, actor=actor, logo_file_id=stored.id)


def logo_file(session, *, actor: Actor):
    """The logo invoices print from now on, for those who manage billing; none: NotFound."""
    from fms import storage

    require(actor, "invoicing.manage")
    file_id = billing_settings(session).logo_file_id
    if not file_id:
        raise NotFound("No logo yet.")
    return storage.get_file(session, file_id)


def _entity_values(
    *,
    name,
    country,
    address,
    vat_id,
    tax_currency,
    po_required,
    default_po,
    tax_category,
    region=None,
) -> dict:
    """A bill-to entity's fields, checked the one way for adding and changing."""
    if tax_category is not None and tax_category not in rules.VAT_CATEGORIES:
        raise InvalidInput("Unknown VAT category.", errors={"tax_category": ["Unknown."]})
    if tax_currency:
        try:
            tax_currency = money.check_currency(tax_currency)
        except money.CurrencyError:
            raise InvalidInput(
                "An ISO 4217 currency code.", errors={"tax_currency": ["Currency."]}
            ) from None
    return {
        "name": text_in(name, limit=200, name="name", required=True),
        "country": country_in(country),
        "address": text_in(address, limit=1000, name="address"),
        "vat_id": text_in(vat_id, limit=40, name="vat_id") or None,
        "tax_currency": tax_currency or None,
        "po_required": bool(po_required),
        "default_po": text_in(default_po, limit=40, name="default_po") or None,
        "tax_category": tax_category,
        "region": region_in(region),
    }


def add_bill_to_entity(
    session,
    *,
    actor: Actor,
    name,
    country,
    address="",
    vat_id=None,
    tax_currency=None,
    po_required=False,
    default_po=None,
    tax_category=None,
    region=None,
) -> BillToEntity:
    """Add one of the client's legal entities that invoices are addressed to (names are
    unique in the organization)."""
    require(actor, "invoicing.manage")
    values = _entity_values(
        name=name,
        country=country,
        address=address,
        vat_id=vat_id,
        tax_currency=tax_currency,
        po_required=po_required,
        default_po=default_po,
        tax_category=tax_category,
        region=region,
    )
    name = values["name"]
    row = add_unique(
        session,
        BillToEntity(org_id=actor.org_id, **values),
        existing=lambda: session.scalar(select(BillToEntity.id).where(BillToEntity.name == name)),
        detail="A bill-to entity of this name exists already.",
    )
    audit.record(session, actor, "bill_to_entity.created", row, after={"name": name})
    return row


def update_bill_to_entity(session, *, actor: Actor, bill_to_entity_id, **changes) -> BillToEntity:
    """Change a bill-to entity (its address, VAT id, PO rules, ...): drafts and the next
    close use the new details; issued invoices keep the copy they were issued with. A name
    another entity has is refused."""
    require(actor, "invoicing.manage")
    row = get_in_org(session, BillToEntity, bill_to_entity_id, what="bill-to entity")
    fields = (
        "name",
        "country",
        "address",
        "vat_id",
        "tax_currency",
        "po_required",
        "default_po",
        "tax_category",
        "region",
    )
    unknown = set(changes) - set(fields)
    if unknown:
        raise InvalidInput("Unknown field.", errors={k: ["Unknown."] for k in sorted(unknown)})
    current = {k: getattr(row, k) for k in fields}
    values = _entity_values(**(current | changes))
    taken = session.scalar(
        select(BillToEntity.id).where(
            BillToEntity.name == values["name"], BillToEntity.id != row.id
        )
    )
    if taken is not None:
        raise InvalidInput(
            "Another bill-to entity has this name.", errors={"name": ["Name taken."]}
        )
    before = {k: v for k, v in current.items() if values[k] != v}
    if not before:
        return row
    try:
        with session.begin_nested():  # a concurrent rename to the same name loses here
            for key in before:
                setattr(row, key, values[key])
            session.flush()
    except IntegrityError:
        session.refresh(row)
        raise AlreadyExists(
            "Another bill-to entity took this name a moment ago.",
            existing_id=None,
            errors={"name": ["Name taken."]},
        ) from None
    audit.record(
        session,
        actor,
        "bill_to_entity.updated",
        row,
        before=before,
        after={k: values[k] for k in before},
    )
    return row


def assign_cost_centre(
    session, *, actor: Actor, cost_centre_id, bill_to_entity_id
) -> CostCentreBilling:
    """A cost centre's spend is invoiced to one bill-to entity (a new assignment replaces
    the old one for the next close; issued invoices keep theirs)."""
    require(actor, "invoicing.manage")
    centre = get_in_org(session, CostCentre, cost_centre_id, what="cost centre")
    entity = get_in_org(session, BillToEntity, bill_to_entity_id, what="bill-to entity")
    row = session.scalar(
        select(CostCentreBilling).where(CostCentreBilling.cost_centre_id == centre.id)
    )
    before = {"bill_to_entity_id": row.bill_to_entity_id} if row else None
    if row is None:
        row = add_unique(
            session,
            CostCentreBilling(
                org_id=actor.org_id, cost_centre_id=centre.id, bill_to_entity_id=entity.id
            ),
            existing=lambda: session.scalar(
                select(CostCentreBilling.id).where(CostCentreBilling.cost_centre_id == centre.id)
            ),
            detail="This cost centre was assigned a moment ago; reload and try again.",
        )
    else:
        row.bill_to_entity_id = entity.id
        session.flush()
    audit.record(
        session,
        actor,
        "cost_centre_billing.assigned",
        row,
        before=before,
        after={"cost_centre_id": centre.id, "bill_to_entity_id": entity.id},
    )
    return row


def add_vat_rate(session, *, actor: Actor, country, category, rate, effective_from) -> VatRate:
    """A VAT rate (percent, 0 to 100) of a category in a bill-to country from a date on;
    one per country, category and date."""
    require(actor, "invoicing.manage")
    country = country_in(country)
    if category not in rules.VAT_CATEGORIES:
        raise InvalidInput("Unknown VAT category.", errors={"category": ["Unknown."]})
    try:
        percent = money.to_decimal(rate)
    except (TypeError, ValueError):
        percent = None
    if percent is None or not 0 <= percent <= MAX_VAT_RATE or percent != round(percent, 4):
        raise InvalidInput("A percentage from 0 to 100.", errors={"rate": ["0 to 100."]})
    if category in rules.ZERO_RATED and percent != 0:
        raise RuleViolation(f"The {category.replace('_', ' ')} category carries no VAT.")
    start = date_in(effective_from, "effective_from")
    row = add_unique(
        session,
        VatRate(
            org_id=actor.org_id,
            country=country,
            category=category,
            rate=percent,
            effective_from=start,
        ),
        existing=lambda: session.scalar(
            select(VatRate.id).where(
                VatRate.country == country,
                VatRate.category == category,
                VatRate.effective_from == start,
            )
        ),
        detail="A rate for this country and category from this date exists already.",
    )
    audit.record(
        session,
        actor,
        "vat_rate.created",
        row,
        after={"country": country, "category": category, "rate": percent, "from": start},
    )
    return row


def vat_rates(session) -> dict[tuple[str, str], list[tuple[date, Decimal]]]:
    """Every VAT rate of the organization by (country, category), oldest first."""
    result: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
    for row in session.scalars(select(VatRate).order_by(VatRate.effective_from)):
        result.setdefault((row.country, row.category), []).append((row.effective_from, row.rate))
    return result


# --- e-invoices (Factur-X / ZUGFeRD, EN 16931) ------------------------------------------------

EINVOICE_CURRENCY_NOTE = (
    "E-invoices are offered only for currencies with at most two decimals (EN 16931): "
    "invoices in BHD, KWD, OMR and other three-decimal currencies stay plain PDFs."
)


def set_einvoice(session, *, actor: Actor, enabled) -> BillingSettings:
    """Finance and org admins switch e-invoices on or off: when on, invoices issued from
    then on are stored as Factur-X (EN 16931) PDF/A-3 with their XML, and the XML downloads
    alone. Switching on needs the issuing entity's VAT id (EN 16931 requires the seller's);
    invoices in a currency with more than two decimals stay plain PDFs
    (`EINVOICE_CURRENCY_NOTE`). PDFs stored already do not change."""
    require(actor, "invoicing.manage")
    if not isinstance(enabled, bool):
        raise InvalidInput("On or off.", errors={"einvoice_enabled": ["On or off."]})
    row = _settings_for_change(session)
    if enabled and not (row.issuer_vat_id or "").strip():
        raise RuleViolation(
            "Add the issuing entity's VAT id first: EN 16931 e-invoices require the seller's.",
            errors={"einvoice_enabled": ["The issuer's VAT id is missing."]},
        )
    before = bool(row.einvoice_enabled)
    if before == enabled:
        return row
    row.einvoice_enabled = enabled
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "billing_settings.einvoice_enabled" if enabled else "billing_settings.einvoice_disabled",
        row,
        before={"einvoice_enabled": before},
        after={"einvoice_enabled": enabled},
    )
    return row


# --- stacked taxes, service fees (issue 13) -------------------------------------------------

_REGION = re.compile(r"[A-Z0-9]{1,3}", re.ASCII)
_TAX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .&/-]{0,19}", re.ASCII)
FEE_PLACES = 4  # a fee of 2.5 % or 3.1234 %; more digits than that is a typo
MAX_FEE = Decimal(100)


def region_in(value, name: str = "region") -> str | None:
    """A subdivision code of ISO 3166-2 without its country ("QC" of CA-QC), or None."""
    text = str(value or "").strip().upper()
    if "-" in text:  # "CA-QC" as printed in ISO 3166-2
        text = text.split("-", 1)[1]
    if not text:
        return None
    if not _REGION.fullmatch(text):
        raise InvalidInput(
            "The province or state code of ISO 3166-2, such as QC.",
            errors={name: ["Region code."]},
        )
    return text


def _percent_in(value, name: str, *, places: int, message: str) -> Decimal:
    try:
        percent = money.to_decimal(value)
    except (TypeError, ValueError):
        percent = None
    if percent is None or not 0 <= percent <= 100 or percent != round(percent, places):
        raise InvalidInput(message, errors={name: [message]})
    return percent


def add_tax_component(
    session, *, actor: Actor, country, region=None, category="standard", name, rate, effective_from
) -> TaxComponent:
    """One named tax of a jurisdiction's set from a date on (Quebec: GST 5 % and QST
    9.975 %, each entered with the same date). Where a jurisdiction (country and region,
    else the country as a whole) has a set, a line billed there carries each of its
    components instead of the country's VAT rate. Names are unique in a set."""
    require(actor, "invoicing.manage")
    country = country_in(country)
    region = region_in(region) or ""
    if category not in rules.VAT_CATEGORIES or category in rules.ZERO_RATED:
        raise InvalidInput(
            "Standard or reduced: the categories that carry tax.",
            errors={"category": ["Standard or reduced."]},
        )
    label = text_in(name, limit=20, name="name", required=True)
    if not _TAX_NAME.fullmatch(label):
        raise InvalidInput(
            "A short name as the invoice prints it, such as GST or QST.",
            errors={"name": ["Name."]},
        )
    percent = _percent_in(rate, "rate", places=4, message="A percentage from 0 to 100.")
    start = date_in(effective_from, "effective_from")
    row = add_unique(
        session,
        TaxComponent(
            org_id=actor.org_id,
            country=country,
            region=region,
            category=category,
            name=label,
            rate=percent,
            effective_from=start,
        ),
        existing=lambda: session.scalar(
            select(TaxComponent.id).where(
                TaxComponent.country == country,
                TaxComponent.region == region,
                TaxComponent.category == category,
                TaxComponent.effective_from == start,
                TaxComponent.name == label,
            )
        ),
        detail="This tax is in that jurisdiction's set from this date already.",
    )
    audit.record(
        session,
        actor,
        "tax_component.created",
        row,
        after={
            "country": country,
            "region": region,
            "category": category,
            "name": label,
            "rate": percent,
            "from": start,
        },
    )
    return row


def tax_component_sets(session) -> dict[tuple[str, str, str], list[tuple[date, tuple]]]:
    """Every tax component set of the organization by (country, region, category): oldest
    first, each (effective_from, ((name, percent), ...)) in the order entered."""
    sets: dict[tuple[str, str, str], dict[date, list]] = {}
    for row in session.scalars(
        select(TaxComponent).order_by(TaxComponent.effective_from, TaxComponent.id)
    ):
        by_day = sets.setdefault((row.country, row.region, row.category), {})
        by_day.setdefault(row.effective_from, []).append((row.name, row.rate))
    return {
        key: [(day, tuple(parts)) for day, parts in sorted(by_day.items())]
        for key, by_day in sets.items()
    }


def components_for(sets, *, country: str, region: str | None, category: str, day: date):
    """The stacked taxes of a line billed to (country, region) on `day`: the region's set,
    else the country's (region ""); None when neither has one (the VAT rate applies)."""
    for place in ((region or ""), "") if region else ("",):
        found = rules.components_on(sets.get((country, place, category), []), day)
        if found:
            return found
    return None


def set_service_fee(session, *, actor: Actor, percent, supplier_id=None) -> ServiceFee | None:
    """The service fee the close adds as its own lines: a percentage (0 to 100, at most 4
    decimals) of the organization, or of one supplier's engagements instead (a supplier of
    another organization is not found). An empty percentage removes it (a supplier's:
    the organization's applies again). Invoices already made keep their fee lines."""
    require(actor, "invoicing.manage")
    supplier = None
    if supplier_id not in (None, ""):
        supplier = get_in_org(session, Supplier, supplier_id, what="supplier")
    value = None
    if percent not in (None, ""):
        value = _percent_in(
            percent,
            "percent",
            places=FEE_PLACES,
            message=f"A percentage from 0 to 100, with at most {FEE_PLACES} decimals.",
        )
    where = ServiceFee.supplier_id == supplier.id if supplier else ServiceFee.supplier_id.is_(None)
    row = session.scalar(select(ServiceFee).where(where))
    before = {"percent": row.percent} if row else None
    target = {"supplier_id": supplier.id if supplier else None, "percent": value}
    if value is None:
        if row is None:
            return None
        session.delete(row)
        session.flush()
        audit.record(session, actor, "service_fee.removed", row, before=before, after=target)
        return None
    if row is None:
        row = add_unique(
            session,
            ServiceFee(org_id=actor.org_id, supplier_id=target["supplier_id"], percent=value),
            existing=lambda: session.scalar(select(ServiceFee.id).where(where)),
            detail="This fee was set a moment ago; reload and try again.",
        )
    else:
        row.percent = value
        row.updated_at = utcnow()
        session.flush()
    audit.record(session, actor, "service_fee.set", row, before=before, after=target)
    return row


def service_fees(session) -> dict[int | None, Decimal]:
    """The organization's service fees: percent by supplier id (None: everyone else's)."""
    return dict(session.execute(select(ServiceFee.supplier_id, ServiceFee.percent)).all())


def fee_percent(fees: dict[int | None, Decimal], supplier_id: int | None) -> Decimal:
    """The fee on an engagement: its supplier's when set, else the organization's, else 0."""
    if supplier_id is not None and supplier_id in fees:
        return fees[supplier_id]
    return fees.get(None, Decimal(0))
