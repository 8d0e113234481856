"""Rows -> the JSON objects Freshdesk serves: every documented field present, blanks as null."""

from __future__ import annotations

from .corpus import COMPANIES
from .generator import COMPANY_ID_START, SURVEY_ID, agent_groups, agent_role_id, requester_json
from .rows import (
    AgentRow,
    ArticleRow,
    CategoryRow,
    ContactRow,
    ConversationRow,
    FolderRow,
    RatingRow,
    TicketRow,
    TimeEntryRow,
    iso,
)

LONE_SURROGATE = "\ud800"


def company_json(company_id: int | None) -> dict | None:
    """`include=company`: the ticket's company as `{id, name}`, or null when it has none."""
    if company_id is None:
        return None
    return {"id": company_id, "name": COMPANIES[(company_id - COMPANY_ID_START) % len(COMPANIES)]}


def ticket_json(t: TicketRow, *, description: bool, requester: bool = False, stats: bool = False,
                company: bool = False) -> dict:
    subject, html, text = t.subject, t.description_html, t.description_text
    if t.corrupt == "unembeddable":
        subject, html, text = subject + LONE_SURROGATE, html + LONE_SURROGATE, text + LONE_SURROGATE
    out = {
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "ticket_cc_emails": [],
        "fr_escalated": t.fr_escalated,
        "spam": t.spam,
        "deleted": t.deleted,
        "email_config_id": None,
        "group_id": t.group_id,
        "priority": t.priority,
        "requester_id": t.requester_id,
        "responder_id": t.responder_id,
        "source": t.source,
        "company_id": t.company_id,
        "status": t.status,
        "subject": subject,
        "association_type": None,
        "support_email": None,
        "to_emails": None,
        "product_id": t.product_id,
        "id": t.id,
        "type": t.type,
        "due_by": iso(t.due_by),
        "fr_due_by": iso(t.fr_due_by),
        "is_escalated": t.is_escalated,
        "custom_fields": dict(t.custom_fields),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "associated_tickets_count": None,
        "tags": list(t.tags),
        "nr_due_by": None,
        "nr_escalated": False,
    }
    if description:
        out["description"] = html
        out["description_text"] = text
    if requester:
        out["requester"] = requester_json(t.requester_id)
    if company:
        out["company"] = company_json(t.company_id)
    if stats:
        resolved = t.status_updated_at if t.status >= 4 else None
        out["stats"] = {
            "agent_responded_at": iso(t.updated_at) if t.responder_id else None,
            "requester_responded_at": None,
            "first_responded_at": iso(min(t.updated_at, t.created_at + 3600)) if t.responder_id else None,
            "status_updated_at": iso(t.status_updated_at),
            "reopened_at": None,
            "resolved_at": iso(resolved) if resolved else None,
            "closed_at": iso(resolved) if t.status == 5 else None,
            "pending_since": iso(t.status_updated_at) if t.status == 3 else None,
        }
    if t.corrupt == "bad_field":
        out["created_at"] = "yesterday"
        out["priority"] = "high"
    return out


def conversation_json(c: ConversationRow) -> dict:
    return {
        "body": c.body_html,
        "body_text": c.body_text,
        "id": c.id,
        "incoming": c.incoming,
        "private": c.private,
        "user_id": c.user_id,
        "support_email": None if c.incoming or c.private else c.from_email,
        "source": c.source,
        "ticket_id": c.ticket_id,
        "to_emails": c.to_emails,
        "from_email": c.from_email,
        "cc_emails": [],
        "bcc_emails": None if c.incoming else [],
        "email_failure_count": None,
        "outgoing_failures": None,
        "thread_id": None,
        "thread_message_id": None,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "last_edited_at": None,
        "last_edited_user_id": None,
        "attachments": [],
        "automation_id": None,
        "automation_type_id": None,
        "auto_response": False,
        "source_additional_info": None,
        "category": conversation_category(c),
    }


def conversation_category(c: ConversationRow) -> int:
    """Freshdesk's note category: 1 the customer's reply, 2 an agent's private note, 3 an agent's reply."""
    if c.incoming:
        return 1
    return 2 if c.private else 3


def agent_json(a: AgentRow) -> dict:
    return {
        "available": a.available,
        "occasional": a.occasional,
        "id": a.id,
        "ticket_scope": a.ticket_scope,
        "signature": f"<div dir=\"ltr\"><p>{a.name}<br>Customer Support</p></div>",
        "group_ids": list(agent_groups(a.id)),
        "role_ids": [agent_role_id(a.id, a.ticket_scope)],
        "skill_ids": [],
        "available_since": None,
        "contact": {
            "active": True,
            "email": a.email,
            "job_title": None,
            "language": "en",
            "last_login_at": iso(a.last_login_at),
            "mobile": None,
            "name": a.name,
            "phone": None,
            "time_zone": a.time_zone,
            "created_at": iso(a.created_at),
            "updated_at": iso(a.updated_at),
        },
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
        "last_active_at": iso(a.last_login_at),
        "type": "support_agent",
        "focus_mode": True,
        "deactivated": False,
        "agent_level_id": a.agent_level_id,
        "freshcaller_agent": False,
        "freshchat_agent": False,
    }


def contact_json(c: ContactRow) -> dict:
    return {
        "active": True,
        "address": None,
        "avatar": None,
        "company_id": c.company_id,
        "view_all_tickets": False,
        "custom_fields": {},
        "deleted": False,
        "description": None,
        "email": c.email,
        "id": c.id,
        "job_title": c.job_title,
        "language": c.language,
        "mobile": None,
        "name": c.name,
        "other_emails": [],
        "other_companies": [],
        "phone": None,
        "tags": [],
        "time_zone": c.time_zone,
        "twitter_id": None,
        "facebook_id": None,
        "unique_external_id": None,
        "csat_rating": None,
        "preferred_source": "email",
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def time_entry_json(e: TimeEntryRow) -> dict:
    return {
        "billable": e.billable,
        "note": e.note,
        "id": e.id,
        "timer_running": False,
        "agent_id": e.agent_id,
        "ticket_id": e.ticket_id,
        "company_id": e.company_id,
        "time_spent": f"{e.minutes // 60:02d}:{e.minutes % 60:02d}",
        "executed_at": iso(e.executed_at),
        "start_time": iso(e.executed_at),
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
    }


def rating_json(r: RatingRow) -> dict:
    return {
        "id": r.id,
        "survey_id": SURVEY_ID,
        "user_id": r.user_id,
        "agent_id": r.agent_id,
        "feedback": r.feedback,
        "group_id": r.group_id,
        "ticket_id": r.ticket_id,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "ratings": {"default_question": r.rating},
    }


def category_json(c: CategoryRow, language: str) -> dict:
    return {
        "id": c.id,
        "name": c.name_ko if language == "ko" else c.name,
        "description": c.description,
        "visible_in_portals": [1],
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def hierarchy(chain: list[tuple[str, int, str]], language: str) -> list[dict]:
    """chain: (type, id, name) from the category down."""
    return [{"level": n, "type": kind, "data": {"id": oid, "name": name, "language": language}}
            for n, (kind, oid, name) in enumerate(chain)]


def folder_json(f: FolderRow, language: str, chain: list[tuple[str, int, str]],
                articles_count: int, sub_folders_count: int) -> dict:
    return {
        "id": f.id,
        "name": f.name_ko if language == "ko" else f.name,
        "description": f.description,
        "parent_folder_id": f.parent_folder_id,
        "category_id": f.category_id,
        "visibility": 1,
        "articles_count": articles_count,
        "sub_folders_count": sub_folders_count,
        "hierarchy": hierarchy(chain, language),
        "created_at": iso(f.created_at),
        "updated_at": iso(f.updated_at),
    }


def article_json(a: ArticleRow, language: str, chain: list[tuple[str, int, str]]) -> dict:
    tr = a.translations.get(language) if language != "en" else None
    title = tr.title if tr else a.title
    return {
        "id": a.id,
        "type": a.type,
        "category_id": a.category_id,
        "folder_id": a.folder_id,
        "hierarchy": hierarchy(chain, language),
        "thumbs_up": a.thumbs_up,
        "thumbs_down": a.thumbs_down,
        "hits": a.hits,
        "tags": list(a.tags),
        "seo_data": {"meta_title": title, "meta_description": None, "meta_keywords": None},
        "agent_id": a.agent_id,
        "title": title,
        "description": tr.description_html if tr else a.description_html,
        "description_text": tr.description_text if tr else a.description_text,
        "status": tr.status if tr else a.status,
        "language": language,
        "created_at": iso(tr.created_at if tr else a.created_at),
        "updated_at": iso(tr.updated_at if tr else a.updated_at),
    }
