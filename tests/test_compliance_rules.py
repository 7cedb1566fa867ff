"""Compliance rules without a database: policy resolution, classification scoring (one test
per factor and per jurisdiction), tenure maths, warnings, names and template filling."""

from datetime import date

import pytest

from fms.compliance import rules
from fms.compliance.rules import PolicyRow


def row(i, kind, country="", engagement_kind="", requirement="required", reviewer="compliance"):
    return PolicyRow(i, kind, country, engagement_kind, requirement, "none", None, reviewer)


POLICY = [
    row(1, "nda"),
    row(2, "contract"),
    row(3, "tax_form"),
    row(4, "insurance", requirement="optional"),
    row(5, "insurance", country="US", requirement="required"),
    row(6, "right_to_work", country="GB"),
    row(7, "background_check"),
    row(8, "background_check", engagement_kind="trial", requirement="exempt"),
    row(
        9,
        "background_check",
        country="DE",
        engagement_kind="trial",
        requirement="required",
        reviewer="procurement",
    ),
    row(10, "classification", engagement_kind="hourly"),
]


@pytest.mark.parametrize(
    ("country", "kind", "expected"),
    [
        # US persons give a W-9, and insurance is required for them (country beats general)
        (
            "US",
            "hourly",
            {
                "nda": True,
                "contract": True,
                "w9": True,
                "insurance": True,
                "background_check": True,
                "classification": True,
            },
        ),
        # others a W-8BEN; insurance stays optional; right to work only in GB
        (
            "FR",
            "fixed",
            {
                "nda": True,
                "contract": True,
                "w8ben": True,
                "insurance": False,
                "background_check": True,
            },
        ),
        (
            "GB",
            "daily",
            {
                "nda": True,
                "contract": True,
                "w8ben": True,
                "insurance": False,
                "right_to_work": True,
                "background_check": True,
            },
        ),
        # a trial is exempt from the background check ...
        ("FR", "trial", {"nda": True, "contract": True, "w8ben": True, "insurance": False}),
        # ... except in Germany, where the country-and-kind item is the most specific
        (
            "DE",
            "trial",
            {
                "nda": True,
                "contract": True,
                "w8ben": True,
                "insurance": False,
                "background_check": True,
            },
        ),
        # lower-case country codes are the same countries
        (
            "us",
            "fixed",
            {
                "nda": True,
                "contract": True,
                "w9": True,
                "insurance": True,
                "background_check": True,
            },
        ),
    ],
)
def test_policy_resolution_by_country_and_kind(country, kind, expected):
    items = rules.resolve(POLICY, country=country, engagement_kind=kind)
    assert {i.kind: i.required for i in items} == expected


def test_resolution_keeps_the_reviewer_and_step_kind_of_the_winning_item():
    items = {i.kind: i for i in rules.resolve(POLICY, country="DE", engagement_kind="trial")}
    assert items["background_check"].reviewer_role == "procurement"
    assert items["nda"].step_kind == "sign"
    assert items["w8ben"].step_kind == "upload"
    assert items["w8ben"].key == "compliance:w8ben"


def test_no_policy_asks_for_nothing():
    assert rules.resolve([], country="US", engagement_kind="hourly") == []


# --- classification ------------------------------------------------------------------------

MODEL = rules.factors()["jurisdictions"]


def contractor_answers(jurisdiction):
    """Every question answered the way that points away from employment."""
    return {
        q["id"]: ("no" if q["employee_if"] == "yes" else "yes")
        for q in MODEL[jurisdiction]["questions"]
    }


FACTOR_CASES = [
    (j, q["id"])
    for j in ("us_federal", "us_ca", "uk_ir35", "generic")
    for q in MODEL[j]["questions"]
]


@pytest.mark.parametrize(("jurisdiction", "question"), FACTOR_CASES)
def test_each_factor_alone_scores_its_weight_and_is_the_driver(jurisdiction, question):
    answers = contractor_answers(jurisdiction)
    q = next(q for q in MODEL[jurisdiction]["questions"] if q["id"] == question)
    answers[question] = q["employee_if"]
    result = rules.score(jurisdiction, answers)
    assert result.score == q["weight"]
    assert [d["question"] for d in result.drivers] == [question]
    assert result.drivers[0]["answer"] == q["employee_if"]
    if jurisdiction == "us_ca":
        assert result.risk == "high"  # any prong failed means employee
    else:
        model = MODEL[jurisdiction]
        expected = "medium" if q["weight"] >= model["medium_at"] else "low"
        assert result.risk == expected


@pytest.mark.parametrize(
    ("jurisdiction", "employee_way", "risk"),
    [
        ("us_federal", [], "low"),
        # behavioural + financial control: instructions 3, training 2, no investment 2 = 7
        ("us_federal", ["instructions", "training", "investment"], "medium"),
        # ... and the relationship looks like employment: benefits 3, permanency 2 = 12
        (
            "us_federal",
            ["instructions", "training", "investment", "benefits", "permanency"],
            "high",
        ),
        ("us_ca", [], "low"),
        ("us_ca", ["prong_b_outside_usual_course"], "high"),
        ("uk_ir35", [], "low"),
        ("uk_ir35", ["control", "mutuality"], "medium"),  # 5
        ("uk_ir35", ["control", "substitution", "part_and_parcel"], "high"),  # 8
        ("generic", [], "low"),
        ("generic", ["control", "single_client"], "medium"),  # 4
        ("generic", ["control", "integration", "single_client", "continuity"], "high"),  # 7
    ],
)
def test_scoring_per_jurisdiction(jurisdiction, employee_way, risk):
    answers = contractor_answers(jurisdiction)
    for question in employee_way:
        q = next(q for q in MODEL[jurisdiction]["questions"] if q["id"] == question)
        answers[question] = q["employee_if"]
    result = rules.score(jurisdiction, answers)
    assert result.risk == risk
    assert {d["question"] for d in result.drivers} == set(employee_way)
    assert [d["points"] for d in result.drivers] == sorted(
        [d["points"] for d in result.drivers], reverse=True
    )


def test_the_model_names_the_factors_the_issue_lists_and_cites_sources():
    factors_of = {j: {q["factor"] for q in MODEL[j]["questions"]} for j in MODEL}
    assert factors_of["us_federal"] == {"behavioural", "financial", "relationship"}
    assert factors_of["uk_ir35"] == {
        "control",
        "substitution",
        "mutuality of obligation",
        "financial risk",
        "part and parcel",
    }
    assert len(MODEL["us_ca"]["questions"]) == 3 and MODEL["us_ca"]["rule"] == "any_prong_fails"
    assert any("15-A" in s for s in MODEL["us_federal"]["sources"])
    assert any("2775" in s for s in MODEL["us_ca"]["sources"])
    assert any("Dynamex" in s for s in MODEL["us_ca"]["sources"])
    assert any("HMRC" in s for s in MODEL["uk_ir35"]["sources"])
    for j in MODEL.values():
        assert j["sources"]
        for q in j["questions"]:
            assert q["source"] and q["employee_if"] in ("yes", "no") and q["weight"] > 0


def test_an_unanswered_question_is_refused():
    answers = contractor_answers("uk_ir35")
    del answers["control"]
    with pytest.raises(ValueError, match="control"):
        rules.score("uk_ir35", answers)
    answers["control"] = "maybe"
    with pytest.raises(ValueError):
        rules.score("uk_ir35", answers)


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("US", ["us_federal", "us_ca"]),
        ("GB", ["uk_ir35"]),
        ("DE", ["generic"]),
        ("gb", ["uk_ir35"]),
    ],
)
def test_jurisdictions_for_a_country(country, expected):
    assert rules.jurisdictions_for(country) == expected


# --- tenure, warnings, dates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spans", "on", "break_days", "start"),
    [
        ([(date(2025, 1, 1), date(2025, 6, 30))], date(2025, 3, 1), 90, date(2025, 1, 1)),
        # a 31-day gap is shorter than the 90-day break: one run
        (
            [(date(2025, 1, 1), date(2025, 6, 30)), (date(2025, 8, 1), date(2025, 12, 31))],
            date(2025, 8, 1),
            90,
            date(2025, 1, 1),
        ),
        # a 91-day gap restarts the count
        (
            [(date(2025, 1, 1), date(2025, 6, 30)), (date(2025, 9, 30), date(2025, 12, 31))],
            date(2025, 9, 30),
            90,
            date(2025, 9, 30),
        ),
        # exactly the break (90 days without work between) restarts it too
        (
            [(date(2025, 1, 1), date(2025, 6, 30)), (date(2025, 9, 29), date(2025, 12, 31))],
            date(2025, 9, 29),
            90,
            date(2025, 9, 29),
        ),
        # 89 days without work do not
        (
            [(date(2025, 1, 1), date(2025, 6, 30)), (date(2025, 9, 28), date(2025, 12, 31))],
            date(2025, 9, 28),
            90,
            date(2025, 1, 1),
        ),
        # overlapping and later engagements
        (
            [
                (date(2025, 1, 1), date(2025, 12, 31)),
                (date(2025, 6, 1), date(2026, 3, 31)),
                (date(2027, 1, 1), date(2027, 6, 30)),
            ],
            date(2026, 1, 1),
            30,
            date(2025, 1, 1),
        ),
    ],
)
def test_continuous_tenure_start(spans, on, break_days, start):
    assert rules.continuous_start(spans, on, break_days) == start


@pytest.mark.parametrize(
    ("start", "months", "limit"),
    [
        (date(2025, 1, 1), 18, date(2026, 6, 30)),
        (date(2025, 1, 31), 1, date(2025, 2, 27)),
        (date(2024, 3, 15), 24, date(2026, 3, 14)),
    ],
)
def test_tenure_limit(start, months, limit):
    assert rules.tenure_limit(start, months) == limit


@pytest.mark.parametrize(
    ("days_left", "thresholds", "due"),
    [
        (31, (30, 14, 7), None),
        (30, (30, 14, 7), 30),
        (20, (30, 14, 7), 30),
        (14, (30, 14, 7), 14),
        (3, (30, 14, 7), 7),
        (-1, (30, 14, 7), None),
        (91, (90, 60, 30), None),
        (60, (90, 60, 30), 60),
        (0, (90, 60, 30), 30),
    ],
)
def test_warning_due(days_left, thresholds, due):
    assert rules.warning_due(days_left, thresholds) == due


def test_validity_in_months_after_approval():
    assert rules.expiry_after_approval("months", 12, date(2026, 2, 10)) == date(2027, 2, 9)
    assert rules.expiry_after_approval("none", None, date(2026, 2, 10)) is None
    assert rules.expiry_after_approval("typed", None, date(2026, 2, 10)) is None


# --- signing text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "legal", "ok"),
    [
        ("Ada Lovelace", "Ada Lovelace", True),
        ("ada  LOVELACE ", "Ada Lovelace", True),
        ("Ada King Lovelace", "Ada Lovelace", False),
        ("Ada", "Ada Lovelace", False),
        ("", "Ada Lovelace", False),
        ("JOSÉ Núñez", "José Núñez", True),
    ],
)
def test_typed_name_matches_legal_name(typed, legal, ok):
    assert rules.names_match(typed, legal) is ok


def test_fill_is_plain_substitution():
    body = "Dear {{freelancer_name}}, {{ rate }}. {% if x %}{{ config }}{% endif %} {{ unknown }}"
    out = rules.fill(body, {"freelancer_name": "{{ rate }}", "rate": "90.00 EUR"})
    # a value is never expanded again; template-engine syntax is just text
    assert out == "Dear {{ rate }}, 90.00 EUR. {% if x %}{{ config }}{% endif %} {{ unknown }}"
    assert rules.unknown_placeholders(body) == ["config", "unknown"]
