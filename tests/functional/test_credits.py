"""Proves the credits API over HTTP: authentication and scopes, every ledger operation, problem
details with stable codes, idempotent replays and key reuse, validation at the edges, and
cursor pagination with filters."""

import unittest

from harness import LedgerFixture


class AuthTest(LedgerFixture, unittest.TestCase):
    def test_missing_bad_and_wrong_scope_tokens(self):
        body = {"user_id": self.user, "amount": 1, "feature": "ai_search"}
        missing = self.server.request("POST", "/api/v1/credits/deduct", body, key="k")
        self.assertEqual(missing.status, 401)
        self.assertEqual(missing.json["code"], "unauthenticated")
        self.assertEqual(missing.headers["www-authenticate"], "Bearer")
        self.assertEqual(missing.headers["content-type"], "application/problem+json")
        bad = self.server.request("POST", "/api/v1/credits/deduct", body, token="b5_nope", key="k")
        self.assertEqual(bad.status, 401)
        self.assertEqual(bad.json, {**missing.json, "request_id": bad.json["request_id"]})
        forbidden = self.post("/api/v1/admin/credits/grants",
                              {"user_id": self.user, "amount": 5, "reason": "r"}, token=self.service)
        self.assertEqual(forbidden.status, 403)
        self.assertEqual(forbidden.json["code"], "forbidden")
        # Admin tokens may do what service tokens may.
        self.assertEqual(self.grant(10).status, 201)
        self.assertEqual(self.post("/api/v1/credits/deduct", body, token=self.admin).status, 200)


class CreditsTest(LedgerFixture, unittest.TestCase):
    def test_grant_deduct_and_insufficient_credits(self):
        granted = self.grant(100, expires_at="2099-01-01T00:00:00Z")
        self.assertEqual(granted.status, 201, granted)
        self.assertEqual(granted.json["balance"], {"available": 100, "held": 0, "posted": 100})
        deducted = self.post("/api/v1/credits/deduct",
                             {"user_id": self.user, "amount": 30, "feature": "ai_search",
                              "reference": "query:1"}, token=self.service)
        self.assertEqual(deducted.status, 200, deducted)
        self.assertEqual(deducted.json["balance"]["available"], 70)
        refused = self.post("/api/v1/credits/deduct",
                            {"user_id": self.user, "amount": 71, "feature": "ai_search"},
                            token=self.service)
        self.assertEqual(refused.status, 402)
        self.assertEqual(refused.json["code"], "insufficient_credits")
        self.assertEqual(refused.json["rejection"], 40)
        self.assertEqual(refused.json["available"], 70)
        self.assertEqual(refused.json["requested"], 71)
        balance = self.balance()
        self.assertEqual((balance["available"], balance["posted"], balance["granted_total"]), (70, 70, 100))
        self.assertEqual(balance["lots"][0]["expires_at"], "2099-01-01T00:00:00.000Z")
        self.assertEqual(balance["lots"][0]["remaining"], 70)

    def test_hold_lifecycle(self):
        self.grant(100)
        hold = self.post("/api/v1/credits/holds",
                         {"user_id": self.user, "amount": 60, "ttl_seconds": 60,
                          "feature": "live_dubbing"}, token=self.service)
        self.assertEqual(hold.status, 201, hold)
        hold_id = hold.json["hold"]["id"]
        self.assertEqual(self.balance()["held"], 60)
        base = f"/api/v1/credits/holds/{hold_id}"
        self.assertEqual(self.post(base + "/increment", {"amount": 40}, token=self.service).status, 200)
        short = self.post(base + "/increment", {"amount": 1}, token=self.service)
        self.assertEqual((short.status, short.json["available"]), (402, 0))
        partial = self.post(base + "/capture", {"amount": 30}, token=self.service)
        self.assertEqual(partial.json["hold"]["status"], "open")
        too_much = self.post(base + "/capture", {"amount": 71}, token=self.service)
        self.assertEqual((too_much.status, too_much.json["code"]), (422, "capture_exceeds_hold"))
        final = self.post(base + "/capture", {"amount": 20, "final": True}, token=self.service)
        self.assertEqual(final.json["hold"]["status"], "captured")
        self.assertEqual(final.json["balance"], {"available": 50, "held": 0, "posted": 50})
        again = self.post(base + "/release", None, token=self.service)
        self.assertEqual((again.status, again.json["code"]), (409, "hold_already_resolved"))
        missing = self.post("/api/v1/credits/holds/999/release", None, token=self.service)
        self.assertEqual((missing.status, missing.json["code"]), (404, "hold_not_found"))
        not_an_id = self.post("/api/v1/credits/holds/abc/release", None, token=self.service)
        self.assertEqual(not_an_id.status, 404)

    def test_adjustments_need_a_reason_and_cannot_overdraw(self):
        self.grant(10)
        path = "/api/v1/admin/credits/adjustments"
        no_reason = self.post(path, {"user_id": self.user, "amount": -5})
        self.assertEqual((no_reason.status, no_reason.json["field"]), (422, "reason"))
        over = self.post(path, {"user_id": self.user, "amount": -11, "reason": "fix"})
        self.assertEqual(over.status, 402)
        done = self.post(path, {"user_id": self.user, "amount": -10, "reason": "fix"})
        self.assertEqual((done.status, done.json["balance"]["available"]), (200, 0))

    def test_unknown_user(self):
        refused = self.grant(5, user="424242")
        self.assertEqual((refused.status, refused.json["code"]), (404, "user_not_found"))
        self.assertEqual(self.server.request("GET", "/api/v1/credits/balances/424242",
                                             token=self.service).status, 404)


class IdempotencyTest(LedgerFixture, unittest.TestCase):
    def test_replay_returns_the_stored_response(self):
        first = self.post("/api/v1/admin/credits/grants",
                          {"user_id": self.user, "amount": 50, "reason": "r"}, key="grant-1")
        second = self.post("/api/v1/admin/credits/grants",
                           {"user_id": self.user, "amount": 50, "reason": "r"}, key="grant-1")
        self.assertEqual((first.status, second.status), (201, 201))
        self.assertEqual(first.raw, second.raw)
        self.assertNotIn("idempotent-replayed", first.headers)
        self.assertEqual(second.headers["idempotent-replayed"], "true")
        self.assertEqual(self.balance()["posted"], 50)

    def test_same_key_other_body_is_422(self):
        self.post("/api/v1/admin/credits/grants", {"user_id": self.user, "amount": 50, "reason": "r"}, key="k")
        reused = self.post("/api/v1/admin/credits/grants",
                           {"user_id": self.user, "amount": 51, "reason": "r"}, key="k")
        self.assertEqual((reused.status, reused.json["code"]), (422, "idempotency_key_reused"))
        self.assertEqual(self.balance()["posted"], 50)

    def test_key_is_required_and_bounded(self):
        body = {"user_id": self.user, "amount": 1, "reason": "r"}
        missing = self.server.request("POST", "/api/v1/admin/credits/grants", body, token=self.admin)
        self.assertEqual((missing.status, missing.json["code"]), (400, "idempotency_key_required"))
        self.assertEqual(self.post("/api/v1/admin/credits/grants", body, key="k" * 255).status, 201)
        too_long = self.post("/api/v1/admin/credits/grants", body, key="k" * 256)
        self.assertEqual((too_long.status, too_long.json["code"]), (400, "invalid_idempotency_key"))

    def test_keys_are_scoped_to_the_token(self):
        other = self.server.last_line("tokens", "create", "--scope", "admin")
        body = {"user_id": self.user, "amount": 5, "reason": "r"}
        self.assertEqual(self.post("/api/v1/admin/credits/grants", body, key="shared").status, 201)
        self.assertEqual(self.post("/api/v1/admin/credits/grants", body, token=other, key="shared").status, 201)
        self.assertEqual(self.balance()["posted"], 10)


class ValidationTest(LedgerFixture, unittest.TestCase):
    def test_fields_at_their_edges(self):
        path = "/api/v1/credits/deduct"
        def deduct(**fields):
            body = {"user_id": self.user, "amount": 1, "feature": "ai_search", **fields}
            return self.post(path, body, token=self.service)
        self.grant(1000)
        self.assertEqual(deduct(amount=0).json["code"], "invalid_amount")
        self.assertEqual(deduct(amount=1_000_000_001).json["code"], "amount_too_large")
        self.assertEqual(deduct(amount="1").json["field"], "amount")
        self.assertEqual(deduct(feature="f" * 64).status, 200)
        self.assertEqual(deduct(feature="f" * 65).json["code"], "invalid_feature")
        self.assertEqual(deduct(reference="r" * 255).status, 200)
        self.assertEqual(deduct(reference="r" * 256).json["code"], "invalid_reference")
        self.assertEqual(deduct(user_id="0").json["field"], "user_id")
        unknown = deduct(amonut=2)
        self.assertEqual((unknown.status, unknown.json["detail"]), (422, "unknown field amonut"))
        broken = self.post(path, "{not json", token=self.service)
        self.assertEqual((broken.status, broken.json["code"]), (400, "invalid_json"))
        wrong_type = self.server.request("POST", path, "x", token=self.service, key="k",
                                         headers={"Content-Type": "text/plain"})
        self.assertEqual(wrong_type.status, 415)

    def test_hold_ttl_edges(self):
        self.grant(100)
        def hold(ttl):
            return self.post("/api/v1/credits/holds", {"user_id": self.user, "amount": 1,
                                                       "ttl_seconds": ttl, "feature": "x"},
                             token=self.service)
        self.assertEqual(hold(0).json["code"], "invalid_ttl")
        self.assertEqual(hold(86400).status, 201)
        self.assertEqual(hold(86401).json["code"], "invalid_ttl")


class JournalTest(LedgerFixture, unittest.TestCase):
    def test_cursor_pagination_and_filters(self):
        other = self.server.last_line("users", "create", "--email", "bob@example.com")
        for _ in range(4):
            self.grant(10)
        self.grant(10, user=other)
        for _ in range(3):
            self.post("/api/v1/credits/deduct",
                      {"user_id": self.user, "amount": 1, "feature": "ai_search"}, token=self.service)
        seen, cursor, pages = [], None, 0
        while True:
            path = f"/api/v1/credits/transfers?user_id={self.user}&limit=3"
            if cursor:
                path += f"&cursor={cursor}"
            page = self.server.request("GET", path, token=self.service).json
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), 7)
        self.assertEqual(len(set(seen)), 7)
        self.assertEqual(seen, sorted(seen, key=int, reverse=True))
        self.assertEqual(pages, 3)
        usage = self.server.request("GET", "/api/v1/credits/transfers?kind=usage&feature=ai_search",
                                    token=self.service).json["items"]
        self.assertEqual(len(usage), 3)
        self.assertTrue(all(item["debit_account"] == f"user:{self.user}" for item in usage))
        self.assertEqual(usage[0]["credit_account"], "system:usage:ai_search")
        grants = self.server.request("GET", f"/api/v1/credits/transfers?kind=grant&user_id={other}",
                                     token=self.service).json["items"]
        self.assertEqual(len(grants), 1)

    def test_bad_query_parameters(self):
        for query, field in [("limit=0", "limit"), ("limit=201", "limit"), ("kind=gift", "kind"),
                             ("cursor=abc", "cursor"), ("colour=red", "colour")]:
            response = self.server.request("GET", "/api/v1/credits/transfers?" + query, token=self.service)
            self.assertEqual((response.status, response.json["field"]), (422, field), query)
        self.assertEqual(self.server.request("GET", "/api/v1/credits/transfers?limit=200",
                                             token=self.service).status, 200)


if __name__ == "__main__":
    unittest.main()
