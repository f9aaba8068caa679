"""The one-tap answer page, server-rendered (pure: the time passed in).

Read on a phone at 3 a.m.: one column that fits 360 px, large type, two big buttons far
apart, the resident's phone as a ``tel:`` link. It works without JavaScript; a few lines of
it only keep the time left counting down.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from services.domain.aggregate import ENGAGED, Assignment, CallState
from services.domain.labels import KIND_TEXT, LEVEL_TEXT
from services.domain.roster import Roster


@dataclass(frozen=True)
class PageFacts:
    """What a page says: the same facts every channel's text carries."""

    kind: str
    building: str
    address: str
    caller_name: str
    caller_phone: str
    note: str
    level: str
    reach_due_at: datetime
    drill: bool = False


def facts_of(state: CallState, assignment: Assignment, roster: Roster) -> PageFacts:
    raised = state.raised
    assert raised is not None
    building = roster.building(raised.building_id)
    return PageFacts(
        kind=KIND_TEXT.get(raised.kind, raised.kind),
        building=building.name if building else raised.building_id or "",
        address=raised.address or (building.address if building else ""),
        caller_name=raised.caller.name,
        caller_phone=raised.caller.phone,
        note=raised.note,
        level=LEVEL_TEXT.get(assignment.level, assignment.level),
        reach_due_at=raised.due.reach,
        drill=raised.drill,
    )


def time_left(due: datetime, now: datetime) -> str:
    """ "还剩 2分10秒 left" before the reach deadline, "已超时 1分5秒 overdue" after it."""
    seconds = round((due - now).total_seconds())
    minutes, rest = divmod(abs(seconds), 60)
    span = f"{minutes}分{rest}秒" if minutes else f"{rest}秒"
    return f"还剩 {span} left" if seconds >= 0 else f"已超时 {span} overdue"


def ask_page(facts: PageFacts, now: datetime, action: str) -> str:
    """The page awaiting an answer: its facts and the two buttons (a form: no JS needed)."""
    buttons = (
        f'<form method="post" action="{_e(action)}" class="answer">'
        '<button name="answer" value="accept" class="accept" id="accept">接单 Accept</button>'
        '<button name="answer" value="decline" class="decline" id="decline">不能去 Decline</button>'
        "</form>"
    )
    return document(_facts(facts, now) + buttons + _COUNTDOWN)


def accepted_page(facts: PageFacts) -> str:
    """After accepting: go now, and call the resident."""
    body = (
        '<p class="result ok" id="result" data-answer="accept">已接单，请立即前往<br>Accepted: go now</p>'
        + _place(facts)
        + _resident(facts, big=True)
    )
    return document(body)


def declined_page() -> str:
    body = (
        '<p class="result" id="result" data-answer="decline">已回复不能去<br>Declined</p>'
        '<p class="plain">系统会改派他人。Someone else will be paged.</p>'
    )
    return document(body)


def ended_page(state: CallState, assignment: Assignment, facts: PageFacts) -> str:
    """A page that no longer awaits an answer (410): why, plainly. Someone who accepted a
    call still open keeps the resident's phone; nobody else sees it any more."""
    body = f'<p class="result ended" id="result" data-ended="{_e(assignment.status)}">{_why(state, assignment)}</p>'
    if state.is_open and assignment.status in ENGAGED:
        body += _place(facts) + _resident(facts, big=True)
    return document(body)


def error_page(status: int, detail: str) -> str:
    """A link that answers nothing: 404 (not valid), 422, 503 (try again)."""
    said = {
        404: "此链接无效 This link is not valid.",
        422: "请点“接单”或“不能去” Tap Accept or Decline.",
        503: "系统忙，请稍后再试 Busy: try again in a moment.",
    }.get(status, "出错了 Something went wrong.")
    body = (
        f'<p class="result ended" id="result" data-status="{status}">{_e(said)}</p>'
        f'<p class="plain muted">{_e(detail)}</p>'
        '<p class="plain">请打开 1310 应用或致电值班室。Open the 1310 app or call the duty desk.</p>'
    )
    return document(body)


def _why(state: CallState, assignment: Assignment) -> str:
    if state.status in ("resolved", "cancelled"):
        return "此求助已结束 This call has ended."
    if state.status == "merged":
        return "此求助已并入另一起，无需再回复 This call was merged into another."
    if assignment.status in ENGAGED:
        return "你已接单，请立即前往 You accepted this page: go now."
    if assignment.status == "declined":
        return "你已回复不能去 You declined this page."
    if assignment.status == "timed_out":
        return "此派单已超时，已改派他人 This page timed out and was passed on."
    return f"此派单已结束 This page has ended ({_e(assignment.status)})."


def _facts(facts: PageFacts, now: datetime) -> str:
    drill = '<p class="drill">【演练 DRILL】</p>' if facts.drill else ""
    left = time_left(facts.reach_due_at, now)
    overdue = " overdue" if facts.reach_due_at < now else ""
    rows = [
        f'<p class="kind" id="kind">{_e(facts.kind)}</p>',
        _place(facts),
        _resident(facts, big=False),
        f'<p class="fact" id="note"><span>备注 Note</span>{_e(facts.note)}</p>' if facts.note else "",
        f'<p class="fact" id="level"><span>层级 Level</span>{_e(facts.level)}</p>',
        f'<p class="fact left{overdue}" id="left" data-due="{facts.reach_due_at.isoformat()}">'
        f"<span>到达时限 Reach by {_e(facts.reach_due_at.astimezone().strftime('%H:%M'))}</span>"
        f"<b>{_e(left)}</b></p>",
    ]
    return drill + "".join(rows)


def _place(facts: PageFacts) -> str:
    building = f"<b>{_e(facts.building)}</b>" if facts.building else ""
    address = f"<br>{_e(facts.address)}" if facts.address else ""
    place = building + address or "地址未知 Address unknown"
    return f'<p class="fact" id="place"><span>楼栋 / 地址 Building / Address</span>{place}</p>'


def _resident(facts: PageFacts, big: bool) -> str:
    phone = facts.caller_phone.strip()
    dial = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    link = (
        f'<a class="tel{" big" if big else ""}" id="tel" href="tel:{_e(dial)}">拨打 Call {_e(phone)}</a>'
        if dial
        else ""
    )
    return f'<p class="fact" id="resident"><span>求助人 Resident</span>{_e(facts.caller_name)} {link}</p>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# Keeps "time left" counting without a reload; the page reads the same without it.
_COUNTDOWN = """<script>
(function(){var n=document.getElementById("left");if(!n)return;var due=Date.parse(n.dataset.due);
var b=n.querySelector("b");function f(s){var m=Math.floor(s/60),r=s%60;return m?m+"分"+r+"秒":r+"秒";}
function t(){var s=Math.round((due-Date.now())/1000);b.textContent=s>=0?"还剩 "+f(s)+" left":"已超时 "+f(-s)+" overdue";
n.classList.toggle("overdue",s<0);}setInterval(t,1000);})();
</script>"""

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:20px/1.45 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;color:#111;background:#fff}
header{background:#a4161a;color:#fff;padding:12px 16px;font-size:1.1rem;font-weight:700}
main{max-width:32rem;margin:0 auto;padding:12px 16px 32px}
.kind{font-size:1.7rem;font-weight:800;margin:8px 0}
.drill{background:#e7e0ff;padding:6px 10px;border-radius:8px;font-weight:700}
.fact{margin:10px 0;padding-bottom:8px;border-bottom:1px solid #ddd;overflow-wrap:anywhere}
.fact span{display:block;font-size:.85rem;color:#555}
.left b{font-size:1.4rem;color:#1f4e99}.left.overdue b{color:#b3261e}
.tel{display:inline-block;margin:6px 0;padding:10px 16px;background:#0a7a32;color:#fff;border-radius:10px;
text-decoration:none;font-weight:700}
.tel.big{display:block;text-align:center;font-size:1.6rem;padding:20px}
.answer{margin-top:20px}
.answer button{display:block;width:100%;min-height:72px;font-size:1.6rem;font-weight:800;border-radius:14px;
border:none;margin:0 0 40px;cursor:pointer}
.accept{background:#0a7a32;color:#fff}.decline{background:#e6e6e6;color:#111;border:2px solid #888!important}
button:focus,a:focus{outline:4px solid #ffbf47;outline-offset:2px}
.result{font-size:1.6rem;font-weight:800;margin:16px 0;padding:16px;border-radius:12px;background:#eee}
.result.ok{background:#e3f4e8;color:#0a7a32}.result.ended{background:#fbe6e4;color:#b3261e}
.plain{font-size:1.1rem}.muted{color:#555;font-size:.9rem}
"""


def document(body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex,nofollow">'
        f"<title>1310 派单</title><style>{_STYLE}</style></head>"
        f"<body><header>1310 派单 Dispatch</header><main>{body}</main></body></html>"
    )
