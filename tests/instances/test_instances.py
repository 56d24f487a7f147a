"""Three beta500 servers on one PostgreSQL (the test cluster, in a database of this test's own):
what one server does holds on the others."""

import asyncio
import http.client
import json
import os
import signal
import sys
import threading
import time
import unittest
import uuid

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "functional"))
import harness  # noqa: E402

from test_live import ENV as LIVE_ENV, ORIGIN, TOKEN, due  # noqa: E402

# The live tests' settings (one-second checkpoints, a two-second lease, mail in the log), and
# recommendation models trained again every second.
ENV = dict(LIVE_ENV, BETA500_AI_RETRAIN_SECONDS="1")


class Instances:
    """`count` servers sharing one fresh database; each has a data directory of its own."""

    def __init__(self, count, url=None):
        self.database = None
        if url is None:
            self.database = "b5_instances_" + uuid.uuid4().hex[:12]
            harness.psql(f"CREATE DATABASE {self.database}")
            url = harness.postgres_url(self.database)
        self.env = dict(ENV, BETA500_DATABASE_URL=url)
        self.servers = [harness.Server(env=self.env) for _ in range(count)]

    def __enter__(self):
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.__exit__()
            raise
        self.admin = self.servers[0].last_line("tokens", "create", "--scope", "admin")
        self.service = self.servers[0].last_line("tokens", "create", "--scope", "service")
        return self

    def __exit__(self, *exc):
        for server in self.servers:
            server.__exit__(None, None, None)
        if self.database:
            harness.psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")

    def user(self, credits, server=0):
        user = self.servers[server].last_line("users", "create", "--email", f"{uuid.uuid4().hex[:8]}@example.com")
        if credits:
            response = self.servers[server].request("POST", "/api/v1/admin/credits/grants",
                                                    {"user_id": user, "amount": credits, "reason": "test"},
                                                    token=self.admin, key=str(uuid.uuid4()))
            assert response.status == 201, response
        return user

    def balance(self, user, server=0):
        return self.servers[server].request("GET", f"/api/v1/credits/balances/{user}", token=self.service).json

    def verify(self):
        result = self.servers[0].cli("ledger", "verify", check=False)
        assert result.returncode == 0, result.stdout


class InstancesTest(unittest.TestCase):
    def setUp(self):
        self.cluster = Instances(3).__enter__()
        self.servers = self.cluster.servers

    def tearDown(self):
        self.cluster.__exit__()

    def url(self, server, user):
        return f"ws://127.0.0.1:{server.port}/api/v1/live/dubbing?user_id={user}"

    def connect(self, server, user):
        return websockets.connect(self.url(server, user),
                                  extra_headers={"Authorization": "Bearer " + self.cluster.service})

    @staticmethod
    async def next_event(ws, kind, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    def test_sixteen_requests_with_one_key_across_three_servers_take_effect_once(self):
        user = self.cluster.user(100)
        barrier = threading.Barrier(16)
        responses = [None] * 16

        def deduct(i):
            server = self.servers[i % 3]
            connection = server.connect()
            barrier.wait()
            try:
                responses[i] = server.request("POST", "/api/v1/credits/deduct",
                                              {"user_id": user, "amount": 7, "feature": "ai_search"},
                                              token=self.cluster.service, key="one-key", connection=connection)
            finally:
                connection.close()

        threads = [threading.Thread(target=deduct, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([r.status for r in responses], [200] * 16, responses)
        bodies = {json.dumps({k: v for k, v in r.json.items() if k != "request_id"}, sort_keys=True)
                  for r in responses}
        self.assertEqual(len(bodies), 1, bodies)
        self.assertEqual(self.cluster.balance(user, server=2)["available"], 93)
        self.assertEqual(self.servers[0].query("SELECT COUNT(*) FROM transfers WHERE kind = 'usage'"), [(1,)])
        self.assertEqual(self.servers[0].query("SELECT COUNT(*) FROM idempotency_keys WHERE key = 'one-key'"), [(1,)])
        self.cluster.verify()

    def test_an_admin_on_one_server_terminates_a_session_another_holds(self):
        user = self.cluster.user(100)

        async def scenario():
            async with self.connect(self.servers[1], user) as ws:
                started = await self.next_event(ws, "session.started")
                response = self.servers[0].request("POST", f"/api/v1/admin/live-sessions/{started['session_id']}/terminate",
                                                   token=self.cluster.admin)
                self.assertEqual(response.status, 202, response)
                await self.next_event(ws, "session.ended")
                with self.assertRaises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                return closed.exception.rcvd.code

        self.assertEqual(asyncio.run(scenario()), 4010)
        [row] = self.servers[2].query("SELECT end_reason, charged, active_ms FROM live_sessions")
        self.assertEqual(row[0], "admin_terminated")
        self.assertEqual(row[1], due(row[2]))
        self.cluster.verify()

    def sign_in(self, email, credits):
        """Invites `email`, asks server 1 for a link (whichever server's worker mails it) and
        signs in on server 2; returns the cookie, the CSRF token and the user id."""
        invite = self.servers[0].request("POST", "/api/v1/admin/invitations",
                                         {"email": email, "initial_credits": credits}, token=self.cluster.admin)
        self.assertEqual(invite.status, 201, invite)
        self.servers[1].request("POST", "/api/v1/auth/magic-link", {"email": email})
        deadline = time.monotonic() + 10
        tokens = []
        while not tokens and time.monotonic() < deadline:
            time.sleep(0.05)
            tokens = TOKEN.findall("".join(line for s in self.servers for line in s.log if email in line))
        self.assertEqual(len(tokens), 1, "each mail goes out once, from one server")
        signed_in = self.servers[2].request("POST", "/api/v1/auth/magic-link/callback", f"token={tokens[0]}",
                                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        cookie = signed_in.headers["set-cookie"].split(";")[0]
        me = self.servers[2].request("GET", "/api/v1/me", headers={"Cookie": cookie}).json
        return cookie, me["csrf_token"], me["id"]

    def test_a_recommendation_list_paid_on_one_server_is_answered_by_another(self):
        imported = self.servers[0].request("POST", "/api/v1/admin/catalog/import", [
            {"source_id": f"t-{i}", "title": f"Title {i}", "year": 2000 + i, "genres": ["Drama"]} for i in range(20)],
            token=self.cluster.admin)
        self.assertEqual(imported.status, 200, imported)
        cookie, csrf, _ = self.sign_in("reco@example.com", 20)
        me = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN}
        deadline = time.monotonic() + 15
        while True:  # until server 0's model has trained on the imported titles
            refreshed = self.servers[0].request("POST", "/api/v1/recommendations/refresh", headers=me,
                                                key=str(uuid.uuid4()))
            if refreshed.status != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(refreshed.status, 200, refreshed)
        self.assertEqual(len(refreshed.json["items"]), 10)
        for server in self.servers[1:]:
            answered = server.request("GET", "/api/v1/recommendations", headers=me)
            self.assertEqual((answered.status, answered.json["items"]), (200, refreshed.json["items"]))

    def test_balance_events_reach_a_browser_on_another_server(self):
        cookie, _, user = self.sign_in("sse@example.com", 300)

        connection = http.client.HTTPConnection("127.0.0.1", self.servers[2].port, timeout=5)
        connection.request("GET", "/api/v1/me/events", headers={"Cookie": cookie})
        response = connection.getresponse()
        self.assertEqual(response.status, 200)

        def next_event():
            lines = []
            while True:
                line = response.fp.readline().decode()
                if line == "\n" and lines:
                    return lines[0].split(": ", 1)[1], json.loads(lines[1].split(": ", 1)[1])
                if line.strip() and not line.startswith(":"):
                    lines.append(line.strip())

        self.assertEqual(next_event()[1]["available"], 300)
        started = time.monotonic()
        deducted = self.servers[0].request("POST", "/api/v1/credits/deduct",
                                           {"user_id": user, "amount": 25, "feature": "ai_search"},
                                           token=self.cluster.service, key=str(uuid.uuid4()))
        self.assertEqual(deducted.status, 200, deducted)
        name, data = next_event()
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual((name, data["available"]), ("credits.balance", 275))
        connection.close()

    def test_a_survivor_settles_the_sessions_of_a_killed_server_up_to_their_last_checkpoint(self):
        users = [self.cluster.user(1000) for _ in range(3)]

        async def scenario():
            sockets = [await self.connect(self.servers[0], user).__aenter__() for user in users]
            for ws in sockets:
                await self.next_event(ws, "session.started")
            await self.next_event(sockets[0], "credits.checkpoint", timeout=3)
            await asyncio.sleep(1.2)
            self.servers[0].process.send_signal(signal.SIGKILL)
            self.servers[0].process.wait()
            for ws in sockets:
                ws.transport.abort()

        asyncio.run(scenario())
        deadline = time.monotonic() + 15
        while (self.servers[1].query("SELECT COUNT(*) FROM live_sessions WHERE status = 'active'") != [(0,)]
               and time.monotonic() < deadline):
            time.sleep(0.2)
        self.assertTrue(any("of a dead instance" in line for s in self.servers[1:] for line in s.log))
        rows = self.servers[1].query("SELECT end_reason, charged, active_ms, user_id, ticks FROM live_sessions")
        self.assertEqual(len(rows), 3)
        for reason, charged, active_ms, user, ticks in rows:
            self.assertEqual(reason, "connection_lost")
            self.assertGreater(charged, 0)
            self.assertEqual(charged, due(active_ms))
            balance = self.cluster.balance(user, server=2)
            self.assertEqual((balance["held"], balance["posted"]), (0, 1000 - charged))
        # One row per tick charged, and none twice (the key forbids it; counted here).
        self.assertEqual(self.servers[1].query("SELECT COUNT(*) FROM (SELECT session_id, tick FROM live_charges "
                                               "GROUP BY session_id, tick HAVING COUNT(*) > 1) t"), [(0,)])
        self.assertGreater(self.servers[1].query("SELECT COUNT(*) FROM live_charges")[0][0], 0)
        self.cluster.verify()


if __name__ == "__main__":
    unittest.main()
