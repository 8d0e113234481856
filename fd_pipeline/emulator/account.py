"""The account's fixed records as Freshdesk serves them: companies, groups, roles, products, ticket
fields and the satisfaction survey. Derived from corpus.py and the desk's creation time, so the
ids on generated tickets (company_id, group_id, product_id, role_ids...) all resolve here."""

from __future__ import annotations

from .corpus import (
    ACCOUNT_TIERS,
    AGENTS,
    COMPANIES,
    CUSTOMER_PLANS,
    HEALTH_SCORES,
    INDUSTRIES,
    PRODUCTS,
    REGIONS_EN,
    REGIONS_KO,
    ROLES,
    SURVEY_FEEDBACK,
    TYPES,
)
from .generator import (
    AGENT_ID_START,
    COMPANY_ID_START,
    DAY,
    GROUP_ID_START,
    PRODUCT_ID_START,
    ROLE_ID_START,
    SURVEY_ID,
    TICKET_FIELD_ID_START,
    group_agents,
)
from .rows import iso

_STATUS_NAMES = {2: ("Open", "Being Processed"), 3: ("Pending", "Awaiting your Reply"),
                 4: ("Resolved", "This ticket has been Resolved"), 5: ("Closed", "This ticket has been Closed")}
_PRIORITY_NAMES = {"Low": 1, "Medium": 2, "High": 3, "Urgent": 4}
_SOURCE_NAMES = {"Email": 1, "Portal": 2, "Phone": 3, "Chat": 7, "Feedback Widget": 9, "Outbound Email": 10}
_RATING_LABELS = {103: "Extremely Happy", 102: "Very Happy", 101: "Happy", 100: "Neutral", -101: "Unhappy",
                  -102: "Very Unhappy", -103: "Extremely Unhappy"}


def _domain(name: str, ix: int) -> str:
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())
    return f"{slug or f'company{ix}'}.example"


def companies(created_ts: int) -> list[dict]:
    out = []
    for ix, name in enumerate(COMPANIES):
        created = created_ts - (900 - 31 * ix) * DAY
        out.append({
            "id": COMPANY_ID_START + ix,
            "name": name,
            "description": None,
            "note": None,
            "domains": [_domain(name, ix)],
            "created_at": iso(created),
            "updated_at": iso(created + (ix % 5) * 11 * DAY),
            "custom_fields": {},
            "health_score": HEALTH_SCORES[ix % len(HEALTH_SCORES)],
            "account_tier": ACCOUNT_TIERS[ix % len(ACCOUNT_TIERS)],
            "renewal_date": iso(created_ts + (30 + 17 * ix) * DAY),
            "industry": INDUSTRIES[ix % len(INDUSTRIES)],
        })
    return out


def groups(created_ts: int) -> list[dict]:
    """One queue per product; its agents are those `generator.agent_groups` puts there."""
    out = []
    for pix, product in enumerate(PRODUCTS):
        gid = GROUP_ID_START + pix
        created = created_ts - (400 - pix) * DAY
        out.append({
            "id": gid,
            "name": f"{product.name} Support",
            "description": f"Tickets about {product.name} ({product.kind}).",
            "escalate_to": AGENT_ID_START,
            "unassigned_for": "30m",
            "business_hour_id": None,
            "group_type": "support_agent_group",
            "agent_ids": list(group_agents(gid)),
            "auto_ticket_assign": None,
            "created_at": iso(created),
            "updated_at": iso(created + 3 * DAY),
        })
    return out


def roles(created_ts: int) -> list[dict]:
    created = created_ts - 420 * DAY
    return [{"id": ROLE_ID_START + n, "name": name, "description": description, "default": True,
             "created_at": iso(created), "updated_at": iso(created)} for n, (name, description) in enumerate(ROLES)]


def products(created_ts: int) -> list[dict]:
    out = []
    for pix, product in enumerate(PRODUCTS):
        created = created_ts - (410 - pix) * DAY
        out.append({"id": PRODUCT_ID_START + pix, "name": product.name, "description": product.kind,
                    "primary_email": product.support, "default": False,
                    "created_at": iso(created), "updated_at": iso(created)})
    return out


def survey(created_ts: int) -> dict:
    created = created_ts - 380 * DAY
    return {
        "id": SURVEY_ID,
        "title": "Default Survey",
        "active": True,
        "questions": [{"id": "default_question", "label": "How would you rate your overall satisfaction "
                                                           "for the resolution provided by the agent?",
                       "accepted_ratings": sorted({r for r, _, _ in SURVEY_FEEDBACK} | set(_RATING_LABELS),
                                                  reverse=True)}],
        "created_at": iso(created),
        "updated_at": iso(created),
    }


def _field(n: int, name: str, label: str, ftype: str, created_ts: int, *, default: bool = True,
           choices=None, required_for_agents: bool = False, label_for_customers: str | None = None,
           displayed_to_customers: bool = True, customers_can_edit: bool = True, **extra) -> dict:
    created = created_ts - 420 * DAY
    out = {
        "id": TICKET_FIELD_ID_START + n,
        "name": name,
        "label": label,
        "description": label if default else f"{label} (custom field)",
        "position": n + 1,
        "required_for_closure": False,
        "required_for_agents": required_for_agents,
        "type": ftype,
        "default": default,
        "customers_can_edit": customers_can_edit,
        "label_for_customers": label_for_customers or label,
        "required_for_customers": False,
        "displayed_to_customers": displayed_to_customers,
        "created_at": iso(created),
        "updated_at": iso(created + (n % 3) * DAY),
    }
    if choices is not None:
        out["choices"] = choices
    out.update(extra)
    return out


def ticket_fields(created_ts: int, agents: dict[int, str]) -> list[dict]:
    """The ticket form: Freshdesk's default fields with this desk's choices, then the `cf_*` fields
    the generated tickets fill in."""
    regions = [r for r in (*REGIONS_EN, *REGIONS_KO) if r]
    specs = [
        ("requester", "Search a requester", "default_requester", {"portal_cc": False, "portal_cc_to": "company"}),
        ("subject", "Subject", "default_subject", {}),
        ("ticket_type", "Type", "default_ticket_type", {"choices": [t for t in TYPES if t]}),
        ("source", "Source", "default_source", {"choices": dict(_SOURCE_NAMES)}),
        ("status", "Status", "default_status",
         {"choices": {str(k): list(v) for k, v in _STATUS_NAMES.items()}, "required_for_agents": True}),
        ("priority", "Priority", "default_priority", {"choices": dict(_PRIORITY_NAMES)}),
        ("group", "Group", "default_group",
         {"choices": {f"{p.name} Support": GROUP_ID_START + i for i, p in enumerate(PRODUCTS)}}),
        ("agent", "Agent", "default_agent", {"choices": {name: aid for aid, name in sorted(agents.items())}}),
        ("product", "Product", "default_product",
         {"choices": {p.name: PRODUCT_ID_START + i for i, p in enumerate(PRODUCTS)}}),
        ("description", "Description", "default_description", {}),
        ("company", "Company", "default_company", {}),
    ]
    out = [_field(n, name, label, ftype, created_ts, **kw) for n, (name, label, ftype, kw) in enumerate(specs)]
    custom = [
        ("cf_plan", "Plan", "custom_dropdown", [p for p in CUSTOMER_PLANS if p]),
        ("cf_app_version", "App version", "custom_dropdown",
         sorted({v for p in PRODUCTS for v in p.versions})),
        ("cf_region", "Region", "custom_dropdown", regions),
        ("cf_order_number", "Order number", "custom_text", None),
    ]
    for k, (name, label, ftype, choices) in enumerate(custom):
        out.append(_field(len(specs) + k, name, label, ftype, created_ts, default=False, choices=choices,
                          customers_can_edit=name != "cf_plan"))
    return out


def agent_names() -> dict[int, str]:
    return {AGENT_ID_START + n: name for n, name in enumerate(AGENTS)}
