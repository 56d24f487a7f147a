"""Proves invitations over HTTP and the CLI: creation with its mail queued, retried creates,
conflicts, the program cap at its edge, CSV import with a per-row report, listing and search,
revocation freeing a seat, the resend limit, and admin-only access."""

import unittest

from harness import Server

CAP = 3


class InvitationsTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(env={"BETA500_BETA_CAP": str(CAP)}).__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def invite(self, body):
        return self.server.request("POST", "/api/v1/admin/invitations", body, token=self.admin)

    def test_create_retry_conflict_and_cap(self):
        created = self.invite({"email": " Ada@Example.com", "initial_credits": 250, "note": "early"})
        self.assertEqual(created.status, 201, created)
        self.assertEqual((created.json["email"], created.json["status"]), ("ada@example.com", "open"))
        self.assertEqual(created.json["initial_credits"], 250)
        self.assertTrue(created.json["inviter"].startswith("token:"))
        retried = self.invite({"email": "ada@example.com", "initial_credits": 250, "note": "early"})
        self.assertEqual((retried.status, retried.json["id"]), (200, created.json["id"]))
        other = self.invite({"email": "ada@example.com", "initial_credits": 10})
        self.assertEqual((other.status, other.json["code"]), (409, "invitation_exists"))
        self.assertEqual(other.json["invitation_id"], created.json["id"])
        self.assertEqual(self.invite({"email": "bob@example.com"}).json["initial_credits"], 1000)
        self.assertEqual(self.server.last_line("invite", "--email", "cy@example.com"), "3")
        full = self.invite({"email": "dee@example.com"})
        self.assertEqual((full.status, full.json["code"]), (409, "beta_full"))
        self.assertEqual((full.json["cap"], full.json["seats_used"]), (CAP, CAP))
        cli_full = self.server.cli("invite", "--email", "dee@example.com", check=False)
        self.assertEqual(cli_full.returncode, 1)
        self.assertIn("the beta is full", cli_full.stderr)
        # Revoking frees the seat; revoking again is a conflict.
        revoked = self.server.request("POST", f"/api/v1/admin/invitations/{created.json['id']}/revoke",
                                      token=self.admin)
        self.assertEqual((revoked.status, revoked.json["status"]), (200, "revoked"))
        again = self.server.request("POST", f"/api/v1/admin/invitations/{created.json['id']}/revoke",
                                    token=self.admin)
        self.assertEqual((again.status, again.json["code"]), (409, "invitation_not_open"))
        self.assertEqual(self.invite({"email": "dee@example.com"}).status, 201)
        # Each invitation queued its mail.
        mails = self.server.request("GET", "/api/v1/admin/mail", token=self.admin).json["items"]
        self.assertEqual(sorted(m["to"] for m in mails),
                         ["ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"])
        self.assertTrue(all(m["template"] == "invitation" for m in mails))

    def test_already_enrolled_and_validation(self):
        self.server.cli("users", "create", "--email", "ada@example.com")
        enrolled = self.invite({"email": "ADA@example.com"})
        self.assertEqual((enrolled.status, enrolled.json["code"]), (409, "already_enrolled"))
        for body, field in [({"email": "nope"}, "email"), ({"email": "a@b.c", "initial_credits": -1}, "initial_credits"),
                            ({"email": "a@b.c", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
                            ({"email": "a@b.c", "note": "n" * 501}, "note"), ({}, "email"),
                            ({"email": "a@b.c", "colour": "red"}, "colour")]:
            response = self.invite(body)
            self.assertEqual((response.status, response.json.get("field")), (422, field), body)
        self.assertEqual(self.invite({"email": "a@b.c", "note": "n" * 500}).status, 201)

    def test_csv_import_reports_each_row(self):
        csv = ("email,initial_credits,expires_at,note\n"
               "ada@example.com,10,,\"VIP, early\"\n"
               "not-an-address\n"
               "bob@example.com,ten\n"
               "ada@example.com,10,,\"VIP, early\"\n"
               "cy@example.com\n"
               "dee@example.com\n"
               "eve@example.com\n")
        response = self.server.request("POST", "/api/v1/admin/invitations/import", csv, token=self.admin,
                                       headers={"Content-Type": "text/csv"})
        self.assertEqual(response.status, 200, response)
        results = [row["result"] for row in response.json["rows"]]
        self.assertEqual(results, ["created", "invalid", "invalid", "unchanged", "created", "created",
                                   "beta_full"])
        self.assertEqual(response.json["counts"], {"created": 3, "invalid": 2, "unchanged": 1, "beta_full": 1})
        self.assertEqual(response.json["rows"][2]["line"], 4)
        self.assertEqual(response.json["rows"][2]["error"], "initial_credits: not an integer")
        wrong_type = self.server.request("POST", "/api/v1/admin/invitations/import", csv, token=self.admin)
        self.assertEqual(wrong_type.status, 415)

    def test_list_search_resend_and_access(self):
        for email in ["ada@example.com", "bob@example.org"]:
            self.invite({"email": email})
        found = self.server.request("GET", "/api/v1/admin/invitations?q=EXAMPLE.ORG", token=self.admin).json
        self.assertEqual([i["email"] for i in found["items"]], ["bob@example.org"])
        page = self.server.request("GET", "/api/v1/admin/invitations?status=open&limit=1", token=self.admin).json
        self.assertEqual(len(page["items"]), 1)
        self.assertIsNotNone(page["next_cursor"])
        invitation_id = page["items"][0]["id"]
        too_soon = self.server.request("POST", f"/api/v1/admin/invitations/{invitation_id}/resend",
                                       token=self.admin)
        self.assertEqual((too_soon.status, too_soon.headers["retry-after"]), (429, "60"))
        missing = self.server.request("POST", "/api/v1/admin/invitations/999/resend", token=self.admin)
        self.assertEqual(missing.status, 404)
        service = self.server.last_line("tokens", "create", "--scope", "service")
        self.assertEqual(self.server.request("GET", "/api/v1/admin/invitations", token=service).status, 403)
        self.assertEqual(self.server.request("POST", "/api/v1/admin/invitations",
                                             {"email": "x@y.z"}, token=service).status, 403)


if __name__ == "__main__":
    unittest.main()
