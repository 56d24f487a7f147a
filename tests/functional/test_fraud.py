"""Fraud rules end to end on the real server: a scripted abuser opens many accounts from one
address (flagged), then a burst of live sessions (suspended at once, its sessions closed with
4011), while a normal user on another address keeps their session; the risk queue shows the
evidence and the admins' decisions are audited; failed sign-ins from one address are throttled
(429) without touching other addresses; a disposable address cannot enroll. Loopback addresses
127.0.0.x stand for different clients."""

import asyncio
import json
import time
import unittest
import uuid

import websockets

from harness import Server, mailed_token, mailed_tokens

ORIGIN = "http://127.0.0.1:8080"


class FraudTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(env={
            "BETA500_MAIL_POLL_INTERVAL_MS": "20", "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0",
            "BETA500_FRAUD_ACCOUNTS_PER_IP_THRESHOLD": "3", "BETA500_FRAUD_ACCOUNTS_PER_IP_ACTION": "flag",
            "BETA500_FRAUD_SESSION_STARTS_THRESHOLD": "3", "BETA500_FRAUD_SESSION_STARTS_ACTION": "suspend_user",
            "BETA500_FRAUD_FAILED_SIGN_INS_PER_IP_THRESHOLD": "5",
        }).__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    # --- helpers ------------------------------------------------------------------------------
    def request(self, ip, method, path, body=None, headers=None):
        """A request from the loopback address `ip`."""
        return self.server.request(method, path, body, headers=headers, source=ip)

    def sign_in(self, ip, email):
        before = len(mailed_tokens(self.server, "magic-link/callback", email))
        self.assertEqual(self.request(ip, "POST", "/api/v1/auth/magic-link", {"email": email}).status, 202)
        token = mailed_token(self.server, "magic-link/callback", email, before)
        return self.request(ip, "POST", "/api/v1/auth/magic-link/callback", f"token={token}",
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def account(self, ip, credits=1000):
        email = f"u-{uuid.uuid4().hex[:8]}@example.com"
        user = self.server.last_line("users", "create", "--email", email)
        granted = self.server.request("POST", "/api/v1/admin/credits/grants",
                                      {"user_id": user, "amount": credits, "reason": "test"},
                                      token=self.admin, key=str(uuid.uuid4()))
        self.assertEqual(granted.status, 201)
        signed_in = self.sign_in(ip, email)
        self.assertEqual(signed_in.status, 303, signed_in)
        return user, signed_in.headers["set-cookie"].split(";")[0]

    def events(self, status=None):
        query = f"?status={status}" if status else ""
        response = self.server.request("GET", f"/api/v1/admin/risk-events{query}", token=self.admin)
        self.assertEqual(response.status, 200, response)
        return response.json["items"]

    def live(self, cookie):
        return websockets.connect(f"ws://127.0.0.1:{self.server.port}/api/v1/live/dubbing",
                                  extra_headers={"Cookie": cookie, "Origin": ORIGIN})

    @staticmethod
    async def started(ws):
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] == "session.started":
                return message

    @staticmethod
    async def closed(ws):
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason

    # --- the scenario ---------------------------------------------------------------------------
    def test_an_abuser_is_flagged_blocked_and_closed_while_a_normal_user_is_not(self):
        # Five accounts from one address: the fourth and fifth pass the threshold (3): flagged.
        accounts = [self.account("127.0.0.1") for _ in range(5)]
        flagged = [e for e in self.events("open") if e["rule"] == "accounts_per_ip"]
        self.assertEqual(sorted(e["user_id"] for e in flagged), sorted([accounts[3][0], accounts[4][0]]))
        self.assertEqual(flagged[0]["evidence"]["threshold"], 3)
        self.assertEqual(sorted(e["evidence"]["observed"] for e in flagged), [4, 5])
        self.assertEqual(flagged[0]["action"], "flag")
        normal, normal_cookie = self.account("127.0.0.2")
        self.assertEqual(len(self.events()), 2)  # the other address raised nothing
        abuser, abuser_cookie = accounts[4]

        async def scenario():
            async with self.live(normal_cookie) as steady:
                await self.started(steady)
                # A burst of starts: three are allowed in the hour (the threshold)...
                for _ in range(2):
                    async with self.live(abuser_cookie) as ws:
                        await self.started(ws)
                third = await self.live(abuser_cookie).__aenter__()
                await self.started(third)
                # ...the fourth suspends the abuser: refused, and the open one closed, with 4011.
                async with self.live(abuser_cookie) as fourth:
                    refused = await self.closed(fourth)
                ended = await self.closed(third)
                # The normal user's session runs on.
                await steady.send(json.dumps({"type": "ping"}))
                still_open = steady.open
            return refused, ended, still_open

        refused, ended, still_open = asyncio.run(asyncio.wait_for(scenario(), 60))
        self.assertEqual(refused, (4011, "fraud_blocked"))
        self.assertEqual(ended[0], 4011)
        self.assertTrue(still_open)
        self.assertEqual(self.server.request("GET", "/api/v1/me", headers={"Cookie": abuser_cookie}).status, 401)
        self.assertEqual(self.server.request("GET", "/api/v1/me", headers={"Cookie": normal_cookie}).status, 200)
        detail = self.server.request("GET", f"/api/v1/admin/users/{abuser}", token=self.admin).json
        self.assertEqual(detail["status"], "suspended")
        self.assertEqual(detail["risk_score"], 20 + 20)  # accounts_per_ip, then session_starts
        suspension = [e for e in self.events("open") if e["rule"] == "session_starts"]
        self.assertEqual(len(suspension), 1)
        self.assertEqual((suspension[0]["user_id"], suspension[0]["action"]), (abuser, "suspend_user"))
        self.assertEqual(suspension[0]["evidence"]["observed"], 4)

        # The admins decide: one flag was a false alarm; the abuser stays suspended, then is let back.
        cleared = self.server.request("POST", f"/api/v1/admin/risk-events/{flagged[0]['id']}/clear",
                                      token=self.admin)
        self.assertEqual((cleared.status, cleared.json["status"]), (200, "cleared"))
        again = self.server.request("POST", f"/api/v1/admin/risk-events/{flagged[0]['id']}/clear", token=self.admin)
        self.assertEqual(again.status, 409)
        back = self.server.request("POST", f"/api/v1/admin/risk-events/{suspension[0]['id']}/reactivate",
                                   token=self.admin)
        self.assertEqual((back.status, back.json["status"]), (200, "active"))
        audit = self.server.request("GET", f"/api/v1/admin/audit?target=risk_event:{suspension[0]['id']}",
                                    token=self.admin).json["items"]
        self.assertEqual([a["action"] for a in audit], ["risk_event.cleared"])
        self.assertEqual(len(self.events("open")), 1)

    def test_failed_sign_ins_are_throttled_per_address(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for _ in range(6):  # threshold 5: the sixth failure passes it
            self.assertEqual(self.request("127.0.0.3", "POST", "/api/v1/auth/magic-link/callback",
                                          "token=" + "x" * 43, form).status, 400)
        throttled = self.request("127.0.0.3", "POST", "/api/v1/auth/magic-link/callback", "token=" + "x" * 43, form)
        self.assertEqual(throttled.status, 429)
        self.assertIn("retry-after", throttled.headers)
        asked = self.request("127.0.0.3", "POST", "/api/v1/auth/magic-link", {"email": "who@example.com"})
        self.assertEqual((asked.status, asked.json["code"]), (429, "too_many_requests"))
        # Nor does it start a provider sign-in.
        self.assertEqual(self.request("127.0.0.3", "GET", "/api/v1/auth/oidc/google/login").status, 429)
        # Another address is not affected.
        self.assertEqual(self.request("127.0.0.4", "POST", "/api/v1/auth/magic-link/callback",
                                      "token=" + "x" * 43, form).status, 400)
        self.assertEqual([e["rule"] for e in self.events()], ["failed_sign_ins_per_ip"])

    def test_analytics_ranges_at_their_edges(self):
        def usage(query):
            return self.server.request("GET", f"/api/v1/admin/analytics/usage?{query}", token=self.admin)
        start = "2026-01-01T00:00:00Z"
        self.assertEqual(usage(f"from={start}&to=2026-02-11T16:00:00Z&group=hour").status, 200)  # 1,000 hours
        self.assertEqual(usage(f"from={start}&to=2026-02-11T17:00:00Z&group=hour").status, 422)  # 1,001
        self.assertEqual(usage(f"from={start}&to={start}").status, 422)  # empty range
        self.assertEqual(len(usage(f"from={start}&to=2026-01-08T00:00:00Z").json["buckets"]), 7)
        csv = usage(f"from={start}&to=2026-01-03T00:00:00Z&format=csv")
        self.assertEqual(csv.headers["content-type"], "text/csv; charset=utf-8")
        self.assertEqual(csv.raw.splitlines()[0], "series,bucket,key,value")
        self.assertEqual(len(csv.raw.splitlines()), 1 + 2 * 3)  # two days, three series each, no spending
        self.assertEqual(usage("group=month").status, 422)

    def test_a_disposable_address_cannot_enroll(self):
        invited = self.server.request("POST", "/api/v1/admin/invitations", {"email": "x@mailinator.com"},
                                      token=self.admin)
        self.assertEqual(invited.status, 201)
        refused = self.sign_in("127.0.0.5", "x@mailinator.com")
        self.assertEqual(refused.status, 403)
        self.assertIn("Sign-up refused", refused.raw)
        self.assertEqual(self.server.request("GET", "/api/v1/admin/users?q=mailinator", token=self.admin).json["items"],
                         [])
        event = self.events()[0]
        self.assertEqual((event["rule"], event["evidence"]["domain"]), ("disposable_email", "mailinator.com"))


if __name__ == "__main__":
    unittest.main()
