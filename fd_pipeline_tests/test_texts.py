"""Pure functions that turn stored records into documents: which text feeds which aspect
(symptom, cause, resolution; intent, procedure), quotes and signatures stripped, empty aspects
absent; the raw record of a ticket is exactly what Freshdesk sent."""

from __future__ import annotations

from fd_pipeline.freshdesk import Conversation, Ticket
from fd_pipeline.knowledge_base.texts import article_documents
from fd_pipeline.tickets.texts import ticket_document, ticket_record

T = "2026-11-20T10:00:00Z"


def raw_ticket(**fields) -> dict:
    base = {
        "id": 4242, "subject": "VPN drops every 10 minutes", "description": "<p>Since the update the VPN drops.</p>"
        "<blockquote>On Mon, Kim wrote: old thread text</blockquote>", "description_text": "Since the update the VPN drops.",
        "status": 4, "priority": 2, "source": 1, "type": "Incident", "tags": ["vpn"], "custom_fields": {"cf_root_cause": None},
        "spam": False, "deleted": False, "requester_id": 1, "responder_id": 2, "group_id": None, "company_id": None,
        "product_id": 7, "created_at": T, "updated_at": T,
    }
    return {**base, **fields}


def conv(cid, body, *, incoming=False, private=False) -> dict:
    html = body.replace("\n", "<br>")
    return {"id": cid, "ticket_id": 4242, "body": f"<div>{html}</div>", "body_text": body, "incoming": incoming,
            "private": private, "source": 2 if private else 0, "user_id": 3, "created_at": T, "updated_at": T}


CONVERSATIONS = [
    conv(1, "It also happens on my phone.\n\n--\nBest regards,\nKim", incoming=True),
    conv(2, "Diagnosis: firmware 2.4 resets idle tunnels after 600 s.", private=True),
    conv(3, "Please update the firmware to 2.5; the tunnel then stays up."),
]


def test_ticket_aspects_come_from_the_right_messages():
    record = ticket_record(Ticket.from_raw(raw_ticket()), [Conversation.from_raw(c) for c in CONVERSATIONS])
    doc = ticket_document(record, removed=False)
    assert doc.point_id == 4242 and doc.item_id == "4242"
    assert "VPN drops every 10 minutes" in doc.texts["symptom"] and "on my phone" in doc.texts["symptom"]
    assert "old thread text" not in doc.texts["symptom"] and "Best regards" not in doc.texts["symptom"]
    assert doc.texts["cause"].startswith("Diagnosis: firmware 2.4")
    assert doc.texts["resolution"].startswith("Please update the firmware")
    assert doc.payload["status_name"] == "resolved" and doc.payload["tags"] == ["vpn"]


def test_open_ticket_has_no_resolution_and_empty_aspects_are_absent():
    ticket = Ticket.from_raw(raw_ticket(status=2))
    doc = ticket_document(ticket_record(ticket, [Conversation.from_raw(CONVERSATIONS[2])]), removed=False)
    assert set(doc.texts) == {"symptom"}


def test_cause_field_wins_over_private_notes():
    ticket = Ticket.from_raw(raw_ticket(custom_fields={"cf_root_cause": "Idle timeout in firmware 2.4"}))
    record = ticket_record(ticket, [Conversation.from_raw(c) for c in CONVERSATIONS])
    assert ticket_document(record, removed=False, cause_field="cf_root_cause").texts["cause"] == "Idle timeout in firmware 2.4"
    # Without the setting the cause comes from the notes.
    assert ticket_document(record, removed=False).texts["cause"].startswith("Diagnosis")


def test_the_raw_record_is_what_freshdesk_sent():
    record = ticket_record(Ticket.from_raw(raw_ticket()), [Conversation.from_raw(c) for c in CONVERSATIONS])
    assert record == {"ticket": raw_ticket(), "conversations": CONVERSATIONS}
    assert ticket_record(Ticket.from_raw(raw_ticket(deleted=True))) == {"ticket": raw_ticket(deleted=True), "conversations": None}


def test_article_intent_and_procedure_and_translation_ids():
    raw = {"id": 77, "title": "Reset a router", "description": "<ol><li>Hold reset</li><li>Wait 30 s</li></ol>",
           "description_text": "Hold reset Wait 30 s", "status": 2, "tags": ["router"], "folder_id": 5, "category_id": 1,
           "seo_data": {"meta_keywords": "factory reset, 초기화"}, "created_at": T, "updated_at": T}
    [doc] = article_documents({"article": raw, "folder_path": ["Devices", "Routers"], "language": None}, removed=False)
    assert doc.point_id == 77 and doc.texts["intent"].startswith("Reset a router") and "초기화" in doc.texts["intent"]
    assert "1. Hold reset" in doc.texts["procedure"] and doc.payload["folder_path"] == ["Devices", "Routers"]
    [ko] = article_documents({"article": raw, "folder_path": [], "language": "ko", "translation": True}, removed=False)
    assert ko.item_id == "77:ko" and isinstance(ko.point_id, str) and ko.point_id != doc.point_id


def test_korean_resolution_is_the_fix_without_greeting_signoff_or_quote():
    ticket = Ticket.from_raw(raw_ticket(subject="포켓팔 동기화가 안 됩니다", description="<div>안녕하세요,</div>"
                                        "<div>휴대폰에서 추가한 항목이 웹에 안 보입니다.</div><div>감사합니다.<br>김민준 드림</div>"))
    reply = conv(5, "김민준님, 안녕하세요.\n기다려 주셔서 감사합니다.\n\n"
                 "포켓팔 앱의 동기화 상태를 초기화하고 기기 시간 자동 설정을 켜 드렸습니다.\n\n"
                 "감사합니다.\nJisoo Park | 포켓팔 고객지원\n\n2026년 11월 3일 (화) 오후 2:14, 김민준 <u@x.kr>님이 작성:\n> 안 돼요")
    doc = ticket_document(ticket_record(ticket, [Conversation.from_raw(reply)]), removed=False)
    assert doc.texts["resolution"] == "포켓팔 앱의 동기화 상태를 초기화하고 기기 시간 자동 설정을 켜 드렸습니다."
    assert doc.texts["symptom"] == "포켓팔 동기화가 안 됩니다\n\n휴대폰에서 추가한 항목이 웹에 안 보입니다."


def test_long_thread_keeps_description_and_latest_messages_within_budget():
    from fd_pipeline.tickets.texts import THREAD_CHARS

    chatter = []
    for n in range(40):
        chatter.append(conv(100 + 2 * n, f"Follow-up {n}: the export is still empty, attempt {n} " + "x" * 120,
                            incoming=True))
        chatter.append(conv(101 + 2 * n, "Could you tell us the exact version?"))
    chatter.append(conv(999, "I cleared the saved filter on your view; the export now has all rows."))
    ticket = Ticket.from_raw(raw_ticket(subject="CSV export is empty"))
    texts = ticket_document(ticket_record(ticket, [Conversation.from_raw(c) for c in chatter]), removed=False).texts
    assert texts["symptom"].startswith("CSV export is empty\n\nSince the update the VPN drops.")
    assert "Follow-up 39:" in texts["symptom"] and "Follow-up 0:" not in texts["symptom"]
    assert len(texts["symptom"]) < THREAD_CHARS + 300
    # The agent's questions are not the resolution; the final reply (the fix) is always there.
    assert texts["resolution"] == "I cleared the saved filter on your view; the export now has all rows."


def test_thanks_and_solved_lines_leave_the_symptom_in_both_languages():
    # A requester's last word says the ticket is over; it is no symptom. A sentence with anything
    # else in it ("still crashes, thanks") is message and stays.
    thread = [
        conv(1, "It also happens on my phone. Thanks!", incoming=True),
        conv(2, "Please update the firmware to 2.5; the tunnel then stays up."),
        conv(3, "That fixed it, thank you!", incoming=True),
        conv(4, "해결되었습니다. 감사합니다!", incoming=True),
        conv(5, "It still drops on cellular, thanks", incoming=True),
    ]
    ticket = Ticket.from_raw(raw_ticket())
    texts = ticket_document(ticket_record(ticket, [Conversation.from_raw(c) for c in thread]), removed=False).texts
    assert texts["symptom"] == ("VPN drops every 10 minutes\n\nSince the update the VPN drops.\n\n"
                                "It also happens on my phone.\n\nIt still drops on cellular, thanks")
    assert "thank you" not in texts["symptom"] and "감사" not in texts["symptom"]
    # The agent's reply is the resolution, untouched.
    assert texts["resolution"] == "Please update the firmware to 2.5; the tunnel then stays up."
