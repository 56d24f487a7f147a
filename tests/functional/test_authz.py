"""The authorization matrix: every route in docs/openapi.json, called as each kind of caller
(anonymous, a user, another user, an admin signed in with the session cookie, a service token,
an admin token, a suspended user), must be let through or refused exactly as its `security`
says. And the CSRF matrix: every cookie-authenticated mutation refuses a missing or wrong
X-CSRF-Token and a foreign Origin."""

import http.client
import json
import os
import unittest
import uuid

from harness import Server, sign_in

OPENAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.json")
PUBLIC_ORIGIN = "http://127.0.0.1:8080"
SESSION = [{"session": []}]
SERVICE = [{"bearer": ["service"]}]
ADMIN = [{"bearer": ["admin"]}, {"session": []}]
# Who is let through, by the operation's `security`; everyone else gets the status named.
ALLOWED = {
    "SESSION": {"user", "another user", "admin"},
    "SERVICE": {"service token", "admin token"},
    "ADMIN": {"admin", "admin token"},
}
DENIED = {
    "SESSION": {"anonymous": 401, "service token": 401, "admin token": 401, "suspended user": 401},
    "SERVICE": {"anonymous": 401, "user": 401, "another user": 401, "admin": 401, "suspended user": 401},
    "ADMIN": {"anonymous": 401, "user": 403, "another user": 403, "service token": 403,
              "suspended user": 401},
}


def operations():
    with open(OPENAPI) as document:
        paths = json.load(document)["paths"]
    found = []
    for path, methods in paths.items():
        for method, operation in methods.items():
            found.append((method.upper(), path, operation.get("security")))
    # Signing out ends the callers' sessions: last.
    return sorted(found, key=lambda item: item[1] == "/api/v1/auth/sign-out")


class AuthorizationMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(env={"BETA500_MAIL_POLL_INTERVAL_MS": "20",
                                 "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0"}).__enter__()
        server = cls.server
        cls.admin_token = server.last_line("tokens", "create", "--scope", "admin")
        cls.service_token = server.last_line("tokens", "create", "--scope", "service")
        cls.ids = {}
        cls.callers = {"anonymous": {}}
        for caller, role in [("user", "user"), ("another user", "user"), ("admin", "admin"),
                             ("suspended user", "user")]:
            email = f"{caller.replace(' ', '-')}-{uuid.uuid4().hex[:6]}@example.com"
            cls.ids[caller] = server.last_line("users", "create", "--email", email, "--role", role)
            cookie, csrf = sign_in(server, email)
            cls.callers[caller] = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": PUBLIC_ORIGIN}
        cls.callers["service token"] = {"Authorization": "Bearer " + cls.service_token}
        cls.callers["admin token"] = {"Authorization": "Bearer " + cls.admin_token}
        suspended = server.request("POST", f"/api/v1/admin/users/{cls.ids['suspended user']}/suspend",
                                   {"reason": "test"}, token=cls.admin_token, key=str(uuid.uuid4()))
        assert suspended.status == 200, suspended

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def call(self, method, path, headers):
        """Status and body of one call; for event streams, the status alone."""
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            all_headers = dict(headers, **{"Idempotency-Key": str(uuid.uuid4())})
            body = None
            if method in ("POST", "PUT"):
                body = "{}"
                all_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            if response.getheader("Content-Type", "").startswith("text/event-stream"):
                return response.status, ""
            return response.status, response.read().decode()
        finally:
            connection.close()

    def test_every_route_for_every_caller(self):
        checked = 0
        for method, path, security in operations():
            concrete = path.replace("{id}", "999999").replace("{user_id}", "999999").replace(
                "{provider}", "none")
            kind = None if security is None else {str(SESSION): "SESSION", str(SERVICE): "SERVICE",
                                                  str(ADMIN): "ADMIN"}.get(str(security), "OTHER")
            for caller, headers in self.callers.items():
                with self.subTest(route=f"{method} {path}", caller=caller):
                    status, body = self.call(method, concrete, headers)
                    checked += 1
                    if kind is None:
                        self.assertNotIn(status, (401, 403), body[:200])  # public
                    elif kind == "OTHER":
                        # The live-dubbing WebSocket: a plain GET is not an upgrade (426) whoever
                        # asks; its callers are checked over real WebSockets in test_live.
                        self.assertEqual((method, path, status), ("GET", "/api/v1/live/dubbing", 426))
                    elif caller in ALLOWED[kind]:
                        self.assertNotIn(status, (401, 403), body[:200])
                        if caller == "another user":
                            self.assertNotIn(f'"{self.ids["user"]}"', body)  # never the user's data
                    else:
                        self.assertEqual(status, DENIED[kind][caller], body[:200])
        self.assertGreater(checked, 40 * len(self.callers))

    def test_every_cookie_mutation_needs_the_csrf_token_and_our_origin(self):
        mutations = [(method, path, security) for method, path, security in operations()
                     if method in ("POST", "PUT") and security and {"session": []} in security]
        self.assertGreaterEqual(len(mutations), 10)
        for method, path, security in mutations:
            caller = "admin" if security == ADMIN else "user"
            good = self.callers[caller]
            concrete = path.replace("{id}", "999999")
            for case, headers, code in [
                ("no token", {k: v for k, v in good.items() if k != "X-CSRF-Token"}, "csrf_failed"),
                ("wrong token", dict(good, **{"X-CSRF-Token": good["X-CSRF-Token"][:-1] + "x"}), "csrf_failed"),
                ("empty token", dict(good, **{"X-CSRF-Token": ""}), "csrf_failed"),
                ("foreign Origin", dict(good, Origin="https://evil.example"), "forbidden_origin"),
                ("null Origin", dict(good, Origin="null"), "forbidden_origin"),
            ]:
                with self.subTest(route=f"{method} {path}", case=case):
                    status, body = self.call(method, concrete, headers)
                    self.assertEqual(status, 403, body[:200])
                    self.assertEqual(json.loads(body)["code"], code)
        # The refusals changed nothing: both sessions still work.
        for caller in ("user", "admin"):
            self.assertEqual(self.call("GET", "/api/v1/me", self.callers[caller])[0], 200)


if __name__ == "__main__":
    unittest.main()
