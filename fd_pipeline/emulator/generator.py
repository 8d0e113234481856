"""Deterministic fake Freshdesk content: tickets, conversations and a KB that answer each other.

Every ticket is about one *topic* (a product x an issue category); every topic with a KB
article gives the ground truth `ticket id -> article id`. Text is English or Korean, HTML
with quoted earlier mails and signatures, as real support mail is. Generation is cheap
string assembly from `random.Random(seed)` so 50,000 tickets take a couple of seconds;
conversations are built lazily per ticket from `(seed, ticket id)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from .rows import (
    ArticleRow,
    ArticleTranslation,
    CategoryRow,
    ConversationRow,
    FolderRow,
    TicketRow,
)

TICKET_ID_START = 1000
CATEGORY_ID_START = 60_000_000_001
FOLDER_ID_START = 70_000_000_001
ARTICLE_ID_START = 80_000_000_001
REQUESTER_ID_START = 3_000_000_000
AGENT_ID_START = 4_000_000_001
COMPANY_ID_START = 5_000_001
GROUP_ID_START = 6_000_001
PRODUCT_ID_START = 7_000_001
# Generated conversation ids are tid * 1000 + n: stable without generating every ticket.
CONVERSATION_ID_FACTOR = 1000

KOREAN_SHARE = 0.35
DAY = 86_400


@dataclass(frozen=True)
class Product:
    name: str
    name_ko: str
    kind: str
    component: str
    component_ko: str
    platform: str
    versions: tuple[str, ...]
    support: str


PRODUCTS: tuple[Product, ...] = (
    Product("LedgerLoop", "LedgerLoop", "SaaS billing and invoicing app", "the billing dashboard",
            "결제 대시보드", "web", ("5.12", "5.13", "5.14.2"), "support@ledgerloop.example"),
    Product("PocketPal", "포켓팔", "mobile budgeting app", "the PocketPal app",
            "포켓팔 앱", "iOS 17 / Android 14", ("3.8.0", "3.9.1", "4.0.0"), "help@pocketpal.example"),
    Product("AirNest R7", "에어네스트 R7", "Wi-Fi 6 mesh router", "the router admin page",
            "공유기 관리자 페이지", "firmware", ("2.1.7", "2.2.0", "2.3.1"), "care@airnest.example"),
)


@dataclass(frozen=True)
class Issue:
    key: str
    area: int  # index into AREAS: the Troubleshooting subfolder the article lives in
    title: str
    title_ko: str
    subjects: tuple[str, ...]
    subjects_ko: tuple[str, ...]
    symptoms: tuple[str, ...]
    symptoms_ko: tuple[str, ...]
    cause: str
    cause_ko: str
    steps: tuple[str, ...]
    steps_ko: tuple[str, ...]
    tags: tuple[str, ...]


AREAS = (("Account & access", "계정 및 접근"), ("Billing & data", "결제 및 데이터"),
         ("App problems", "앱 문제"), ("Network & sync", "네트워크 및 동기화"))
# A third level under "App problems", so the tree has real nesting.
UPDATES_FOLDER = ("Updates & firmware", "업데이트 및 펌웨어")

ISSUES: tuple[Issue, ...] = (
    Issue("login", 0, "Cannot sign in after a password reset", "비밀번호 재설정 후 로그인할 수 없음",
          ("Can't log in to {p} anymore", "Login fails with error {code}", "Password reset link does not work"),
          ("{p} 로그인이 안 됩니다", "로그인 시 {code} 오류가 납니다"),
          ("Since I reset my password I get \"invalid credentials\" every time I sign in to {c}.",
           "The reset link from the e-mail opens a blank page and then says the token expired.",
           "Signing in worked yesterday; today it loops back to the login screen with error {code}."),
          ("비밀번호를 재설정한 뒤로 {c}에 로그인할 때마다 \"잘못된 인증 정보\" 오류가 나옵니다.",
           "메일로 받은 재설정 링크를 누르면 빈 화면이 뜨고 토큰이 만료되었다고 나옵니다."),
          "Root cause: the session cache still holds the old password hash; the SSO token was issued before the reset and is rejected.",
          "원인: 세션 캐시에 이전 비밀번호 해시가 남아 있어 재설정 전에 발급된 SSO 토큰이 거부됨.",
          ("Sign out on every device and clear the browser cookies for the site.",
           "Request a new reset link; links expire after 30 minutes.",
           "Sign in with the new password, then re-link single sign-on under Settings > Security."),
          ("모든 기기에서 로그아웃하고 브라우저 쿠키를 삭제합니다.",
           "재설정 링크를 새로 요청합니다. 링크는 30분 후 만료됩니다.",
           "새 비밀번호로 로그인한 뒤 설정 > 보안에서 SSO를 다시 연결합니다."),
          ("login", "password", "sso")),
    Issue("payment", 1, "Card payment declined or charged twice", "카드 결제 거절 또는 이중 청구",
          ("Charged twice for {p} subscription", "Payment declined with code {code}", "Invoice shows wrong amount"),
          ("{p} 구독료가 두 번 결제되었습니다", "결제가 {code} 코드로 거절됩니다"),
          ("My card was charged twice this month for the same plan, both charges show on the statement.",
           "The payment page says \"card declined ({code})\" although the card works everywhere else.",
           "After upgrading the plan the invoice shows the full price instead of the prorated amount."),
          ("이번 달 같은 요금제로 카드가 두 번 청구되었고 명세서에 두 건 모두 보입니다.",
           "다른 곳에서는 잘 되는 카드인데 결제 페이지에서 \"카드 거절({code})\"이 나옵니다."),
          "Root cause: the payment gateway retried after a timeout and the first authorisation was not voided; 3-D Secure was skipped for the retry.",
          "원인: 결제 게이트웨이가 타임아웃 후 재시도하면서 첫 승인 건을 취소하지 않았고, 재시도에서 3-D Secure가 생략됨.",
          ("Check Billing > Payment history for two authorisations with the same invoice number.",
           "Void the duplicate authorisation; the refund reaches the card in 5-7 business days.",
           "Ask the customer to re-enter the card so 3-D Secure runs again."),
          ("결제 > 결제 내역에서 같은 청구서 번호의 승인 건이 두 개인지 확인합니다.",
           "중복 승인 건을 취소합니다. 환불은 영업일 기준 5~7일 안에 카드로 들어갑니다.",
           "3-D Secure 인증이 다시 진행되도록 카드를 다시 등록해 달라고 안내합니다."),
          ("billing", "payment", "refund")),
    Issue("sync", 3, "Data does not sync between devices", "기기 간 데이터가 동기화되지 않음",
          ("{p} not syncing", "Changes don't show up on my other device", "Sync stuck at 0%"),
          ("{p} 동기화가 안 됩니다", "다른 기기에 변경 사항이 안 보여요"),
          ("Entries I add on my phone never appear on the web version of {c}, even after an hour.",
           "The sync indicator spins forever and stays at 0%.",
           "Sync stopped after the last update; the log shows error {code}."),
          ("휴대폰에서 추가한 항목이 한 시간이 지나도 {c} 웹 버전에 나타나지 않습니다.",
           "동기화 표시가 계속 돌기만 하고 0%에서 멈춰 있습니다."),
          "Root cause: the device clock is more than 5 minutes off, so the sync server rejects the change set as stale.",
          "원인: 기기 시계가 5분 이상 어긋나 동기화 서버가 변경 내역을 오래된 것으로 거부함.",
          ("Turn on automatic date and time on the device.",
           "Open Settings > Sync and tap \"Reset sync state\".",
           "Keep the app open on Wi-Fi until the indicator reaches 100%."),
          ("기기에서 날짜 및 시간 자동 설정을 켭니다.",
           "설정 > 동기화에서 \"동기화 상태 초기화\"를 누릅니다.",
           "표시가 100%가 될 때까지 Wi-Fi에서 앱을 열어 둡니다."),
          ("sync", "data")),
    Issue("crash", 2, "App crashes on launch", "앱 실행 시 강제 종료",
          ("{p} crashes when I open it", "App closes immediately after the splash screen", "Crash after updating to {ver}"),
          ("{p} 실행하자마자 꺼집니다", "{ver} 업데이트 후 앱이 계속 종료돼요"),
          ("Since version {ver} the app shows the splash screen and then closes without any message.",
           "It crashes every time I open the reports tab.",
           "Reinstalling did not help, it still crashes on start."),
          ("{ver} 버전부터 시작 화면이 나온 뒤 아무 메시지 없이 앱이 종료됩니다.",
           "보고서 탭을 열 때마다 앱이 꺼집니다."),
          "Root cause: a corrupted local cache from the previous version; the migration crashes on a null currency field.",
          "원인: 이전 버전의 로컬 캐시가 손상되어 통화 필드가 null일 때 마이그레이션이 실패함.",
          ("Update to the latest version from the store.",
           "Clear the app cache (Android: Settings > Apps > Storage; iOS: offload and reinstall).",
           "Sign in again; the data is restored from the server."),
          ("스토어에서 최신 버전으로 업데이트합니다.",
           "앱 캐시를 삭제합니다(안드로이드: 설정 > 앱 > 저장공간, iOS: 앱 정리 후 재설치).",
           "다시 로그인하면 서버에서 데이터가 복원됩니다."),
          ("crash", "mobile")),
    Issue("notifications", 2, "Notifications are not delivered", "알림이 오지 않음",
          ("Not getting notifications from {p}", "Push alerts stopped", "E-mail alerts missing"),
          ("{p} 알림이 안 와요", "푸시 알림이 멈췄습니다"),
          ("I stopped receiving push notifications a week ago although they are enabled in {c}.",
           "Alerts for due invoices never arrive by e-mail.",
           "Notifications arrive hours late, all at once."),
          ("{c}에서 알림을 켜 두었는데 일주일 전부터 푸시 알림이 오지 않습니다.",
           "알림이 몇 시간씩 늦게 한꺼번에 옵니다."),
          "Root cause: the push token expired after the OS update and battery optimisation blocks background refresh.",
          "원인: OS 업데이트 후 푸시 토큰이 만료되었고 배터리 최적화가 백그라운드 새로고침을 막음.",
          ("Open the app once so it registers a fresh push token.",
           "Exclude the app from battery optimisation.",
           "Check the spam folder and add the sender address to contacts for e-mail alerts."),
          ("앱을 한 번 열어 새 푸시 토큰을 등록합니다.",
           "배터리 최적화 대상에서 앱을 제외합니다.",
           "메일 알림은 스팸함을 확인하고 발신 주소를 연락처에 추가합니다."),
          ("notifications", "push")),
    Issue("connectivity", 3, "Wi-Fi keeps disconnecting", "Wi-Fi 연결이 자주 끊김",
          ("Wi-Fi drops every few minutes", "{p} loses connection at night", "No internet, LED blinking red"),
          ("와이파이가 자꾸 끊깁니다", "{p} 인터넷 연결이 안 돼요"),
          ("The connection drops every few minutes and comes back after about 30 seconds.",
           "Every night around 2am the network goes down and the LED blinks red.",
           "Devices stay connected to Wi-Fi but have no internet; error {code} in the log."),
          ("몇 분마다 연결이 끊겼다가 30초쯤 뒤에 다시 연결됩니다.",
           "매일 새벽 2시쯤 네트워크가 끊기고 LED가 빨간색으로 깜박입니다."),
          "Root cause: channel auto-selection jumps to a DFS channel and radar detection forces a 30 s channel switch.",
          "원인: 채널 자동 선택이 DFS 채널로 바뀌고 레이더 감지로 30초간 채널 전환이 강제됨.",
          ("Open the admin page and set the 5 GHz channel to 36, 40, 44 or 48 (non-DFS).",
           "Disable the nightly automatic reboot under System > Schedule.",
           "Power-cycle the modem and the router, modem first."),
          ("관리자 페이지에서 5GHz 채널을 36, 40, 44, 48 중 하나(DFS 아님)로 지정합니다.",
           "시스템 > 예약에서 야간 자동 재부팅을 끕니다.",
           "모뎀을 먼저, 그다음 공유기를 껐다 켭니다."),
          ("wifi", "network")),
    Issue("update", 2, "Update or firmware upgrade fails", "업데이트 또는 펌웨어 업그레이드 실패",
          ("Update to {ver} fails", "Firmware upgrade stuck", "Can't install the latest version"),
          ("{ver} 업데이트가 실패합니다", "펌웨어 업그레이드가 멈춰요"),
          ("The upgrade to {ver} stops at 45% and rolls back.",
           "The installer says \"verification failed ({code})\".",
           "After the update the device reboots in a loop."),
          ("{ver} 업그레이드가 45%에서 멈추고 원래대로 돌아갑니다.",
           "설치 프로그램에 \"검증 실패({code})\"가 표시됩니다."),
          "Root cause: the staged image is downloaded over an unstable link and the checksum fails; there is not enough free space for the rollback copy.",
          "원인: 불안정한 연결로 이미지를 받아 체크섬 검증이 실패하고, 롤백용 여유 공간이 부족함.",
          ("Connect over a cable or a stable network before updating.",
           "Free at least 500 MB (or delete old logs on the device).",
           "Download the package manually from the support site and install it from local storage."),
          ("업데이트 전에 유선 또는 안정적인 네트워크에 연결합니다.",
           "최소 500MB 여유 공간을 확보합니다(기기의 오래된 로그 삭제).",
           "지원 사이트에서 파일을 직접 내려받아 로컬 저장소에서 설치합니다."),
          ("update", "firmware")),
    Issue("performance", 2, "Slow performance", "속도 저하",
          ("{p} is very slow", "Pages take forever to load", "Speed much lower than my plan"),
          ("{p} 속도가 너무 느립니다", "페이지 로딩이 오래 걸려요"),
          ("Loading {c} takes more than 20 seconds since last week.",
           "Reports time out when I pick a date range longer than a month.",
           "Speed tests show 50 Mbps although I pay for 500."),
          ("지난주부터 {c}를 여는 데 20초 이상 걸립니다.",
           "한 달 이상 기간을 선택하면 보고서가 시간 초과됩니다."),
          "Root cause: a browser extension injects scripts into every page and the report query scans the full history without the date index.",
          "원인: 브라우저 확장 프로그램이 모든 페이지에 스크립트를 주입하고, 보고서 쿼리가 날짜 인덱스 없이 전체 기록을 조회함.",
          ("Try a private window with extensions disabled.",
           "Narrow the report to one month and export larger ranges instead.",
           "If it is still slow, send us a HAR file from the browser's developer tools."),
          ("확장 프로그램을 끈 시크릿 창에서 다시 시도합니다.",
           "보고서 기간을 한 달로 줄이고 더 긴 기간은 내보내기를 이용합니다.",
           "그래도 느리면 브라우저 개발자 도구에서 HAR 파일을 보내 주세요."),
          ("performance", "slow")),
    Issue("export", 1, "Export to CSV is empty or garbled", "CSV 내보내기가 비어 있거나 깨짐",
          ("CSV export is empty", "Korean characters broken in export", "Export never finishes"),
          ("CSV 내보내기 파일이 비어 있어요", "내보낸 파일에서 한글이 깨집니다"),
          ("The exported CSV only has the header row.",
           "Korean names show as ??? when I open the export in Excel.",
           "The export job has been \"in progress\" for two days."),
          ("내보낸 CSV 파일에 머리글 행만 있습니다.",
           "엑셀에서 내보낸 파일을 열면 한글 이름이 ???로 보입니다."),
          "Root cause: Excel opens UTF-8 without BOM as the legacy code page; empty exports come from a filter saved on the view.",
          "원인: 엑셀이 BOM 없는 UTF-8 파일을 기존 코드 페이지로 열고, 빈 파일은 보기에 저장된 필터 때문임.",
          ("Clear the saved filters on the view before exporting.",
           "Choose \"UTF-8 with BOM\" in the export dialog.",
           "In Excel use Data > From Text/CSV and pick UTF-8."),
          ("내보내기 전에 보기에 저장된 필터를 지웁니다.",
           "내보내기 창에서 \"UTF-8 (BOM 포함)\"을 선택합니다.",
           "엑셀에서 데이터 > 텍스트/CSV에서 가져오기를 사용하고 UTF-8을 선택합니다."),
          ("export", "csv")),
    Issue("permissions", 0, "User cannot access a shared workspace", "공유 작업 공간에 접근할 수 없음",
          ("Colleague can't see shared data", "Access denied on {p}", "Invite link not working"),
          ("동료가 공유 데이터를 못 봐요", "{p} 접근 거부 오류"),
          ("My colleague gets \"access denied\" when opening the shared workspace.",
           "The invite e-mail link says the invitation is no longer valid.",
           "After changing roles the user still sees the old menus."),
          ("동료가 공유 작업 공간을 열면 \"접근 거부\"가 나옵니다.",
           "초대 메일의 링크를 누르면 초대가 더 이상 유효하지 않다고 나옵니다."),
          "Root cause: the invite was sent to an alias and the role change is cached in the user's session for an hour.",
          "원인: 초대가 별칭 주소로 발송되었고, 역할 변경이 사용자 세션에 한 시간 동안 캐시됨.",
          ("Remove the pending invitation and invite the user's primary e-mail address.",
           "Assign the \"Editor\" role under Settings > Members.",
           "Ask the user to sign out and back in so the new role applies."),
          ("대기 중인 초대를 삭제하고 사용자의 기본 메일 주소로 다시 초대합니다.",
           "설정 > 구성원에서 \"편집자\" 역할을 지정합니다.",
           "새 역할이 적용되도록 사용자가 로그아웃 후 다시 로그인하게 합니다."),
          ("permissions", "access")),
)

TOPICS: tuple[tuple[int, int], ...] = tuple((p, i) for p in range(len(PRODUCTS)) for i in range(len(ISSUES)))

NAMES_EN = ("Emma Clarke", "Liam Patel", "Olivia Novak", "Noah Fischer", "Ava Moreau", "Lucas Silva",
            "Mia Jensen", "Ethan Brooks", "Sofia Rossi", "James O'Neil", "Chloe Martin", "Daniel Kim")
NAMES_KO = ("김민준", "이서연", "박지훈", "최수아", "정예준", "강하은", "조도윤", "윤지우", "장서준", "임하린")
AGENTS = ("Priya Raman", "Tom Becker", "Hana Lee", "Marco Bianchi", "Jisoo Park", "Alex Turner",
          "Nora Haddad", "Kenji Sato")
COMPANIES = ("Northwind Traders", "Contoso Ltd", "Globex", "Initech", "Umbrella Retail", "Hooli",
             "Stark Logistics", "Wayne Foods", "한빛상사", "미래테크", "서울물산", "Blue Harbor",
             "Acme Corp", "Vandelay Industries", "Pied Piper", "Soylent", "Tyrell Systems", "Oceanic",
             "대한솔루션", "Massive Dynamic")
TYPES = ("Question", "Incident", "Problem", "Feature Request", None)
SOURCES = (1, 1, 1, 2, 2, 3, 7, 9, 10)
STATUSES = (2, 2, 3, 4, 4, 5, 5, 5)
SPAM_SUBJECTS = ("Boost your SEO ranking today!!!", "You have won a $500 gift card",
                 "축하합니다! 경품에 당첨되셨습니다", "Cheap backlinks, guaranteed results")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _requester(rid: int) -> tuple[str, str]:
    """Requester id -> (name, e-mail); odd ids are Korean-speaking."""
    n = rid - REQUESTER_ID_START
    if n % 2:
        name = NAMES_KO[(n // 2) % len(NAMES_KO)]
        return name, f"user{n}@mail.example.kr"
    name = NAMES_EN[(n // 2) % len(NAMES_EN)]
    return name, f"{name.split()[0].lower()}.{n}@mail.example.com"


def requester_json(rid: int) -> dict:
    name, email = _requester(rid)
    return {"id": rid, "name": name, "email": email, "mobile": None, "phone": None}


def agent_name(agent_id: int) -> str:
    return AGENTS[(agent_id - AGENT_ID_START) % len(AGENTS)]


def _fill(template: str, product: Product, ko: bool, rng: random.Random) -> str:
    return template.format(
        p=product.name_ko if ko else product.name,
        c=product.component_ko if ko else product.component,
        ver=rng.choice(product.versions),
        code=f"E{rng.randrange(100, 999)}",
    )


def _mail_date(ts: int, ko: bool) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    if ko:
        return f"{d.year}년 {d.month}월 {d.day}일 {d.hour:02d}:{d.minute:02d}"
    return f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year} at {d.hour:02d}:{d.minute:02d}"


class _Doc:
    """Builds the HTML body and its plain text side by side."""

    __slots__ = ("html", "text")

    def __init__(self) -> None:
        self.html: list[str] = []
        self.text: list[str] = []

    def para(self, s: str) -> None:
        self.html.append(f"<div>{escape(s, quote=False)}</div>")
        self.text.append(s)

    def lines(self, lines: list[str]) -> None:
        self.html.append("<div>" + "<br>".join(escape(x, quote=False) for x in lines) + "</div>")
        self.text.append("\n".join(lines))

    def steps(self, steps: tuple[str, ...]) -> None:
        self.html.append("<ol>" + "".join(f"<li>{escape(s, quote=False)}</li>" for s in steps) + "</ol>")
        self.text.append("\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1)))

    def quote(self, header: str, quoted: str, as_blockquote: bool) -> None:
        lines = quoted.split("\n")
        if as_blockquote:
            self.html.append(f"<div>{escape(header, quote=False)}</div><blockquote>"
                             + "<br>".join(escape(x, quote=False) for x in lines) + "</blockquote>")
        else:
            self.html.append("<div>" + escape(header, quote=False) + "<br>"
                             + "<br>".join("&gt; " + escape(x, quote=False) for x in lines) + "</div>")
        self.text.append(header + "\n" + "\n".join("> " + x for x in lines))

    def done(self) -> tuple[str, str]:
        return "".join(self.html), "\n\n".join(self.text)


def _signature(doc: _Doc, name: str, ko: bool, rng: random.Random, company: str | None) -> None:
    if ko:
        doc.lines(["감사합니다.", f"{name} 드림"])
    elif rng.random() < 0.5:
        doc.lines(["-- ", "Best regards,", name] + ([company] if company else []))
    else:
        doc.lines(["Thanks,", name, "Sent from my phone"])


def ticket_description(rng: random.Random, topic: int, ko: bool, name: str, company: str | None,
                       created_at: int) -> tuple[str, str]:
    product, issue = PRODUCTS[TOPICS[topic][0]], ISSUES[TOPICS[topic][1]]
    doc = _Doc()
    doc.para(rng.choice(("안녕하세요,", "안녕하세요. 문의드립니다.")) if ko
             else rng.choice(("Hi team,", "Hello,", "Hi support,")))
    symptoms = issue.symptoms_ko if ko else issue.symptoms
    first = rng.randrange(len(symptoms))
    doc.para(_fill(symptoms[first], product, ko, rng))
    if rng.random() < 0.5:
        doc.para(_fill(symptoms[(first + 1) % len(symptoms)], product, ko, rng))
    ver = rng.choice(product.versions)
    doc.para(f"사용 환경: {product.name_ko} {ver}, {product.platform}" if ko
             else f"I'm using {product.name} {ver} on {product.platform}.")
    _signature(doc, name, ko, rng, company)
    if rng.random() < 0.25:
        earlier = created_at - rng.randrange(3600, 20 * DAY)
        header = (f"{_mail_date(earlier, ko)}, {product.name} Support <{product.support}>님이 작성:" if ko
                  else f"On {_mail_date(earlier, ko)}, {product.name} Support <{product.support}> wrote:")
        body = ("문의해 주셔서 감사합니다.\n문제가 계속되면 이 메일에 회신해 주세요." if ko
                else "Thanks for reaching out.\nIf the problem comes back, just reply to this e-mail.")
        doc.quote(header, body, rng.random() < 0.6)
    return doc.done()


def generate_tickets(rng: random.Random, n: int, now_ts: int, span_hours: float,
                     deleted_share: float, spam_share: float) -> list[TicketRow]:
    span_s = max(1, int(span_hours * 3600))
    n_requesters = max(4, n // 4)
    rows: list[TicketRow] = []
    rand, randrange, choice = rng.random, rng.randrange, rng.choice
    for k in range(n):
        tid = TICKET_ID_START + k
        updated = now_ts - span_s + int(rand() * span_s)
        if rand() < 0.35:
            created = updated - int(rand() * min(span_s, updated - (now_ts - span_s) + 1))
        else:
            created = updated - randrange(60, 60 * DAY)
        is_spam = rand() < spam_share
        ko = rand() < KOREAN_SHARE
        r = randrange(n_requesters) * 2 + (1 if ko else 0)
        rid = REQUESTER_ID_START + r
        name = _requester(rid)[0]
        company_ix = randrange(len(COMPANIES)) if rand() < 0.7 else None
        company = COMPANIES[company_ix] if company_ix is not None else None
        if is_spam:
            subject = choice(SPAM_SUBJECTS)
            html = f"<div>{escape(subject)}</div><div>Click here: http://spam.example/offer</div>"
            text = f"{subject}\n\nClick here: http://spam.example/offer"
            topic = None
            status, ptype, tags, pix = 2, None, [], None
        else:
            topic = randrange(len(TOPICS))
            pix, iix = TOPICS[topic]
            product, issue = PRODUCTS[pix], ISSUES[iix]
            subject = _fill(choice(issue.subjects_ko if ko else issue.subjects), product, ko, rng)
            if rand() < 0.02:
                html, text = "", ""  # phone tickets often have no description at all
            else:
                html, text = ticket_description(rng, topic, ko, name, company, created)
            status = choice(STATUSES)
            ptype = choice(TYPES)
            tags = [t for t in issue.tags if rand() < 0.6]
        status_open = status in (2, 3)
        responder = None if (status == 2 and rand() < 0.4) else AGENT_ID_START + randrange(len(AGENTS))
        row = TicketRow(
            id=tid, subject=subject, description_html=html, description_text=text,
            status=status, priority=1 + int(rand() * rand() * 4.0), source=choice(SOURCES),
            type=ptype, tags=tags,
            custom_fields={
                "cf_plan": choice(("Starter", "Pro", "Enterprise", None)),
                "cf_app_version": choice(PRODUCTS[pix].versions) if pix is not None and rand() < 0.7 else None,
                "cf_region": choice(("KR", "JP")) if ko else choice(("EU", "US", None)),
                "cf_order_number": None,
            },
            requester_id=rid, responder_id=responder,
            group_id=(GROUP_ID_START + pix) if pix is not None and rand() < 0.9 else None,
            company_id=(COMPANY_ID_START + company_ix) if company_ix is not None else None,
            product_id=(PRODUCT_ID_START + pix) if pix is not None and rand() < 0.9 else None,
            created_at=created, updated_at=updated,
            due_by=created + 3 * DAY, fr_due_by=created + DAY,
            is_escalated=status_open and updated > created + 3 * DAY,
            fr_escalated=status_open and updated > created + DAY and rand() < 0.5,
            spam=is_spam, deleted=(not is_spam) and rand() < deleted_share,
            language="ko" if ko else "en", topic=topic, status_updated_at=updated,
        )
        rows.append(row)
    return rows


def generate_conversations(seed: int, t: TicketRow) -> list[ConversationRow]:
    """The generated thread of one ticket, a pure function of (seed, the ticket as generated)."""
    rng = random.Random(seed * 1_000_003 + t.id)
    if t.topic is None or rng.random() < 0.1:
        return []
    pix, iix = TOPICS[t.topic]
    product, issue = PRODUCTS[pix], ISSUES[iix]
    ko = t.language == "ko"
    requester_name, requester_email = _requester(t.requester_id)
    agent_id = t.responder_id or (AGENT_ID_START + rng.randrange(len(AGENTS)))
    agent = agent_name(agent_id)
    plan: list[str] = []  # "ask", "follow", "note", "resolve", "thanks"
    if t.status == 2:
        plan = rng.choice(([], ["ask"], ["ask", "follow"], ["follow"]))
    elif t.status == 3:
        plan = ["note", "ask"] if rng.random() < 0.5 else ["ask"]
    else:
        plan = (["ask", "follow"] if rng.random() < 0.4 else []) + (["note"] if rng.random() < 0.7 else []) \
            + ["resolve"] + (["thanks"] if rng.random() < 0.5 else [])
    if rng.random() < 0.015:
        plan = ["ask", "follow"] * rng.randrange(16, 23) + plan  # a long thread, more than a page
    span = max(len(plan), t.updated_at - t.created_at)
    out: list[ConversationRow] = []
    for n, kind in enumerate(plan):
        ts = t.created_at + (span * (n + 1)) // (len(plan) + 1)
        ts = min(ts, t.updated_at)
        doc = _Doc()
        incoming = kind in ("follow", "thanks")
        private = kind == "note"
        if kind == "ask":
            doc.para(f"{requester_name}님, 안녕하세요." if ko else f"Hi {requester_name.split()[0]},")
            doc.para("확인을 위해 앱 버전과 발생 시각을 알려 주시겠어요?" if ko
                     else "Thanks for the details. Could you tell us the exact version and when it last happened?")
        elif kind == "follow":
            doc.para(_fill(rng.choice(issue.symptoms_ko if ko else issue.symptoms), product, ko, rng))
            doc.para("아직도 같은 문제가 있습니다." if ko else "It is still happening, please help.")
            _signature(doc, requester_name, ko, rng, None)
        elif kind == "note":
            doc.para(issue.cause_ko if ko else issue.cause)
            doc.para("로그 확인 완료, 해결 절차 안내 예정." if ko else "Checked the logs; sending the standard fix.")
        elif kind == "resolve":
            doc.para(f"{requester_name}님, 기다려 주셔서 감사합니다." if ko
                     else f"Hi {requester_name.split()[0]}, thanks for your patience.")
            doc.para("아래 순서대로 진행해 주세요:" if ko else "Please follow these steps:")
            doc.steps(issue.steps_ko if ko else issue.steps)
            doc.lines([f"{agent} | {product.name_ko} 고객지원"] if ko
                      else ["Best regards,", f"{agent} | {product.name} Support"])
        else:  # thanks
            doc.para("해결되었습니다. 감사합니다!" if ko else "That fixed it, thank you!")
        html, text = doc.done()
        out.append(ConversationRow(
            id=t.id * CONVERSATION_ID_FACTOR + n, ticket_id=t.id, body_html=html, body_text=text,
            incoming=incoming, private=private, source=2 if private else 0,
            user_id=t.requester_id if incoming else agent_id,
            from_email=requester_email if incoming else (None if private else product.support),
            to_emails=None if private else ([product.support] if incoming else [requester_email]),
            created_at=ts, updated_at=ts,
        ))
    return out


def article_body(topic: int, ko: bool) -> tuple[str, str]:
    product, issue = PRODUCTS[TOPICS[topic][0]], ISSUES[TOPICS[topic][1]]
    sym = issue.symptoms_ko if ko else issue.symptoms
    steps = issue.steps_ko if ko else issue.steps
    fmt = {"p": product.name_ko if ko else product.name, "c": product.component_ko if ko else product.component,
           "ver": product.versions[-1], "code": "E4xx"}
    html = [f"<p>{escape((f'{product.name_ko}에서 다음 증상이 나타날 때 이 문서를 참고하세요.' if ko else f'Use this article when {product.name} shows the following symptoms.'), quote=False)}</p>",
            "<h3>" + ("증상" if ko else "Symptoms") + "</h3><ul>"
            + "".join(f"<li>{escape(s.format(**fmt), quote=False)}</li>" for s in sym) + "</ul>",
            "<h3>" + ("원인" if ko else "Cause") + "</h3>"
            f"<p>{escape((issue.cause_ko if ko else issue.cause).split(': ', 1)[-1], quote=False)}</p>",
            "<h3>" + ("해결 방법" if ko else "Resolution") + "</h3><ol>"
            + "".join(f"<li>{escape(s, quote=False)}</li>" for s in steps) + "</ol>"]
    text = "\n\n".join([
        (f"{product.name_ko}에서 다음 증상이 나타날 때 이 문서를 참고하세요." if ko
         else f"Use this article when {product.name} shows the following symptoms."),
        ("증상" if ko else "Symptoms") + "\n" + "\n".join(s.format(**fmt) for s in sym),
        ("원인" if ko else "Cause") + "\n" + (issue.cause_ko if ko else issue.cause).split(": ", 1)[-1],
        ("해결 방법" if ko else "Resolution") + "\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1)),
    ])
    return "".join(html), text


def article_title(topic: int, ko: bool) -> str:
    product, issue = PRODUCTS[TOPICS[topic][0]], ISSUES[TOPICS[topic][1]]
    return f"{product.name_ko}: {issue.title_ko}" if ko else f"{product.name}: {issue.title}"


@dataclass
class KbTree:
    categories: list[CategoryRow]
    folders: list[FolderRow]
    articles: list[ArticleRow]
    topic_article: dict[int, int]          # topic -> the published article that answers it
    folder_for: dict[tuple[int, int], int]  # (product, area or 99 for updates) -> folder id


def generate_kb(rng: random.Random, n_articles: int, now_ts: int) -> KbTree:
    cats: list[CategoryRow] = []
    folders: list[FolderRow] = []
    folder_for: dict[tuple[int, int], int] = {}
    base = now_ts - 400 * DAY
    fid = FOLDER_ID_START

    def folder(cat: int, parent: int | None, name: str, name_ko: str) -> int:
        nonlocal fid
        ts = base + rng.randrange(0, 30 * DAY)
        folders.append(FolderRow(fid, cat, parent, name, name_ko,
                                 None if rng.random() < 0.4 else f"{name} articles", ts, ts))
        fid += 1
        return fid - 1

    for pix, product in enumerate(PRODUCTS):
        cid = CATEGORY_ID_START + pix
        ts = base + rng.randrange(0, DAY)
        cats.append(CategoryRow(cid, product.name, product.name_ko, f"Help for {product.kind}", ts, ts))
        folder_for[(pix, -1)] = folder(cid, None, "Getting started", "시작하기")
        trouble = folder(cid, None, "Troubleshooting", "문제 해결")
        for aix, (name, name_ko) in enumerate(AREAS):
            folder_for[(pix, aix)] = folder(cid, trouble, name, name_ko)
        folder_for[(pix, 99)] = folder(cid, folder_for[(pix, 2)], *UPDATES_FOLDER)
        folder(cid, None, "Release notes", "릴리스 노트")  # deliberately empty
    articles: list[ArticleRow] = []
    topic_article: dict[int, int] = {}
    for k in range(n_articles):
        aid = ARTICLE_ID_START + k
        topic = k % len(TOPICS)
        pix, iix = TOPICS[topic]
        issue = ISSUES[iix]
        primary = k < len(TOPICS)
        if primary:
            title = article_title(topic, False)
            html, text = article_body(topic, False)
            status = 2
            fkey = (pix, 99 if issue.key == "update" else issue.area)
        else:
            # Extras: drafts being rewritten and FAQ pages that answer no single ticket.
            status = 1 if k % 2 else 2
            title = (f"Draft: {article_title(topic, False)} (rewrite)" if status == 1
                     else f"{PRODUCTS[pix].name} FAQ: {issue.title.lower()}")
            html, text = article_body(topic, False)
            fkey = (pix, -1) if status == 2 else (pix, issue.area)
        created = now_ts - rng.randrange(10 * DAY, 300 * DAY)
        updated = min(now_ts - 3600, created + rng.randrange(0, 10 * DAY))
        row = ArticleRow(
            id=aid, title=title, description_html=html, description_text=text, status=status,
            type=1 if rng.random() < 0.8 else 2, tags=list(issue.tags[:rng.randrange(0, len(issue.tags) + 1)]),
            folder_id=folder_for[fkey], category_id=CATEGORY_ID_START + pix,
            agent_id=AGENT_ID_START + rng.randrange(len(AGENTS)),
            hits=rng.randrange(0, 5000), thumbs_up=rng.randrange(0, 80), thumbs_down=rng.randrange(0, 10),
            created_at=created, updated_at=updated, topic=topic if primary else None,
        )
        if rng.random() < 0.4:
            kh, kt = article_body(topic, True)
            tts = min(now_ts - 60, updated + rng.randrange(0, 5 * DAY))
            row.translations["ko"] = ArticleTranslation(article_title(topic, True), kh, kt, status, tts, tts)
        articles.append(row)
        if primary:
            topic_article[topic] = aid
    return KbTree(cats, folders, articles, topic_article, folder_for)
