"""Proves magic-link sign-in end to end on the real server: an invited address gets a link
(delivered here by the log transport), the first sign-in enrolls it with its grant in one
transaction and sets the session cookie, a second sign-in grants nothing more, links are single
use even under 32 parallel redemptions and expire, uninvited and revoked addresses get no account,
answers do not reveal whether an address is known, and cookie-authenticated mutations need the
CSRF token and a same-origin Origin."""

import re
import threading
import time
import unittest

from harness import Server, mailed_token, sign_in

TOKEN = re.compile(r"magic-link/callback\?token=([A-Za-z0-9_-]+)")


class SignInTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(env={"BETA500_MAIL_POLL_INTERVAL_MS": "50",
                                  # Failures by the dozen from one address are these tests' point.
                                  "BETA500_FRAUD_FAILED_SIGN_INS_PER_IP_THRESHOLD": "1000",
                                  "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0",
                                  "BETA500_AUTH_MAGIC_LINK_TTL_SECONDS": "2"}).__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def invite(self, email, credits=300):
        response = self.server.request("POST", "/api/v1/admin/invitations",
                                       {"email": email, "initial_credits": credits}, token=self.admin)
        self.assertEqual(response.status, 201, response)
        return response.json["id"]

    def ask_for_link(self, email):
        response = self.server.request("POST", "/api/v1/auth/magic-link", {"email": email})
        self.assertEqual(response.status, 202)
        return response

    def next_link(self, count_before):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            tokens = TOKEN.findall("".join(self.server.log))
            if len(tokens) > count_before:
                return tokens[-1]
            time.sleep(0.05)
        raise AssertionError("no sign-in link was mailed")

    def sign_in(self, email):
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link(email)
        return self.redeem(self.next_link(before))

    def redeem(self, token, origin=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin:
            headers["Origin"] = origin
        return self.server.request("POST", "/api/v1/auth/magic-link/callback", f"token={token}",
                                   headers=headers)

    @staticmethod
    def cookie_of(response):
        return response.headers["set-cookie"].split(";")[0]

    def me(self, cookie, path="/api/v1/me"):
        return self.server.request("GET", path, headers={"Cookie": cookie})

    def test_first_sign_in_enrolls_once_and_sets_the_session(self):
        invitation = self.invite("Ada@Example.com")
        signed_in = self.sign_in("ada@example.com")
        self.assertEqual((signed_in.status, signed_in.headers["location"]), (303, "/"))
        cookie_header = signed_in.headers["set-cookie"]
        self.assertTrue(cookie_header.startswith("b5_session="))
        for attribute in ("Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=2592000"):
            self.assertIn(attribute, cookie_header)
        cookie = self.cookie_of(signed_in)
        me = self.me(cookie).json
        self.assertEqual((me["email"], me["role"], me["email_verified"]), ("ada@example.com", "user", True))
        credits = self.me(cookie, "/api/v1/me/credits").json
        self.assertEqual((credits["available"], credits["granted_total"]), (300, 300))
        history = self.me(cookie, "/api/v1/me/credits/transactions").json["items"]
        self.assertEqual([(t["kind"], t["amount"], t["actor"]) for t in history],
                         [("grant", 300, "system:enrollment")])
        listed = self.server.request("GET", "/api/v1/admin/invitations?status=consumed", token=self.admin).json
        self.assertEqual([(i["id"], i["consumed_by"]) for i in listed["items"]], [(invitation, me["id"])])
        # A second sign-in makes a new session for the same user and grants nothing.
        again = self.sign_in("ada@example.com")
        self.assertNotEqual(self.cookie_of(again), cookie)
        self.assertEqual(self.me(self.cookie_of(again)).json["id"], me["id"])
        self.assertEqual(self.me(cookie, "/api/v1/me/credits").json["posted"], 300)
        self.assertEqual(self.server.cli("ledger", "verify", check=False).returncode, 0)

    def test_opening_the_link_spends_nothing_and_other_sites_cannot_redeem_it(self):
        self.invite("hal@example.com")
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("hal@example.com")
        token = self.next_link(before)
        for _ in range(3):  # a mail scanner fetching the link
            page = self.server.request("GET", f"/api/v1/auth/magic-link/callback?token={token}")
            self.assertEqual(page.status, 200)
            self.assertIn('method="post"', page.raw)
        self.assertEqual(self.server.request("GET", "/api/v1/auth/magic-link/callback?token=a<b").status, 400)
        foreign = self.redeem(token, origin="https://evil.example")
        self.assertEqual(foreign.status, 403)
        self.assertNotIn("set-cookie", foreign.headers)
        self.assertEqual(self.redeem(token, origin="http://127.0.0.1:8080").status, 303)

    def test_links_are_single_use_even_in_parallel(self):
        self.invite("bo@example.com")
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("bo@example.com")
        token = self.next_link(before)
        statuses = []
        lock = threading.Lock()

        def redeem():
            status = self.redeem(token).status
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=redeem) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sorted(statuses), [303] + [400] * 31)
        self.assertEqual(self.redeem(token).status, 400)

    def test_links_expire(self):
        self.invite("cy@example.com")
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("cy@example.com")
        token = self.next_link(before)
        time.sleep(2.2)
        expired = self.redeem(token)
        self.assertEqual(expired.status, 400)
        self.assertIn("expired", expired.raw)
        self.assertEqual(self.redeem("x" * 65).status, 400)

    def test_no_account_for_the_uninvited_and_no_enumeration(self):
        self.invite("dee@example.com")
        known = self.ask_for_link("dee@example.com")
        unknown = self.ask_for_link("nobody@example.com")
        malformed = self.ask_for_link("not an address")
        self.assertEqual(known.raw, unknown.raw)
        self.assertEqual(known.raw, malformed.raw)
        time.sleep(0.3)
        mails = self.server.request("GET", "/api/v1/admin/mail?limit=200", token=self.admin).json["items"]
        self.assertEqual(sorted({m["to"] for m in mails}), ["dee@example.com"])
        # An invitation revoked after its link was sent: the link signs nobody in.
        invitation = self.invite("eve@example.com")
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("eve@example.com")
        token = self.next_link(before)
        self.server.request("POST", f"/api/v1/admin/invitations/{invitation}/revoke", token=self.admin)
        refused = self.redeem(token)
        self.assertEqual(refused.status, 403)
        self.assertIn("not on the beta list", refused.raw)
        self.assertNotIn("set-cookie", refused.headers)

    def test_sessions_need_csrf_and_same_origin_for_mutations(self):
        self.assertEqual(self.me("b5_session=garbage").status, 401)
        self.assertEqual(self.server.request("GET", "/api/v1/me").status, 401)
        self.invite("fay@example.com")
        cookie = self.cookie_of(self.sign_in("fay@example.com"))
        csrf = self.me(cookie).json["csrf_token"]

        def sign_out(headers):
            return self.server.request("POST", "/api/v1/auth/sign-out", headers={"Cookie": cookie, **headers})

        self.assertEqual(sign_out({}).json["code"], "csrf_failed")
        self.assertEqual(sign_out({"X-CSRF-Token": csrf + "x"}).json["code"], "csrf_failed")
        foreign = sign_out({"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
        self.assertEqual((foreign.status, foreign.json["code"]), (403, "forbidden_origin"))
        done = sign_out({"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:8080"})
        self.assertEqual(done.status, 204)
        self.assertIn("Max-Age=0", done.headers["set-cookie"])
        self.assertEqual(self.me(cookie).status, 401)

    def test_an_invited_admin_enrolls_as_admin(self):
        self.server.last_line("invite", "--admin", "--email", "root@example.com", "--credits", "0")
        cookie = self.cookie_of(self.sign_in("root@example.com"))
        self.assertEqual(self.me(cookie).json["role"], "admin")
        self.assertEqual(self.me(cookie, "/api/v1/me/credits").json["posted"], 0)

    def test_suspension_ends_sessions_and_blocks_sign_in_and_is_audited(self):
        invitation = self.invite("gus@example.com")
        cookie = self.cookie_of(self.sign_in("gus@example.com"))
        user_id = self.me(cookie).json["id"]
        admin = {"token": self.admin}
        listed = self.server.request("GET", "/api/v1/admin/users?q=GUS", **admin).json["items"]
        self.assertEqual([(u["id"], u["status"]) for u in listed], [(user_id, "active")])
        detail = self.server.request("GET", f"/api/v1/admin/users/{user_id}", **admin).json
        self.assertEqual((detail["balance"]["available"], detail["recent_transfers"][0]["kind"]), (300, "grant"))
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("gus@example.com")
        pending_link = self.next_link(before)  # mailed before the suspension
        suspended = self.server.request("POST", f"/api/v1/admin/users/{user_id}/suspend", **admin)
        self.assertEqual((suspended.status, suspended.json["status"]), (200, "suspended"))
        self.assertEqual(self.server.request("POST", f"/api/v1/admin/users/{user_id}/suspend", **admin).status, 200)
        self.assertEqual(self.me(cookie).status, 401)
        service = self.server.last_line("tokens", "create", "--scope", "service")
        spend = {"user_id": user_id, "amount": 1, "feature": "ai_search"}
        blocked = self.server.request("POST", "/api/v1/credits/deduct", spend, token=service, key="s1")
        self.assertEqual((blocked.status, blocked.json["code"]), (403, "user_suspended"))
        self.assertEqual(self.server.stop(), 0)  # the suspension outlives a restart
        self.server.start()
        after_restart = self.server.request("POST", "/api/v1/credits/deduct", spend, token=service, key="s3")
        self.assertEqual(after_restart.json["code"], "user_suspended")
        refused = self.redeem(pending_link)
        self.assertEqual(refused.status, 403)
        self.assertIn("suspended", refused.raw)
        self.ask_for_link("gus@example.com")  # a suspended address gets no new link
        time.sleep(0.3)
        self.assertEqual(len(TOKEN.findall("".join(self.server.log))), before + 1)
        self.server.request("POST", f"/api/v1/admin/users/{user_id}/reactivate", **admin)
        self.assertEqual(self.sign_in("gus@example.com").status, 303)
        allowed = self.server.request("POST", "/api/v1/credits/deduct", spend, token=service, key="s2")
        self.assertEqual(allowed.status, 200)
        audit = self.server.request("GET", f"/api/v1/admin/audit?target=user:{user_id}", **admin).json["items"]
        self.assertEqual([(a["action"], a["before"], a["after"]) for a in audit],
                         [("user.reactivate", {"status": "suspended"}, {"status": "active"}),
                          ("user.suspend", {"status": "active"}, {"status": "suspended"})])
        self.assertTrue(all(a["actor"].startswith("token:") for a in audit))
        created = self.server.request("GET", f"/api/v1/admin/audit?target=invitation:{invitation}", **admin).json
        self.assertEqual(created["items"][0]["after"]["email"], "gus@example.com")
        self.assertEqual(self.server.request("GET", "/api/v1/admin/users/999", **admin).status, 404)

    def verification_link(self, email):
        return mailed_token(self.server, "verify-email", email)

    def confirm(self, token, origin=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin:
            headers["Origin"] = origin
        return self.server.request("POST", "/api/v1/auth/verify-email", f"token={token}", headers=headers)

    def change_email(self, cookie, email):
        csrf = self.me(cookie).json["csrf_token"]
        return self.server.request("POST", "/api/v1/me/email", {"email": email},
                                   headers={"Cookie": cookie, "X-CSRF-Token": csrf})

    def test_changing_the_address_needs_the_mailed_link(self):
        self.invite("kay@example.com")
        self.invite("lou@example.com")
        cookie = self.cookie_of(self.sign_in("kay@example.com"))
        self.sign_in("lou@example.com")
        # A taken address gets the same answer and no mail; a malformed one is refused.
        taken = self.change_email(cookie, "lou@example.com")
        free = self.change_email(cookie, "Kay.New@Example.com")
        self.assertEqual((taken.status, free.status), (202, 202))
        self.assertEqual(taken.raw, free.raw)
        self.assertEqual(self.change_email(cookie, "not-an-address").status, 422)
        token = self.verification_link("kay.new@example.com")
        self.assertNotIn("to=\"lou@example.com\" template=verification", "".join(self.server.log))
        # Nothing changes until the link is followed, from our own pages.
        self.assertEqual(self.me(cookie).json["email"], "kay@example.com")
        self.assertEqual(self.confirm(token, origin="https://evil.example").status, 403)
        confirmed = self.confirm(token)
        self.assertEqual(confirmed.status, 200, confirmed)
        me = self.me(cookie).json
        self.assertEqual((me["email"], me["email_verified"]), ("kay.new@example.com", True))
        self.assertEqual(self.confirm(token).status, 400)  # single use
        # The new address signs in; the old one has no account any more.
        self.assertEqual(self.me(self.cookie_of(self.sign_in("kay.new@example.com"))).json["id"], me["id"])

    def test_an_address_given_up_is_a_new_enrollment_for_its_next_owner(self):
        self.invite("ann@example.com")
        alice = self.cookie_of(self.sign_in("ann@example.com"))
        alice_id = self.me(alice).json["id"]
        self.change_email(alice, "ann2@example.com")
        self.assertEqual(self.confirm(self.verification_link("ann2@example.com")).status, 200)
        # The old address is invited again, for someone else: they get an account of their own.
        self.invite("ann@example.com", credits=7)
        carol = self.me(self.cookie_of(self.sign_in("ann@example.com"))).json
        self.assertNotEqual(carol["id"], alice_id)
        self.assertEqual(carol["email"], "ann@example.com")
        self.assertEqual(self.me(alice).json["email"], "ann2@example.com")

    def test_tokens_work_only_for_their_purpose(self):
        self.invite("max@example.com")
        cookie = self.cookie_of(self.sign_in("max@example.com"))
        self.change_email(cookie, "max2@example.com")
        verification = self.verification_link("max2@example.com")
        before = len(TOKEN.findall("".join(self.server.log)))
        self.ask_for_link("max@example.com")
        sign_in_token = self.next_link(before)
        self.assertEqual(self.redeem(verification).status, 400)
        self.assertEqual(self.confirm(sign_in_token).status, 400)
        # Both still work for their own purpose.
        self.assertEqual(self.redeem(sign_in_token).status, 303)
        self.assertEqual(self.confirm(verification).status, 200)

    def test_pages(self):
        for path, text in [("/signin", "Email me a sign-in link"), ("/", "Credits available")]:
            page = self.server.request("GET", path)
            self.assertEqual(page.status, 200)
            self.assertIn(text, page.raw)


class FirstAdminTest(unittest.TestCase):
    """beta.admin_email (what `make run` sets): a new installation's first admin can sign in."""

    def test_the_configured_address_is_invited_as_admin_and_signs_in(self):
        env = {"BETA500_BETA_ADMIN_EMAIL": "Root@Example.com", "BETA500_MAIL_POLL_INTERVAL_MS": "20",
               "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0"}
        with Server(env=env) as server:
            self.assertIn('msg="admin invitation open: sign in with this address" email=root@example.com '
                          'sign_in=http://127.0.0.1:8080/signin', "".join(server.log))
            cookie, _ = sign_in(server, "root@example.com")
            me = server.request("GET", "/api/v1/me", headers={"Cookie": cookie}).json
            self.assertEqual((me["role"], me["email_verified"]), ("admin", True))
            # The admin's session reaches the admin API.
            users = server.request("GET", "/api/v1/admin/users", headers={"Cookie": cookie})
            self.assertEqual(users.status, 200)
            self.assertEqual([u["email"] for u in users.json["items"]], ["root@example.com"])
            # Restarted, it finds the admin and invites nobody again.
            server.stop()
            server.log.clear()
            server.start()
            self.assertIn('msg="admin present" email=root@example.com', "".join(server.log))
            invitations = server.request("GET", "/api/v1/admin/invitations", headers={"Cookie": cookie})
            self.assertEqual(len(invitations.json["items"]), 1)

    def test_an_invalid_address_stops_the_server(self):
        with self.assertRaisesRegex(AssertionError, "beta.admin_email is not a valid email address"):
            with Server(env={"BETA500_BETA_ADMIN_EMAIL": "not an address"}):
                pass


if __name__ == "__main__":
    unittest.main()
