"""Proves metered live sessions end to end with real WebSocket clients (python3-websockets) on
the real server, with a 1-second checkpoint interval: pre-authorization refusal (4003),
exhaustion mid-session to exactly zero, a top-up mid-session, the per-user cap (4009), admin
termination (4010), suspension (4011), Origin and authentication checks, size and rate limits
(1009, 1008), the passthrough engine, kill -9 with live sessions settled as connection_lost
after a restart, graceful shutdown settling every session, and the browser's event stream."""

import asyncio
import http.client
import json
import re
import signal
import subprocess
import time
import unittest
import uuid

import websockets

from harness import BINARY, Server

RATE = 600  # credits per minute: 10 per second
ENV = {
    # Metering, not speech: the passthrough engine echoes (test_dubbing.py dubs for real).
    "BETA500_DUBBING_ENGINE": "passthrough",
    "BETA500_SESSION_CHECKPOINT_INTERVAL_SECONDS": "1",
    "BETA500_SESSION_RATE_PER_MINUTE": str(RATE),
    "BETA500_SESSION_PREAUTH_CREDITS": "10",
    "BETA500_SESSION_HOLD_TTL_SECONDS": "30",
    # On PostgreSQL, a killed server's sessions are settled once its lease has run out.
    "BETA500_SESSION_INSTANCE_LEASE_SECONDS": "2",
    "BETA500_SERVER_WS_MESSAGE_BYTES_MAX": "1024",
    "BETA500_SERVER_WS_MESSAGES_PER_SECOND": "20",
    "BETA500_MAIL_POLL_INTERVAL_MS": "50",
    "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0",
}
ORIGIN = "http://127.0.0.1:8080"  # the default public URL's origin
TOKEN = re.compile(r"magic-link/callback\?token=([A-Za-z0-9_-]+)")


def due(active_ms):
    return active_ms * RATE // 60000


class LiveTest(unittest.TestCase):
    def setUp(self):
        self.start(ENV)

    def start(self, env):
        self.server = Server(env=env).__enter__()
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")
        self.service = self.server.last_line("tokens", "create", "--scope", "service")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    # Helpers.
    def user(self, credits):
        user = self.server.last_line("users", "create", "--email", f"{uuid.uuid4().hex[:8]}@example.com")
        if credits:
            self.grant(user, credits)
        return user

    def grant(self, user, amount):
        response = self.server.request("POST", "/api/v1/admin/credits/grants",
                                       {"user_id": user, "amount": amount, "reason": "test"},
                                       token=self.admin, key=str(uuid.uuid4()))
        self.assertEqual(response.status, 201, response)

    def balance(self, user):
        return self.server.request("GET", f"/api/v1/credits/balances/{user}", token=self.service).json

    def sessions(self, status="all"):
        response = self.server.request("GET", f"/api/v1/admin/live-sessions?status={status}",
                                       token=self.admin)
        self.assertEqual(response.status, 200, response)
        return response.json["items"]

    def settled(self):
        """All sessions, once none is active (settlement follows a close by milliseconds)."""
        deadline = time.monotonic() + 2
        while self.sessions("active") and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.sessions()

    def url(self, user=None):
        query = f"?user_id={user}" if user else ""
        return f"ws://127.0.0.1:{self.server.port}/api/v1/live/dubbing{query}"

    def connect(self, user, **kwargs):
        return websockets.connect(self.url(user), extra_headers={"Authorization": "Bearer " + self.service},
                                  **kwargs)

    @staticmethod
    async def events_until_close(ws, timeout=10):
        """Every JSON event until the server closes; returns (events, code, reason)."""
        events = []
        try:
            async with asyncio.timeout(timeout) if hasattr(asyncio, "timeout") else _Deadline(timeout):
                async for message in ws:
                    if isinstance(message, str):
                        events.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        return events, ws.close_code, ws.close_reason

    async def open_sessions(self, users):
        """One started session per user, left open."""
        sockets = [await self.connect(user).__aenter__() for user in users]
        for ws in sockets:
            await self.next_event(ws, "session.started")
        return sockets

    @staticmethod
    async def next_event(ws, kind, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            if isinstance(message, str) and json.loads(message)["type"] == kind:
                return json.loads(message)

    def run_async(self, coroutine):
        return asyncio.run(asyncio.wait_for(coroutine, 60))

    def verify(self):
        self.assertEqual(self.server.stop(), 0)
        result = self.server.cli("ledger", "verify", check=False)
        self.assertEqual(result.returncode, 0, result.stdout)

    # Tests.
    def test_refused_at_start_when_short_of_the_pre_authorization(self):
        user = self.user(9)

        async def scenario():
            async with self.connect(user) as ws:
                return await self.events_until_close(ws)

        events, code, reason = self.run_async(scenario())
        self.assertEqual(code, 4003)
        self.assertEqual(json.loads(reason), {"code": "insufficient_credits", "available": 9,
                                              "upgrade_required": True})
        self.assertEqual(events[0]["code"], "insufficient_credits")
        self.assertEqual(self.balance(user)["available"], 9)
        self.assertEqual(self.sessions(), [])

    def test_runs_out_mid_session_to_exactly_zero(self):
        user = self.user(25)  # 2.5 s at 10 credits per second

        async def scenario():
            async with self.connect(user) as ws:
                started = time.monotonic()
                events, code, reason = await self.events_until_close(ws)
                return events, code, reason, time.monotonic() - started

        events, code, reason, seconds = self.run_async(scenario())
        self.assertEqual(code, 4003)
        self.assertEqual(json.loads(reason)["available"], 0)
        self.assertTrue(json.loads(reason)["upgrade_required"])
        types = [event["type"] for event in events]
        self.assertEqual(types[0], "session.started")
        self.assertIn("credits.checkpoint", types)
        self.assertEqual(events[-1]["type"], "session.ended")
        self.assertEqual(events[-1]["reason"], "quota_failed")
        # Credits last 2.5 s; the end comes within one interval after that.
        self.assertGreaterEqual(seconds, 1.5)
        self.assertLess(seconds, 2.5 + 1 + 0.9)
        warnings = [event["threshold_percent"] for event in events if event["type"] == "credits.warning"]
        self.assertEqual(warnings, [20, 10, 5])  # each crossing once, in order
        balance = self.balance(user)
        self.assertEqual((balance["available"], balance["held"], balance["posted"]), (0, 0, 0))
        [row] = self.sessions()
        self.assertEqual((row["end_reason"], row["charged"]), ("quota_failed", 25))
        self.verify()

    def test_a_top_up_keeps_the_session_going_and_the_stop_settles_exactly(self):
        user = self.user(25)

        async def scenario():
            async with self.connect(user) as ws:
                await self.next_event(ws, "session.started")
                self.grant(user, 1000)
                await asyncio.sleep(3.4)
                await ws.send(json.dumps({"type": "stop"}))
                return await self.events_until_close(ws)

        events, code, _ = self.run_async(scenario())
        self.assertEqual(code, 1000)
        ended = events[-1]
        self.assertEqual(ended["reason"], "user_stopped")
        self.assertGreaterEqual(ended["active_ms"], 3400)
        self.assertEqual(ended["charged"], due(ended["active_ms"]))
        [row] = self.sessions()
        self.assertEqual(row["charged"], due(row["active_ms"]))
        self.assertEqual(self.balance(user)["posted"], 1025 - ended["charged"])
        self.assertEqual(self.balance(user)["held"], 0)
        self.verify()

    def test_per_user_cap_admin_termination_and_suspension(self):
        user = self.user(1000)

        async def scenario():
            async with self.connect(user) as first, self.connect(user) as second:
                first_id = (await self.next_event(first, "session.started"))["session_id"]
                await self.next_event(second, "session.started")
                async with self.connect(user) as third:
                    _, third_code, _ = await self.events_until_close(third)
                self.assertEqual(len(self.sessions("active")), 2)
                started = time.monotonic()
                response = self.server.request(
                    "POST", f"/api/v1/admin/live-sessions/{first_id}/terminate", token=self.admin)
                self.assertEqual(response.status, 202, response)
                events, code, _ = await self.events_until_close(first)
                terminate_seconds = time.monotonic() - started
                again = self.server.request(
                    "POST", f"/api/v1/admin/live-sessions/{first_id}/terminate", token=self.admin)
                self.assertEqual(again.status, 409)
                suspend = self.server.request("POST", f"/api/v1/admin/users/{user}/suspend", token=self.admin)
                self.assertEqual(suspend.status, 200)
                _, other_code, _ = await self.events_until_close(second)
                async with self.connect(user) as blocked:
                    _, blocked_code, _ = await self.events_until_close(blocked)
                return third_code, code, terminate_seconds, events, other_code, blocked_code

        third, code, seconds, events, other, blocked = self.run_async(scenario())
        self.assertEqual(third, 4009)
        self.assertEqual(code, 4010)
        self.assertLess(seconds, 1.0)
        self.assertEqual(events[-1]["reason"], "admin_terminated")
        self.assertEqual(other, 4011)
        self.assertEqual(blocked, 4011)
        self.assertEqual(self.sessions("active"), [])
        self.assertEqual(self.balance(user)["held"], 0)
        self.verify()

    def test_origin_and_authentication(self):
        user = self.user(100)

        async def scenario():
            with self.assertRaises(websockets.InvalidStatusCode) as refused:
                async with websockets.connect(self.url(), origin="http://evil.example"):
                    pass
            codes = [refused.exception.status_code]
            async with websockets.connect(self.url(), origin=ORIGIN) as anonymous:
                codes.append((await self.events_until_close(anonymous))[1])
            async with websockets.connect(self.url(user), extra_headers={"Authorization": "Bearer nope"}) as bad:
                codes.append((await self.events_until_close(bad))[1])
            async with websockets.connect(self.url(999), extra_headers={"Authorization": "Bearer " + self.service}) as nobody:
                codes.append((await self.events_until_close(nobody))[1])
            return codes

        self.assertEqual(self.run_async(scenario()), [403, 4001, 4001, 4004])
        plain = self.server.request("GET", "/api/v1/live/dubbing")
        self.assertEqual(plain.status, 426)
        self.assertEqual(plain.json["code"], "upgrade_required")

    def test_passthrough_engine_and_bad_messages(self):
        user = self.user(100)

        async def scenario():
            async with self.connect(user) as ws:
                await self.next_event(ws, "session.started")
                await ws.send(json.dumps({"type": "text", "text": "hola"}))
                transcript = await self.next_event(ws, "transcript")
                translation = await self.next_event(ws, "translation")
                await ws.send(b"\x01\x00\x02\x00")
                audio = await asyncio.wait_for(ws.recv(), 5)
                while isinstance(audio, str):
                    audio = await asyncio.wait_for(ws.recv(), 5)
                errors = []
                for bad in (b"\x01\x00\x02", "not json", json.dumps({"type": "dance"}),
                            json.dumps({"type": "text", "text": ""})):
                    await ws.send(bad)
                    errors.append((await self.next_event(ws, "error"))["code"])
                await ws.send(json.dumps({"type": "stop"}))
                events, code, _ = await self.events_until_close(ws)
                return transcript, translation, audio, errors, code

        transcript, translation, audio, errors, code = self.run_async(scenario())
        self.assertEqual(transcript["text"], "hola")
        self.assertEqual(translation["text"], "hola")
        self.assertEqual(audio, b"\x01\x00\x02\x00")
        self.assertEqual(errors, ["invalid_audio", "invalid_message", "invalid_message", "invalid_message"])
        self.assertEqual(code, 1000)

    def test_message_size_and_rate_limits(self):
        user = self.user(1000)

        async def scenario():
            codes = []
            async with self.connect(user, max_size=None) as ws:
                await self.next_event(ws, "session.started")
                await ws.send(b"\x00" * 1024)  # exactly the limit: accepted, and echoed
                echo = await asyncio.wait_for(ws.recv(), 5)
                while isinstance(echo, str):
                    echo = await asyncio.wait_for(ws.recv(), 5)
                self.assertEqual(len(echo), 1024)
                await ws.send(b"\x00" * 1026)
                codes.append((await self.events_until_close(ws))[1])
            async with self.connect(user) as ws:
                await self.next_event(ws, "session.started")
                for _ in range(20):  # exactly the limit within any one second: accepted
                    await ws.send(json.dumps({"type": "text", "text": "x"}))
                for _ in range(20):
                    await self.next_event(ws, "translation")
                await asyncio.sleep(1.05)  # a new second: the stop is not the 21st message
                await ws.send(json.dumps({"type": "stop"}))
                codes.append((await self.events_until_close(ws))[1])
            async with self.connect(user) as ws:
                await self.next_event(ws, "session.started")
                # 100 at once: whatever second boundary falls inside, one second sees over 20.
                for _ in range(100):
                    await ws.send(json.dumps({"type": "text", "text": "x"}))
                codes.append((await self.events_until_close(ws))[1])
            return codes

        self.assertEqual(self.run_async(scenario()), [1009, 1000, 1008])
        reasons = sorted(row["end_reason"] for row in self.settled())
        self.assertEqual(reasons, ["error", "error", "user_stopped"])
        self.assertEqual(self.balance(user)["held"], 0)
        self.verify()

    def test_a_client_that_stops_reading_is_cut_and_its_session_settled(self):
        self.server.__exit__(None, None, None)
        self.start(dict(ENV, BETA500_SERVER_STREAM_OUTBOX_MAX="8",
                        BETA500_SERVER_WS_MESSAGES_PER_SECOND="100000",
                        BETA500_SERVER_WS_MESSAGE_BYTES_MAX="65536"))
        user = self.user(1000)

        async def scenario():
            # The client reads nothing: its queue and buffers fill, then the server's socket
            # buffers, then the server's outbox of 8 messages (every audio message is echoed).
            ws = await websockets.connect(self.url(user), max_queue=1, read_limit=2 ** 16,
                                          extra_headers={"Authorization": "Bearer " + self.service})
            await self.next_event(ws, "session.started")
            try:
                for _ in range(1000):  # 64 MiB at most
                    await ws.send(b"\x00" * 65536)
            except websockets.ConnectionClosed:
                pass
            ws.transport.abort()

        self.run_async(scenario())
        [row] = self.settled()
        self.assertEqual(row["end_reason"], "error")
        self.assertEqual(row["charged"], due(row["active_ms"]))
        self.assertEqual(self.balance(user)["held"], 0)
        self.verify()

    def test_kill_9_with_live_sessions_then_restart_settles_them(self):
        users = [self.user(1000) for _ in range(3)]

        async def scenario():
            sockets = await self.open_sessions(users)
            await self.next_event(sockets[0], "credits.checkpoint", timeout=3)
            await asyncio.sleep(1.2)
            self.server.process.send_signal(signal.SIGKILL)
            self.server.process.wait()
            for ws in sockets:
                await ws.close_transport() if hasattr(ws, "close_transport") else ws.transport.abort()

        self.run_async(scenario())
        self.server.start()
        # On SQLite at start-up; on PostgreSQL by the worker, once the dead server's lease ran out.
        deadline = time.monotonic() + 10
        while self.sessions("active") and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(any(("settled live sessions left open" in line or "of a dead instance" in line)
                            and "sessions=3" in line for line in self.server.log), "".join(self.server.log[-20:]))
        rows = self.sessions()
        self.assertEqual(len(rows), 3)
        for row in rows:
            self.assertEqual(row["end_reason"], "connection_lost")
            self.assertGreater(row["charged"], 0)
            self.assertEqual(row["charged"], due(row["active_ms"]))
            balance = self.balance(row["user_id"])
            self.assertEqual((balance["held"], balance["posted"]), (0, 1000 - row["charged"]))
        self.verify()

    def test_graceful_shutdown_settles_every_session(self):
        users = [self.user(1000) for _ in range(2)]

        async def scenario():
            sockets = await self.open_sessions(users)
            await asyncio.sleep(0.5)
            self.server.process.send_signal(signal.SIGTERM)
            return [await self.events_until_close(ws) for ws in sockets]

        results = self.run_async(scenario())
        self.assertEqual(self.server.process.wait(timeout=20), 0)
        for events, code, _ in results:
            self.assertEqual(code, 1001)
            self.assertEqual(events[-1]["reason"], "server_shutdown")
            self.assertEqual(events[-1]["charged"], due(events[-1]["active_ms"]))
        result = self.server.cli("ledger", "verify", check=False)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_the_browser_event_stream_pushes_balance_changes(self):
        email = "sse@example.com"
        invite = self.server.request("POST", "/api/v1/admin/invitations",
                                     {"email": email, "initial_credits": 300}, token=self.admin)
        self.assertEqual(invite.status, 201, invite)
        before = len(TOKEN.findall("".join(self.server.log)))
        self.server.request("POST", "/api/v1/auth/magic-link", {"email": email})
        deadline = time.monotonic() + 5
        while len(TOKEN.findall("".join(self.server.log))) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        token = TOKEN.findall("".join(self.server.log))[-1]
        signed_in = self.server.request("POST", "/api/v1/auth/magic-link/callback", f"token={token}",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        cookie = signed_in.headers["set-cookie"].split(";")[0]
        user = self.server.request("GET", "/api/v1/me", headers={"Cookie": cookie}).json["id"]

        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        connection.request("GET", "/api/v1/me/events", headers={"Cookie": cookie})
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("content-type"), "text/event-stream")

        def next_event():
            lines = []
            while True:
                line = response.fp.readline().decode()
                if line == "\n" and lines:
                    break
                if line.strip() and not line.startswith(":"):
                    lines.append(line.strip())
            return lines[0].split(": ", 1)[1], json.loads(lines[1].split(": ", 1)[1])

        self.assertEqual(next_event(), ("credits.balance", {"type": "credits.balance", "available": 300,
                                                            "held": 0, "posted": 300}))
        started = time.monotonic()
        self.grant(user, 50)
        name, data = next_event()
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual((name, data["available"]), ("credits.balance", 350))
        # Unauthenticated: 401, no stream.
        self.assertEqual(self.server.request("GET", "/api/v1/me/events").status, 401)
        connection.close()


class LoadTestToolTest(unittest.TestCase):
    def test_runs_bounded_sessions_and_checks_them(self):
        result = subprocess.run([BINARY, "loadtest", "--sessions", "20", "--seconds", "2", "--interval", "1"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("connected: 20 of 20 sessions", result.stdout)
        self.assertIn("settled: 20 of 20 sessions; 0 charges differ", result.stdout)
        self.assertIn("ledger verify: ok", result.stdout)
        self.assertRegex(result.stdout, r"event delivery .*: [1-9][0-9]* events")

    def test_refuses_counts_and_durations_beyond_its_bounds(self):
        for args in (["--sessions", "0"], ["--sessions", "20001"], ["--seconds", "0"], ["--seconds", "601"]):
            result = subprocess.run([BINARY, "loadtest", *args], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0, args)


class _Deadline:
    """asyncio.timeout for Python 3.11 and earlier."""

    def __init__(self, seconds):
        self.seconds = seconds

    async def __aenter__(self):
        self.task = asyncio.current_task()
        self.handle = asyncio.get_running_loop().call_later(self.seconds, self.task.cancel)

    async def __aexit__(self, *exc):
        self.handle.cancel()
        return False


if __name__ == "__main__":
    unittest.main()
