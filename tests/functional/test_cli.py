"""Proves the operator CLI: output conventions (the new id or token alone on the last line),
non-zero exits with a message on errors, the effective configuration with overrides, and
`ledger verify` passing a sound ledger and failing, precisely, on a tampered one."""

import os
import sqlite3
import tempfile
import unittest

from harness import Server


class CliTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()  # not started: the CLI works on the data directory alone

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def test_users_and_tokens(self):
        self.assertEqual(self.server.last_line("users", "create", "--email", "ada@example.com"), "1")
        self.assertEqual(self.server.last_line("users", "create", "--email", "bob@example.com",
                                               "--role", "admin"), "2")
        duplicate = self.server.cli("users", "create", "--email", "ada@example.com", check=False)
        self.assertEqual(duplicate.returncode, 1)
        self.assertIn("already exists", duplicate.stderr)
        token = self.server.last_line("tokens", "create", "--scope", "service", "--name", "billing")
        self.assertTrue(token.startswith("b5_"))
        self.assertEqual(len(token), 46)
        self.assertNotEqual(self.server.cli("tokens", "create", "--scope", "root", check=False).returncode, 0)
        # Only the hash is stored.
        database = sqlite3.connect(os.path.join(self.server.data_dir, "beta500.sqlite3"))
        stored = database.execute("SELECT token_hash FROM api_tokens").fetchone()[0]
        self.assertNotIn(token, stored)
        self.assertEqual(len(stored), 64)

    def test_effective_config(self):
        self.server.env["BETA500_SERVER_THREADS"] = "3"
        output = self.server.cli("config").stdout
        self.assertIn("[server]\n", output)
        self.assertIn("threads = 3\n", output)
        self.assertIn('synchronous = "full"', output)
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
            config.write("[server]\nthreds = 2\n")
        bad = self.server.cli("--config", config.name, "config", check=False)
        os.unlink(config.name)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("unknown setting server.threds", bad.stderr)

    def test_log_transport_serves_on_loopback_only(self):
        refused = self.server.cli("serve", "--listen", "0.0.0.0:0", check=False)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("serves only on a loopback address", refused.stderr)

    def test_ledger_verify(self):
        self.server.cli("users", "create", "--email", "ada@example.com")
        token = self.server.last_line("tokens", "create", "--scope", "admin")
        with self.server:
            granted = self.server.request("POST", "/api/v1/admin/credits/grants",
                                          {"user_id": "1", "amount": 100, "reason": "r"},
                                          token=token, key="g")
            self.assertEqual(granted.status, 201)
            self.server.request("POST", "/api/v1/credits/deduct",
                                {"user_id": "1", "amount": 40, "feature": "ai_search"}, token=token, key="d")
            self.assertEqual(self.server.stop(), 0)
            sound = self.server.cli("ledger", "verify", check=False)
            self.assertEqual(sound.returncode, 0, sound.stdout)
            self.assertTrue(sound.stdout.startswith("ok: "))
            database = sqlite3.connect(os.path.join(self.server.data_dir, "beta500.sqlite3"))
            database.execute("UPDATE lots SET remaining = remaining - 1")
            database.commit()
            database.close()
            broken = self.server.cli("ledger", "verify", check=False)
            self.assertEqual(broken.returncode, 1)
            self.assertIn("problem: lots of user:1 hold 59, posted balance is 60", broken.stdout)
            self.assertIn("FAILED", broken.stdout)


if __name__ == "__main__":
    unittest.main()
