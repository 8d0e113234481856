"""Contract: `html_to_text` keeps paragraphs, line breaks and list items, drops scripts and
styles and unescapes entities; `strip_quoted_and_signature` removes quoted earlier messages and
signatures in English and Korean (text or HTML) and never strips a whole body."""

from __future__ import annotations

import pytest

from fd_pipeline.freshdesk.html import html_to_text, strip_quoted_and_signature


def test_html_to_text_keeps_structure_and_drops_code():
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>Hello&nbsp;&amp; welcome &lt;team&gt;</p><p>Line one<br>Line two<br/>Line three</p>"
        "<ul><li>first</li><li>second <b>bold</b></li></ul><ol><li>step a</li><li>step b</li></ol>"
        "<script>alert('x')</script><div>after</div></body></html>"
    )
    assert html_to_text(html) == (
        "Hello & welcome <team>\n\nLine one\nLine two\nLine three\n\n"
        "- first\n- second bold\n1. step a\n2. step b\nafter"
    )


def test_html_to_text_korean_and_entities():
    html = "<div>프린터가&nbsp;연결되지 않습니다.</div><div>드라이버를 &quot;재설치&quot; 했습니다 &#8212; 실패.</div>"
    assert html_to_text(html) == '프린터가 연결되지 않습니다.\n드라이버를 "재설치" 했습니다 — 실패.'


@pytest.mark.parametrize("empty", [None, "", "<p></p>", "<script>x</script>"])
def test_html_to_text_empty(empty):
    assert html_to_text(empty) == ""


def test_strip_english_quote_and_signature():
    text = (
        "Hi team,\n\nThe export works again after clearing the cache.\n\n"
        "Best regards,\nJane Doe\nIT Manager, Acme\n\n"
        "On Mon, Jan 8, 2024 at 10:02 AM Acme Support <support@acme.com> wrote:\n"
        "> Please clear the cache and retry.\n> Thanks"
    )
    # The greeting goes too: "Hi team," would make every English mail look alike to the model.
    assert strip_quoted_and_signature(text) == "The export works again after clearing the cache."


def test_strip_wrapped_on_wrote_and_original_message():
    wrapped = "Still broken.\n\nOn Tue, 9 Jan 2024 at 09:00, Support Desk <s@x.com>\nwrote:\n> try again"
    assert strip_quoted_and_signature(wrapped) == "Still broken."
    outlook = "It worked.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: Re: VPN\n\nold text"
    assert strip_quoted_and_signature(outlook) == "It worked."
    outlook2 = "Ok.\n\nFrom: Support <s@x.com>\nSent: Monday, January 8, 2024\nTo: me\nold"
    assert strip_quoted_and_signature(outlook2) == "Ok."


def test_strip_dash_dash_signature_and_thanks_closer():
    assert strip_quoted_and_signature("Reset done.\n-- \nBob\n+1 555 0100") == "Reset done."
    assert strip_quoted_and_signature("Reset done, please retry.\n\nThanks,\nBob") == "Reset done, please retry."


def test_strip_korean_quote_and_closer():
    text = (
        "안녕하세요.\n프린터 드라이버를 재설치하니 해결되었습니다.\n\n감사합니다.\n홍길동 드림\n\n"
        "2024년 1월 5일 (금) 오전 10:00, 고객지원팀 <support@acme.co.kr>님이 작성:\n> 드라이버를 재설치해 주세요."
    )
    assert strip_quoted_and_signature(text) == "프린터 드라이버를 재설치하니 해결되었습니다."
    original = "확인했습니다.\n\n-----원본 메시지-----\n보낸 사람: 지원팀\n이전 내용"
    assert strip_quoted_and_signature(original) == "확인했습니다."


KOREAN_AGENT_REPLY = (
    "<div>김민준님, 안녕하세요.</div><div>기다려 주셔서 감사합니다.</div>"
    "<div>포켓팔 앱의 동기화 상태를 초기화하고 기기 시간 자동 설정을 켜 드렸습니다.</div>"
    "<ol><li>앱을 다시 실행합니다.</li><li>Wi-Fi에서 동기화가 100%가 될 때까지 기다립니다.</li></ol>"
    "<div>감사합니다.</div><div>Jisoo Park | 포켓팔 고객지원</div>"
    "<div>2026년 11월 3일 (화) 오후 2:14, 김민준 &lt;user7@mail.example.kr&gt;님이 작성:</div>"
    "<div>&gt; 동기화가 안 됩니다</div>"
)
KOREAN_CUSTOMER_MAIL = (
    "안녕하세요 고객님,\n\n"  # customers paste the agent's greeting back more often than one would think
    "안녕하세요. 문의드립니다.\n"
    "어제부터 결제 페이지에서 카드가 계속 거절됩니다. 다른 쇼핑몰에서는 잘 됩니다.\n\n"
    "감사합니다.\n홍길동 드림\n\niPhone에서 보냄\n\n"
    "-----Original Message-----\n보낸 사람: LedgerLoop 고객지원 <support@ledgerloop.example>\n"
    "받는 사람: 홍길동\n제목: RE: 결제 오류\n\n이전 답변"
)


def test_strip_korean_agent_reply_greeting_signoff_and_quote():
    assert strip_quoted_and_signature(KOREAN_AGENT_REPLY) == (
        "포켓팔 앱의 동기화 상태를 초기화하고 기기 시간 자동 설정을 켜 드렸습니다.\n"
        "1. 앱을 다시 실행합니다.\n2. Wi-Fi에서 동기화가 100%가 될 때까지 기다립니다."
    )
    # The sign-off alone, with no closer above it, is still a signature.
    assert strip_quoted_and_signature("설정 > 보안에서 SSO를 다시 연결했습니다.\nHana Lee | LedgerLoop 고객지원") == (
        "설정 > 보안에서 SSO를 다시 연결했습니다."
    )


def test_strip_korean_customer_mail_with_outlook_quote():
    assert strip_quoted_and_signature(KOREAN_CUSTOMER_MAIL) == (
        "어제부터 결제 페이지에서 카드가 계속 거절됩니다. 다른 쇼핑몰에서는 잘 됩니다."
    )
    naver = "동료 초대 링크가 만료되었다고 나옵니다.\n\n보낸사람: 지원팀\n날짜: 2026-11-02\n제목: 초대"
    assert strip_quoted_and_signature(naver) == "동료 초대 링크가 만료되었다고 나옵니다."


def test_strip_english_agent_reply_and_customer_mail():
    agent = (
        "<div>Hi Emma, thanks for your patience.</div>"
        "<div>I voided the duplicate authorisation on your LedgerLoop invoice; the refund reaches the card "
        "in 5-7 business days.</div><div>Best regards,<br>Priya Raman | LedgerLoop Support</div>"
        '<div class="freshdesk_quote"><blockquote>On Mon, Emma wrote: charged twice</blockquote></div>'
    )
    assert strip_quoted_and_signature(agent) == (
        "I voided the duplicate authorisation on your LedgerLoop invoice; the refund reaches the card in 5-7 "
        "business days."
    )
    customer = (
        "Hello,\n\nThe router drops Wi-Fi every night at 2am.\nI already power-cycled it.\n\n"
        "Thanks,\nLiam\nSent from my iPhone\n\n"
        "On Tue, 3 Nov 2026 at 09:12, AirNest Support <care@airnest.example> wrote:\n> Did a reboot help?"
    )
    assert strip_quoted_and_signature(customer) == (
        "The router drops Wi-Fi every night at 2am.\nI already power-cycled it."
    )
    # Only a sign-off line at the end goes; a "|" inside the message stays.
    table = "Plan | Price | Support\nPro | 20 | yes\nThe table above is wrong."
    assert strip_quoted_and_signature(table) == table


def test_greetings_with_content_stay():
    # A greeting line that also carries the question is message.
    assert strip_quoted_and_signature("Hi, my export is empty since Monday.") == "Hi, my export is empty since Monday."
    assert strip_quoted_and_signature("안녕하세요, 내보내기 파일이 비어 있어요.") == "안녕하세요, 내보내기 파일이 비어 있어요."
    # A mail that is nothing but a greeting keeps it rather than becoming empty.
    assert strip_quoted_and_signature("Hi team,") == "Hi team,"


def test_strip_html_blockquote_and_gmail_quote():
    html = (
        "<div>The new firmware fixed it.</div><div><br></div>"
        '<div class="gmail_quote"><div>On Mon wrote:</div><blockquote>old <b>stuff</b></blockquote></div>'
    )
    assert strip_quoted_and_signature(html) == "The new firmware fixed it."
    assert strip_quoted_and_signature("<p>Answer</p><blockquote><p>Question</p></blockquote><p>More</p>") == (
        "Answer\n\nMore"
    )


def test_strip_is_conservative():
    # Closer in the middle of real content is not a signature.
    body = "Thanks,\nthat did not help. The error persists after reboot and the log shows error 0x80070005 " \
           "on every start, see the attached screenshot for the full stack trace and details."
    assert strip_quoted_and_signature(body) == body
    # A message that is only a quote or only a closer keeps its text.
    assert strip_quoted_and_signature("> only quoted text") == "> only quoted text"
    assert strip_quoted_and_signature("Thanks,\nJohn") == "Thanks,\nJohn"
    assert strip_quoted_and_signature("<blockquote>only quote</blockquote>") == "only quote"
    assert strip_quoted_and_signature("") == ""
    plain = "Printer offline since Monday.\nRestarted twice."
    assert strip_quoted_and_signature(plain) == plain
