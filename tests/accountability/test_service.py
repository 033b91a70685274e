"""The accountability service on the real broker: store once, API and tokens, alerts delivered to teams."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.cli.embedded import free_port
from shared.settings import KafkaSettings
from tests.accountability.factories import MovableClock, classified
from tests.accountability.harness import ADMIN, OPERATOR, READ, eventually, produce, read_topic, running, settings_for
from tests.accountability.receiver import WebhookReceiver
from tests.support import rows_in_the_database_file, sqlite_pragma

pytestmark = pytest.mark.integration
SECRET = "hook-secret"


async def test_stores_each_item_once_and_serves_the_api(kafka: KafkaSettings, sqlite_url: str) -> None:
    clock = MovableClock()
    items = [classified(stage="pay", label="negative", at=clock(), scores={"csat": 2, "nps": 3}) for _ in range(6)]
    items += [classified(stage="use", label="positive", at=clock()) for _ in range(4)]
    timed = {"wait_seconds": "45", "handle_seconds": "300", "transfers": "1"}
    items += [classified(stage="get_help", label="neutral", kind="contact", at=clock(), metadata=timed)]
    poison = ([("ce_specversion", b"1.0")], b"not a cloudevent")
    async with running(settings_for(kafka, sqlite_url), clock) as (runtime, client):
        await produce(kafka, items + items[:5], raw=[poison])  # a replay of five, and one poison record

        async def stored() -> bool:
            codes = [(await client.get(f"/v1/feedback/{i.id}", headers=READ)).status_code for i in items]
            return codes == [200] * len(items)

        await eventually(stored, what="all items stored")
        # On SQLite the store's commits never checkpoint: the checkpoint job copies them into the database file.
        assert sqlite_pragma(runtime.store_engine, "wal_autocheckpoint") == 0

        async def in_the_database_file() -> bool:
            return rows_in_the_database_file(sqlite_url.split("///", 1)[1], "acct_feedback") == len(items)

        await eventually(in_the_database_file, what="the stored items checkpointed into the database file")
        body = (await client.get(f"/v1/feedback/{items[0].id}", headers=READ)).json()
        assert body["stage"] == "pay" and body["classification"]["sentiment"]["label"] == "negative"

        card = (await client.get("/v1/stages/pay/scorecard", params={"window": "1h"}, headers=READ)).json()
        assert (
            card["volume"] == 6 and card["negative_share"] == 1.0 and card["csat_mean"] == 2.0 and card["nps"] == -100.0
        )
        assert card["accountable"] == "billing" and card["health"] == "red"
        assert card["operations"] == {
            "contacts": 0, "wait_mean_s": None, "handle_mean_s": None, "hold_mean_s": None,
            "transfers_per_contact": None,
        }  # fmt: skip
        helped = (await client.get("/v1/stages/get_help/scorecard", params={"window": "1h"}, headers=READ)).json()
        assert helped["operations"] == {
            "contacts": 1, "wait_mean_s": 45.0, "handle_mean_s": 300.0, "hold_mean_s": None,
            "transfers_per_contact": 1.0,
        }  # fmt: skip
        stages = (await client.get("/v1/stages", headers=READ)).json()
        assert [s["id"] for s in stages][:3] == ["discover", "buy", "onboard"] and stages[-1]["id"] == "unassigned"
        journey = (await client.get("/v1/journey", headers=READ)).json()
        assert {s["stage"]: s["health"] for s in journey["stages"]}["use"] == "green"

        # tokens: none -> 401, read token on an operator route -> 403, bad window -> 422; all problem+json
        for response, status in [
            (await client.get("/v1/stages"), 401),
            (await client.put("/v1/stages/pay/owners", json={"accountable": "sales"}, headers=READ), 403),
            # ownership and teams are the admin's: an operator works alerts, it does not move accountability
            (await client.put("/v1/stages/pay/owners", json={"accountable": "sales"}, headers=OPERATOR), 403),
            (await client.put("/v1/teams/billing", json={"receivers": []}, headers=OPERATOR), 403),
            (await client.get("/v1/stages/pay/scorecard", params={"window": "2h"}, headers=READ), 422),
            (await client.get("/v1/stages/nowhere/scorecard", headers=READ), 404),
            (await client.get("/v1/feedback/missing", headers=READ), 404),
        ]:
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/problem+json")

        owners = await client.put(
            "/v1/stages/pay/owners",
            json={"accountable": "customer-care", "contributing": ["billing"]},
            headers={**ADMIN, "X-Journeyline-Actor": "sam"},
        )
        assert owners.status_code == 200 and owners.json()["accountable"] == "customer-care"
        audit = (await client.get("/v1/audit", headers=ADMIN)).json()
        assert audit[0]["actor"] == "sam (admin)" and audit[0]["after"]["accountable"] == "customer-care"

        fixed = await client.post(f"/v1/feedback/{items[0].id}/stage", json={"stage": "get_help"}, headers=OPERATOR)
        assert fixed.status_code == 200 and fixed.json()["previous_stage"] == "pay"
        assert (await client.get(f"/v1/feedback/{items[0].id}", headers=READ)).json()["stage"] == "get_help"
        corrections = await read_topic(kafka, kafka.topics.corrections, want=1)
        assert [e.type for e in corrections] == ["io.journeyline.feedback.corrected"]
        assert corrections[0].data["previous_stage"] == "pay" and corrections[0].data["stage"] == "get_help"

        # silences: create (operator), list, delete; a silence needs a scope and one end
        assert (await client.post("/v1/silences", json={"duration_s": 60}, headers=OPERATOR)).status_code == 422
        made = await client.post(
            "/v1/silences", json={"stage": "pay", "duration_s": 600, "reason": "known outage"}, headers=OPERATOR
        )
        assert made.status_code == 201 and made.json()["active"]
        assert [x["id"] for x in (await client.get("/v1/silences", params={"active": True}, headers=READ)).json()] == [
            made.json()["id"]
        ]
        assert (await client.delete(f"/v1/silences/{made.json()['id']}", headers=OPERATOR)).status_code == 204
        assert (await client.get("/v1/silences", headers=READ)).json() == []
        teams = (await client.get("/v1/teams", headers=READ)).json()
        assert {t["id"] for t in teams} >= {"billing", "cx-triage"}

        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics")).text
        group = kafka.topics.group("accountability")
        assert f'journeyline_dlq_records_total{{group="{group}",reason="invalid_cloudevent"' in metrics
        assert 'journeyline_feedback_stored_total{channel="chat",stage="discover"} 0.0' in metrics

    with runtime.engine.connect() as conn:  # the replay did not duplicate anything
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM acct_feedback")).scalar_one() == len(items)


async def test_negative_burst_alert_reaches_every_owning_team_once_then_ack_and_auto_resolve(
    kafka: KafkaSettings, sqlite_url: str
) -> None:
    receiver = WebhookReceiver(free_port()).start()
    clock = MovableClock()
    settings = settings_for(kafka, sqlite_url, auto_resolve_after_s=600)
    try:
        async with running(settings, clock) as (runtime, client):
            for team in ("billing", "customer-care", "product"):
                hooks = [
                    {"type": "webhook", "url": receiver.url(team), "secret": SECRET},
                    {"type": "slack", "url": receiver.url(f"slack/{team}")},
                ]
                response = await client.put(f"/v1/teams/{team}", json={"receivers": hooks}, headers=ADMIN)
                assert response.status_code == 200 and response.json()["receivers"][0]["secret"] == "***"
                assert response.json()["receivers"][1]["url"] == f"http://127.0.0.1:{receiver.port}/***"
            await produce(kafka, [classified(stage="pay", at=clock()) for _ in range(30)])

            await eventually(
                lambda: _count(receiver, "opened", 6), what="6 opened deliveries (3 teams x webhook + slack)"
            )
            active = (await client.get("/v1/alerts", params={"stage": "pay", "status": "active"}, headers=READ)).json()
            assert [a["rule_id"] for a in active] == ["negative_share"]
            opened = receiver.of(transition="opened")
            assert sorted(r.path for r in opened if not r.path.startswith("/slack")) == [
                "/billing",
                "/customer-care",
                "/product",
            ]
            assert all(r.signed_with(SECRET) for r in opened if not r.path.startswith("/slack"))
            slack = [r for r in receiver.received if r.path.startswith("/slack")]
            assert len(slack) == 3 and all("negative_share" in r.json["text"] for r in slack)

            alert_id = active[0]["id"]
            acked = await client.post(f"/v1/alerts/{alert_id}/ack", json={"by": "ann"}, headers=OPERATOR)
            assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
            await eventually(lambda: _count(receiver, "acknowledged", 6), what="acknowledged deliveries")

            clock.advance(minutes=15)  # still inside the 1h window: the condition holds, so no auto-resolve
            await asyncio.sleep(0.6)  # a few evaluator rounds
            assert await _status(client, alert_id, "active")
            clock.advance(
                hours=2
            )  # the burst has left the window and the condition stays clear past auto_resolve_after
            await eventually(lambda: _count(receiver, "resolved", 6), what="auto-resolved deliveries")
            alert = (await client.get(f"/v1/alerts/{alert_id}", headers=READ)).json()
            assert alert["status"] == "resolved" and alert["resolved_by"] == "auto"
            assert (await client.post(f"/v1/alerts/{alert_id}/ack", headers=OPERATOR)).status_code == 409

            events = await read_topic(kafka, kafka.topics.alerts, want=3)
            kinds = [e.type for e in events]
            assert kinds[0] == "io.journeyline.alert.opened" and "io.journeyline.alert.resolved" in kinds
            await asyncio.sleep(0.5)  # no late duplicates from the outbox
            assert _count_now(receiver, "opened") == 6
    finally:
        receiver.stop()


async def test_third_contact_fires_the_moment_of_truth(kafka: KafkaSettings, sqlite_url: str) -> None:
    receiver = WebhookReceiver(free_port()).start()
    clock = MovableClock()
    try:
        async with running(settings_for(kafka, sqlite_url), clock) as (_, client):
            hook = [{"type": "webhook", "url": receiver.url("care"), "secret": SECRET}]
            assert (
                await client.put("/v1/teams/customer-care", json={"receivers": hook}, headers=ADMIN)
            ).status_code == 200
            contacts = [
                classified(
                    stage=stage, label="neutral", customer="cust-42", kind="contact", at=clock() - timedelta(days=d)
                )
                for stage, d in (("pay", 20), ("get_help", 5), ("use", 0))
            ]
            await produce(kafka, contacts)
            moments = await eventually(
                lambda: _json(client, "/v1/moments", {"customer": "cust-42"}), what="moment of truth stored"
            )
            assert [(m["moment_id"], m["count"], m["feedback_id"]) for m in moments] == [
                ("third_contact_30d", 3, contacts[2].id)
            ]
            await eventually(lambda: _count(receiver, "opened", 1), what="moment alert delivered to customer care")
            delivered = receiver.of(transition="opened")[0].json
            assert delivered["rule_id"] == "moment_of_truth" and delivered["stage"] == "get_help"
            assert delivered["details"]["last_customer"] == "cust-42" and delivered["role"] == "accountable"
    finally:
        receiver.stop()


async def test_a_receiver_down_for_a_while_gets_the_alert_later_exactly_once(
    kafka: KafkaSettings, sqlite_url: str
) -> None:
    port = free_port()  # nothing listens here yet: deliveries fail and back off
    clock = MovableClock()
    async with running(settings_for(kafka, sqlite_url), clock) as (runtime, client):
        hook = [{"type": "webhook", "url": f"http://127.0.0.1:{port}/billing", "secret": SECRET}]
        assert (await client.put("/v1/teams/billing", json={"receivers": hook}, headers=ADMIN)).status_code == 200
        await produce(kafka, [classified(stage="pay", severity="critical", at=clock())])

        async def failed_attempts() -> int:
            from sqlalchemy import text

            clock.advance(seconds=1)  # back-off runs on the service clock

            with runtime.engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT coalesce(max(attempts), 0) FROM acct_outbox WHERE team = 'billing'")
                    ).scalar_one()
                    >= 3
                )

        await eventually(failed_attempts, what="three failed attempts while the receiver is down")
        receiver = WebhookReceiver(port).start()
        try:

            async def delivered() -> bool:
                clock.advance(seconds=1)
                return await _count(receiver, "opened", 1)

            await eventually(delivered, what="the late delivery")
            for _ in range(10):  # several dispatcher rounds well past any back-off: nothing is sent twice
                clock.advance(seconds=30)
                await asyncio.sleep(0.15)
            got = receiver.of(transition="opened")
            assert len(got) == 1 and got[0].signed_with(SECRET) and got[0].json["rule_id"] == "critical_item"
        finally:
            receiver.stop()


async def _count(receiver: WebhookReceiver, transition: str, want: int) -> bool:
    return _count_now(receiver, transition) >= want


def _count_now(receiver: WebhookReceiver, transition: str) -> int:
    return len(receiver.of(transition=transition))


async def _status(client, alert_id: str, wanted: str) -> bool:  # type: ignore[no-untyped-def]
    status = (await client.get(f"/v1/alerts/{alert_id}", headers=READ)).json()["status"]
    return status in ("open", "acknowledged") if wanted == "active" else status == wanted


async def _json(client, path: str, params: dict[str, str]):  # type: ignore[no-untyped-def]
    return (await client.get(path, params=params, headers=READ)).json()
