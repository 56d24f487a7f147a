"""Proves mail delivery through a real SMTP receiver (aiosmtpd): delivery, delivery once the
receiver comes back after being down, dead letters visible to admins and retried by them, and
the development `log` transport. Bodies are erased from the outbox once delivered."""

import os
import socket
import time
import unittest

from aiosmtpd.controller import Controller

from harness import Server


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self, port):
        self.messages = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class MailTest(unittest.TestCase):
    def start(self, port, **settings):
        env = {"BETA500_MAIL_TRANSPORT": "smtp", "BETA500_MAIL_SMTP_URL": f"smtp://127.0.0.1:{port}",
               "BETA500_MAIL_SMTP_STARTTLS": "none", "BETA500_MAIL_POLL_INTERVAL_MS": "100",
               "BETA500_MAIL_BACKOFF_BASE_SECONDS": "1", "BETA500_MAIL_BACKOFF_MAX_SECONDS": "1",
               "BETA500_MAIL_TIMEOUT_SECONDS": "2"}
        env.update({f"BETA500_MAIL_{key.upper()}": str(value) for key, value in settings.items()})
        self.server = Server(env=env).__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def outbox(self, status=None):
        path = "/api/v1/admin/mail" + (f"?status={status}" if status else "")
        return self.server.request("GET", path, token=self.admin).json["items"]

    def test_delivers_through_smtp_and_erases_the_body(self):
        port = free_port()
        with Receiver(port) as receiver:
            self.start(port)
            mail_id = self.server.last_line("mail", "test", "--to", "ada@example.com")
            envelope = wait_for(lambda: receiver.messages)[0]
        self.assertEqual(envelope.mail_from, "no-reply@localhost")
        self.assertEqual(envelope.rcpt_tos, ["ada@example.com"])
        content = envelope.content.decode()
        self.assertIn("Subject: Beta 500 test mail", content)
        self.assertIn("multipart/alternative", content)
        self.assertIn("This is a test mail from Beta 500", content)
        entry = wait_for(lambda: [m for m in self.outbox("sent") if m["id"] == mail_id])[0]
        self.assertEqual((entry["attempts"], entry["template"]), (1, "test"))
        self.assertNotIn("text_body", entry)
        self.assertEqual(self.server.query("SELECT text_body, html_body FROM mail_outbox"), [("", "")])

    def test_delivers_after_the_receiver_was_down(self):
        port = free_port()
        self.start(port, max_attempts=20)
        mail_id = self.server.last_line("mail", "test", "--to", "ada@example.com")
        failing = wait_for(lambda: [m for m in self.outbox("pending") if m["attempts"] >= 2])[0]
        self.assertEqual(failing["id"], mail_id)
        self.assertNotEqual(failing["last_error"], "")
        with Receiver(port) as receiver:
            wait_for(lambda: receiver.messages)
        entry = wait_for(lambda: self.outbox("sent"))[0]
        self.assertGreaterEqual(entry["attempts"], 3)

    def test_dead_letters_are_listed_and_retried(self):
        port = free_port()
        self.start(port, max_attempts=2)
        mail_id = self.server.last_line("mail", "test", "--to", "ada@example.com")
        dead = wait_for(lambda: self.outbox("dead"))[0]
        self.assertEqual((dead["id"], dead["attempts"]), (mail_id, 2))
        missing = self.server.request("POST", "/api/v1/admin/mail/999/retry", token=self.admin)
        self.assertEqual((missing.status, missing.json["code"]), (404, "mail_not_found"))
        service = self.server.last_line("tokens", "create", "--scope", "service")
        self.assertEqual(self.server.request("GET", "/api/v1/admin/mail", token=service).status, 403)
        with Receiver(port) as receiver:
            retried = self.server.request("POST", f"/api/v1/admin/mail/{mail_id}/retry", token=self.admin)
            self.assertEqual((retried.status, retried.json["status"]), (200, "pending"))
            wait_for(lambda: receiver.messages)
        again = self.server.request("POST", f"/api/v1/admin/mail/{mail_id}/retry", token=self.admin)
        wait_for(lambda: self.outbox("sent"))
        self.assertEqual(again.status, 409)
        bad = self.server.request("GET", "/api/v1/admin/mail?status=lost", token=self.admin)
        self.assertEqual((bad.status, bad.json["field"]), (422, "status"))

    def test_log_transport_for_development(self):
        self.server = Server().__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")
        self.server.last_line("mail", "test", "--to", "ada@example.com")
        wait_for(lambda: any("msg=mail transport=log to=ada@example.com" in line for line in self.server.log))
        self.assertEqual(wait_for(lambda: self.outbox("sent"))[0]["attempts"], 1)
        refused = self.server.cli("mail", "test", "--to", "not-an-address", check=False)
        self.assertEqual(refused.returncode, 1)


if __name__ == "__main__":
    unittest.main()
