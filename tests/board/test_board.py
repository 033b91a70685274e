"""The journey board in-process (no broker): sign-in, sessions, CSRF, role-based buttons, actions, bad input."""

from __future__ import annotations

import html
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session

from services.accountability.board import auth
from services.accountability.deps import Role
from services.accountability.models import Alert, AuditEntry, FeedbackItem, OutboxEntry, Team
from services.accountability.settings import AccountabilitySettings
from tests.accountability.factories import MovableClock, classified
from tests.board.support import TOKENS, BoardRuntime, client, csrf_of, runtime, settings, sign_in

STAGES = ["Discover", "Buy", "Onboard", "Use", "Pay", "Get help", "Leave"]


@pytest.fixture
def rt(tmp_path: Path) -> BoardRuntime:
    clock = MovableClock()
    board = runtime(tmp_path, clock)
    items = [classified(stage="pay", label="negative", at=clock(), text="charged twice for my bill") for _ in range(30)]
    items += [classified(stage="use", label="positive", at=clock(), text="the app works great") for _ in range(5)]
    items += [
        classified(stage="unassigned", label="neutral", at=clock(), text="hello there", confidence=0.2, customer="c-1"),
        classified(stage="buy", label="neutral", at=clock(), text="maybe about a plan", confidence=0.3, customer="c-1"),
    ]
    clock.advance(seconds=30)
    board.store(items)
    return board


def _alert(rt: BoardRuntime) -> Alert:
    with Session(rt.engine) as session:
        return session.execute(select(Alert).where(Alert.stage == "pay")).scalars().one()  # type: ignore[arg-type]


def _audit(rt: BoardRuntime) -> list[AuditEntry]:
    with Session(rt.engine) as session:
        return list(session.execute(select(AuditEntry)).scalars())


def _is_page(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert words in html.unescape(response.text), response.text[:2000]
    assert "Traceback" not in response.text


def test_not_signed_in_goes_to_the_sign_in_page(rt: BoardRuntime) -> None:
    with client(rt) as c:
        response = c.get("/board/stages/pay?window=1h")
        assert response.status_code == 303
        assert response.headers["location"] == "/board/login?next=%2Fboard%2Fstages%2Fpay%3Fwindow%3D1h"
        assert c.get("/board/fragment").status_code == 401
        _is_page(c.get("/board/login"), 200, "Access token")


def test_sign_in_sets_a_strict_httponly_signed_cookie_and_shows_the_board(rt: BoardRuntime) -> None:
    with client(rt) as c:
        response = sign_in(c, "read")
        assert response.status_code == 303 and response.headers["location"] == "/board"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(auth.COOKIE + "=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # development: plain http on loopback
        board = c.get("/board?window=1h")
        _is_page(board, 200, "Signed in as")
        assert "ann (read)" in board.text
        positions = [board.text.index(f". {name}</a>") for name in STAGES]
        assert positions == sorted(positions), "stages not in journey order"
        pay = board.text[board.text.index('data-stage="pay"') :]
        assert 'data-health="red"' in pay[:100] and "At risk" in pay[:2000]  # the colour in words too
        assert "Content-Security-Policy" in board.headers and board.headers["Cache-Control"] == "no-store"
        assert "Audit log" not in board.text  # a read session does not see the operator's audit page
        assert c.get("/board/audit").status_code == 403


def test_wrong_token_and_a_forged_sign_in_are_refused(rt: BoardRuntime) -> None:
    with client(rt) as c:
        page = c.get("/board/login")
        wrong = c.post("/board/login", data={"csrf": csrf_of(page.text), "token": "nope", "next": "/board"})
        _is_page(wrong, 401, "That token is not valid")
        assert auth.COOKIE + "=" not in wrong.headers.get("set-cookie", "")
    with client(rt) as c:  # no pre-session cookie: a cross-site sign-in
        forged = c.post("/board/login", data={"csrf": "x", "token": TOKENS["admin"]})
        _is_page(forged, 403, "sign-in form had expired")
    with client(rt) as c:
        c.get("/board/login")
        odd = c.post("/board/login", content=b"\xff\xfe", headers={"content-type": "text/plain"})
        _is_page(odd, 415, "Send the form from the page")


def test_a_tampered_cookie_or_a_rotated_token_ends_the_session(rt: BoardRuntime, tmp_path: Path) -> None:
    with client(rt) as c:
        sign_in(c, "operator")
        value = c.cookies[auth.COOKIE]
        assert auth.read(rt.settings, value) is not None
        body, _, mac = value.rpartition(".")
        forged = auth.issue(settings(tmp_path, session_secret="another-secret"), Role.admin, "eve")[0]
        flipped = ("y" if mac[0] == "x" else "x") + mac[
            1:
        ]  # always a different signature (once in 64 runs mac[0] is "x")
        for bad in (f"{body}.{flipped}", forged, "garbage"):
            c.cookies.set(auth.COOKIE, bad)
            assert c.get("/board").status_code == 303
    rotated = settings(tmp_path, operator_token="new-operator-token")
    assert auth.read(rotated, value) is None
    assert auth.read(rt.settings, value, now=auth.read(rt.settings, value).expires + 1) is None  # type: ignore[union-attr]


def test_production_cookies_are_secure_and_the_placeholder_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ACCOUNTABILITY_SESSION_SECRET"):
        AccountabilitySettings(environment="production", read_token="a1", operator_token="b2", admin_token="c3").check()
    board = runtime(tmp_path, MovableClock(), environment="production")
    with client(board) as c:
        assert "Secure" in c.get("/board/login").headers["set-cookie"]
        assert "Secure" in sign_in(c, "read").headers["set-cookie"]


def test_a_read_session_sees_no_buttons_and_the_server_refuses_them(rt: BoardRuntime) -> None:
    alert = _alert(rt)
    with client(rt) as c:
        sign_in(c, "read")
        stage = c.get("/board/stages/pay?window=1h")
        _is_page(stage, 200, alert.title)
        for button in ("Acknowledge", "Resolve", "Silence deliveries"):
            assert button not in stage.text
        triage = c.get("/board/triage")
        _is_page(triage, 200, "hello there")
        assert "Relabel" not in triage.text
        csrf = csrf_of(stage.text)  # the sign-out form's: a valid token of this session
        refused = c.post(f"/board/alerts/{alert.id}/ack", data={"csrf": csrf, "note": "x"})
        _is_page(refused, 403, "needs an operator sign-in")
        relabel = c.post("/board/triage/relabel", data={"csrf": csrf, "ids": "x", "stage": "pay"})
        assert relabel.status_code == 403
    assert _alert(rt).status == "open" and _audit(rt) == []


def test_an_operator_acknowledges_and_resolves_with_notes_and_csrf_is_checked(rt: BoardRuntime) -> None:
    alert = _alert(rt)
    with client(rt) as c:
        sign_in(c, "operator", name="olga")
        page = c.get(f"/board/alerts/{alert.id}")
        _is_page(page, 200, "charged twice for my bill")  # the evidence
        assert "Acknowledge" in page.text and "Resolve" in page.text
        _is_page(c.post(f"/board/alerts/{alert.id}/ack", data={"note": "x"}), 403, "CSRF check failed")
        _is_page(c.post(f"/board/alerts/{alert.id}/ack", data={"csrf": "wrong"}), 403, "CSRF check failed")
        assert _alert(rt).status == "open"
        csrf = csrf_of(page.text)
        acked = c.post(f"/board/alerts/{alert.id}/ack", data={"csrf": csrf, "note": "on it"})
        assert acked.status_code == 303 and acked.headers["location"].startswith(f"/board/alerts/{alert.id}?done=")
        _is_page(c.get(acked.headers["location"]), 200, "Alert acknowledged.")
        resolved = c.post(
            f"/board/alerts/{alert.id}/resolve",
            data={"csrf": csrf, "note": "refunds sent", "code": "fixed", "back": "//evil.example"},
        )
        assert resolved.status_code == 303, resolved.text[-800:]
        assert resolved.headers["location"].startswith(f"/board/alerts/{alert.id}?")  # never off the board
        again = c.post(f"/board/alerts/{alert.id}/resolve", data={"csrf": csrf, "code": "fixed", "note": "x"})
        assert again.status_code == 409 and "Alert state conflict" in again.text
        audit = c.get("/board/audit")
        _is_page(audit, 200, "alert.resolve")
    done = _alert(rt)
    assert done.status in ("resolved", "resolved_pending_verification") and done.acknowledged_by == "olga (operator)"
    notes = {e.action: e for e in _audit(rt)}
    assert notes["alert.ack"].after == {"by": "olga (operator)", "note": "on it"}
    assert notes["alert.resolve"].after["note"] == "refunds sent" and notes["alert.resolve"].after["code"] == "fixed"
    assert rt.dispatcher.notified == 2


def test_triage_relabel_one_and_many_is_audited_and_fed_back(rt: BoardRuntime) -> None:
    with Session(rt.engine) as session:
        ids = [
            i.id
            for i in session.execute(select(FeedbackItem).where(FeedbackItem.confidence < 0.6)).scalars()  # type: ignore[arg-type]
        ]
    assert len(ids) == 2
    with client(rt) as c:
        sign_in(c, "operator")
        page = c.get("/board/triage")
        csrf = csrf_of(page.text)
        one = c.post("/board/triage/relabel", data={"csrf": csrf, "only": ids[0], f"to:{ids[0]}": "get_help"})
        assert one.status_code == 303
        _is_page(c.get(one.headers["location"]), 200, "Moved 1 item(s) to get_help.")
        bulk = c.post("/board/triage/relabel", data={"csrf": csrf, "ids": [ids[1]], "stage": "buy"})
        assert bulk.status_code == 303
        _is_page(c.get("/board/triage"), 200, "Nothing to triage.")
    with Session(rt.engine) as session:
        stages = {i: session.get(FeedbackItem, i).stage for i in ids}  # type: ignore[union-attr]
        corrections = session.execute(select(OutboxEntry).where(OutboxEntry.event_type.contains("corrected"))).all()  # type: ignore[attr-defined]
    assert stages == {ids[0]: "get_help", ids[1]: "buy"}
    assert len(corrections) == 2
    assert sorted(e.subject for e in _audit(rt) if e.action == "feedback.relabel") == sorted(
        f"feedback:{i}" for i in ids
    )


def test_silences_are_made_and_removed_from_the_stage_page(rt: BoardRuntime) -> None:
    with client(rt) as c:
        sign_in(c, "operator")
        page = c.get("/board/stages/pay")
        csrf = csrf_of(page.text)
        made = c.post(
            "/board/silences",
            data={
                "csrf": csrf,
                "stage": "pay",
                "rule": "",
                "hours": "2",
                "reason": "known outage",
                "back": "/board/stages/pay",
            },
        )
        assert made.status_code == 303
        after = c.get(made.headers["location"])
        _is_page(after, 200, "known outage")
        silence_id = after.text.split("/board/silences/")[1].split("/delete")[0]
        removed = c.post(f"/board/silences/{silence_id}/delete", data={"csrf": csrf, "back": "/board/stages/pay"})
        assert removed.status_code == 303
        _is_page(c.get("/board/stages/pay"), 200, "No active silence.")
    assert [e.action for e in _audit(rt)] == ["silence.create", "silence.delete"]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/board?window=2h", 400, "window: choose one of 1h, 24h, 7d, 30d"),
        ("/board/fragment?window=%00", 400, "window: choose one of"),
        ("/board/stages/nowhere", 404, "There is no stage 'nowhere'"),
        ("/board/stages/pay?q=%21%21%21", 200, "q has no words"),
        ("/board/stages/pay?q=" + "x" * 300, 200, "The filters could not be used"),
        ("/board/stages/pay?cursor=bm9wZQ", 200, "not a cursor this list gave out"),
        ("/board/stages/pay?cursor=" + "y" * 300, 400, "cursor: not a page"),
        ("/board/triage?cursor=zzz", 400, "not a cursor this list gave out"),
        ("/board/alerts/nope", 404, "There is no alert 'nope'"),
        ("/board/alerts/" + "a" * 100, 404, "There is no alert"),
        ("/board/teams/nobody", 404, "There is no team 'nobody'"),
        ("/board/customers?id=" + "c" * 300, 400, "at most 200 characters"),
        ("/board/customers?id=c-1&cursor=bad", 400, "Invalid cursor"),
        ("/board/audit?subject=" + "s" * 300, 400, "subject: at most 200 characters"),
    ],
)
def test_bad_queries_get_a_message_on_the_page(rt: BoardRuntime, path: str, status: int, words: str) -> None:
    with client(rt) as c:
        sign_in(c, "admin")
        _is_page(c.get(path), status, words)


def test_bad_forms_get_a_message_on_the_page(rt: BoardRuntime) -> None:
    alert = _alert(rt)
    with client(rt) as c:
        sign_in(c, "operator")
        csrf = csrf_of(c.get("/board").text)
        for path, data, status, words in [
            ("/board/silences", {"stage": "pay", "hours": "soon"}, 400, "is not a number"),
            ("/board/silences", {"stage": "pay", "hours": "-1"}, 400, "at most 2160 hours"),
            ("/board/silences", {"stage": "", "rule": "", "hours": "1"}, 400, "needs a stage, a rule_id, or both"),
            ("/board/silences", {"stage": "nowhere", "hours": "1"}, 422, "no stage 'nowhere'"),
            ("/board/silences/none/delete", {}, 404, "no silence with id"),
            ("/board/triage/relabel", {"stage": "pay"}, 400, "Tick at least one item"),
            ("/board/triage/relabel", {"ids": "x"}, 400, "Choose the stage"),
            ("/board/triage/relabel", {"ids": "x", "stage": "moon"}, 400, "'moon' is not a stage"),
            ("/board/triage/relabel", {"ids": "x" * 100, "stage": "pay"}, 400, "could not be relabelled"),
            (f"/board/alerts/{alert.id}/ack", {"note": "n" * 2000}, 400, "note: at most 1000 characters"),
            (f"/board/alerts/{alert.id}/resolve", {"note": "done"}, 400, "Choose how it was resolved"),
            (f"/board/alerts/{alert.id}/resolve", {"code": "magic"}, 400, "one of fixed, process_change"),
            (f"/board/alerts/{alert.id}/resolve", {"code": "fixed"}, 422, "Resolution incomplete"),
            ("/board/alerts/missing/ack", {}, 404, "There is no alert"),
        ]:
            _is_page(c.post(path, data={"csrf": csrf, **data}), status, words)
        unknown = c.post("/board/triage/relabel", data={"csrf": csrf, "ids": "x", "stage": "pay"})
        assert "unknown item(s) skipped" in c.get(unknown.headers["location"]).text


def test_stage_team_customer_pages_and_assets(rt: BoardRuntime) -> None:
    with Session(rt.engine) as session:
        team = session.get(Team, "billing")
        assert team is not None
        team.receivers = [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cr3t-value"}]
        session.add(team)
        session.commit()
    with client(rt) as c:
        sign_in(c, "read")
        stage = c.get("/board/stages/pay?window=1h&q=charged&sentiment=negative")
        _is_page(stage, 200, '<svg class="chart"')
        assert "charged twice for my bill" in stage.text and "30 items" in stage.text
        assert "the app works great" not in stage.text
        team_page = c.get("/board/teams/billing")
        _is_page(team_page, 200, "Accountable for")
        assert "s3cr3t-value" not in team_page.text and "set (hidden)" in team_page.text
        assert "How this team's alerts were worked" in team_page.text and "Reopen rate" in team_page.text
        assert "<title>Team" in team_page.text and "Save team" not in team_page.text.split("</title>")[0]
        _is_page(c.get("/board/customers?id=c-1"), 200, "maybe about a plan")
        fragment = c.get("/board/fragment?window=1h")
        _is_page(fragment, 200, 'data-stage="pay" data-health="red"')
        for name, kind in (("board.css", "text/css"), ("board.js", "text/javascript")):
            asset = c.get(f"/board/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert c.get("/board/static/..%2Fauth.py").status_code == 404
        out = c.post("/board/logout", data={"csrf": csrf_of(stage.text)})
        assert out.status_code == 303 and c.get("/board").status_code == 303


def test_an_admin_changes_owners_and_a_team_and_an_operator_cannot(rt: BoardRuntime) -> None:
    with client(rt) as c:
        sign_in(c, "operator")
        page = c.get("/board/stages/pay")
        assert "Save owners" not in page.text
        refused = c.post("/board/stages/pay/owners", data={"csrf": csrf_of(page.text), "accountable": "sales"})
        _is_page(refused, 403, "needs an admin sign-in")
        assert "Save team" not in c.get("/board/teams/billing").text
    with client(rt) as c:
        sign_in(c, "admin", name="ada")
        page = c.get("/board/stages/pay")
        assert "Save owners" in page.text
        csrf = csrf_of(page.text)
        changed = c.post(
            "/board/stages/pay/owners",
            data={"csrf": csrf, "accountable": "customer-care", "contributing": ["billing", "product"]},
        )
        assert changed.status_code == 303
        _is_page(c.get(changed.headers["location"]), 200, "Owners of pay changed.")
        for data, status, words in [
            ({"accountable": ""}, 400, "Choose the accountable team"),
            ({"accountable": "nobody"}, 422, "unknown team(s): nobody"),
        ]:
            _is_page(c.post("/board/stages/pay/owners", data={"csrf": csrf, **data}), status, words)
        _is_page(c.post("/board/stages/moon/owners", data={"csrf": csrf, "accountable": "sales"}), 404, "no stage")
        team = c.post("/board/teams/billing", data={"csrf": csrf, "name": "Billing ops", "escalation": "cfo"})
        assert team.status_code == 303
        _is_page(c.get("/board/teams/billing"), 200, "Team Billing ops")
        _is_page(c.post("/board/teams/billing", data={"csrf": csrf, "name": ""}), 400, "A team needs a name")
        _is_page(c.post("/board/teams/ghost", data={"csrf": csrf, "name": "x"}), 404, "There is no team 'ghost'")
    audit = {e.action: e for e in _audit(rt)}
    assert audit["ownership.update"].actor == "ada (admin)"
    assert audit["ownership.update"].after == {"accountable": "customer-care", "contributing": ["billing", "product"]}
    assert audit["team.upsert"].after["escalation"] == "cfo"


def test_a_crafted_link_cannot_put_a_notice_on_the_page(rt: BoardRuntime) -> None:
    with client(rt) as c:
        sign_in(c, "read")
        page = c.get("/board", params={"done": "Your session expired, call +1 555 0100", "sig": "x"})
        assert page.status_code == 200 and "call +1 555" not in page.text
