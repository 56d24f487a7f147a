"""Chaos: several beta500 servers on one PostgreSQL of the run's own (a private cluster on a Unix
socket), clients doing ledger operations with idempotent retries across the servers, and live
WebSocket sessions spread over them; meanwhile servers are killed with SIGKILL and started again,
and PostgreSQL is restarted. Afterwards the ledger's invariants must hold exactly.

    chaos.py [--servers 3] [--clients 64] [--sessions 300] [--kills 10] [--seconds 60]

Bounded: it ends after --seconds of chaos (and at most 3 minutes more to finish what is in
flight and check), and exits 1 with the broken invariants listed. `make chaos` runs a longer
version; ctest runs the default one.
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "functional"))
import harness  # noqa: E402
from test_instances import ENV, due  # noqa: E402

CLUSTER_SCRIPT = os.path.join(HERE, "..", "..", "scripts", "postgres-cluster.sh")
OPERATION_DEADLINE_SECONDS = 120  # an operation not acknowledged by then fails the run
LEDGER_USERS = 16  # shared by all clients: their wallets are contended across servers
SESSION_USERS = 64
SESSION_CONCURRENCY = 24


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.cluster_dir = f"/tmp/beta500-chaos-{os.getpid()}"
        self.url = subprocess.run(["bash", CLUSTER_SCRIPT, "start", self.cluster_dir], check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()[-1]
        # Holds past their time (a start whose server was killed before the session was recorded)
        # expire within a second.
        env = dict(ENV, BETA500_DATABASE_URL=self.url, BETA500_SERVER_STREAM_OUTBOX_MAX="1024",
                   BETA500_LEDGER_EXPIRY_INTERVAL_SECONDS="1")
        self.servers = [harness.Server(env=env) for _ in range(args.servers)]
        self.lock = threading.Lock()
        self.acknowledged = []  # (kind, key, user, amount, status, body)
        self.retries = 0
        self.failures = []
        self.sessions_started = 0
        self.client_seconds = {}  # session id -> how long its client had it open
        self.sessions_refused = 0
        self.kills = 0
        self.postgres_restarts = 0
        self.stop = threading.Event()

    # --- servers ---------------------------------------------------------------------------------
    def alive(self):
        return [s for s in self.servers if s.process and s.process.poll() is None and s.port]

    def start(self):
        for server in self.servers:
            server.start()
        self.admin = self.servers[0].last_line("tokens", "create", "--scope", "admin")
        self.service = self.servers[0].last_line("tokens", "create", "--scope", "service")
        self.ledger_users = [self.servers[0].last_line("users", "create", "--email", f"l{i}@example.com")
                             for i in range(LEDGER_USERS)]
        self.session_users = [self.servers[0].last_line("users", "create", "--email", f"s{i}@example.com")
                              for i in range(SESSION_USERS)]

    def chaos(self):
        """Kills a random server and starts it again, --kills times spread over the run; restarts
        PostgreSQL once, halfway."""
        pause = self.args.seconds / (self.args.kills + 1)
        for round_ in range(self.args.kills):
            if self.stop.wait(pause):
                return
            server = self.rng.choice(self.servers)
            server.process.kill()
            server.process.wait()
            server.port = None
            self.kills += 1
            if round_ == self.args.kills // 2:
                subprocess.run(["bash", CLUSTER_SCRIPT, "restart", self.cluster_dir], check=True,
                               capture_output=True)
                self.postgres_restarts += 1
            for attempt in range(5):
                try:
                    server.start()
                    break
                except AssertionError as failure:  # exited during start-up: the database was away
                    if attempt == 4:
                        self.failures.append(f"a server did not start again: {failure}")
                        return
                    time.sleep(1)

    # --- ledger clients --------------------------------------------------------------------------
    def call(self, method, path, body, token, key):
        """The request, retried on another server until one answers other than 5xx; returns the
        response."""
        deadline = time.monotonic() + OPERATION_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            servers = self.alive()
            if servers:
                try:
                    response = self.rng.choice(servers).request(method, path, body, token=token, key=key)
                    if response.status < 500:
                        return response
                except (OSError, http.client.HTTPException):  # a server killed mid-answer
                    pass
            with self.lock:
                self.retries += 1
            time.sleep(0.05)
        raise AssertionError(f"{method} {path} key {key} not acknowledged in {OPERATION_DEADLINE_SECONDS} s")

    def operation(self, kind, path, body, token):
        key = str(uuid.uuid4())
        response = self.call("POST", path, body, token, key)
        with self.lock:
            self.acknowledged.append((kind, key, body.get("user_id"), body.get("amount"), response.status,
                                      response.json))
        return response

    def grant(self, user, amount):
        return self.operation("grant", "/api/v1/admin/credits/grants",
                              {"user_id": user, "amount": amount, "reason": "chaos"}, self.admin)

    def client(self, index):
        rng = random.Random(self.args.seed * 1000 + index)
        try:
            while not self.stop.is_set():
                user = rng.choice(self.ledger_users)
                choice = rng.random()
                if choice < 0.15:
                    self.grant(user, rng.randint(1, 20))
                elif choice < 0.7:
                    self.operation("deduct", "/api/v1/credits/deduct",
                                   {"user_id": user, "amount": rng.randint(1, 30), "feature": "ai_search"},
                                   self.service)
                else:
                    hold = self.operation("hold", "/api/v1/credits/holds",
                                          {"user_id": user, "amount": rng.randint(10, 50), "ttl_seconds": 600,
                                           "feature": "live_dubbing"}, self.service)
                    if hold.status != 201:
                        continue
                    held = hold.json["hold"]
                    base = f"/api/v1/credits/holds/{held['id']}"
                    if rng.random() < 0.7:
                        self.operation("capture", base + "/capture",
                                       {"amount": rng.randint(1, held["amount"]), "final": True}, self.service)
                    else:
                        self.operation("release", base + "/release", {}, self.service)
        except Exception as failure:  # noqa: BLE001: any failure of a client fails the run
            with self.lock:
                self.failures.append(f"client {index}: {failure!r}")

    # --- live sessions ---------------------------------------------------------------------------
    async def session(self, user):
        servers = self.alive()
        if not servers:
            await asyncio.sleep(0.1)
            return
        port = self.rng.choice(servers).port  # read once: a server killed meanwhile has none
        if not port:
            return
        url = f"ws://127.0.0.1:{port}/api/v1/live/dubbing?user_id={user}"
        try:
            async with websockets.connect(url, extra_headers={"Authorization": "Bearer " + self.service},
                                          open_timeout=5, close_timeout=2) as ws:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] != "session.started":
                    self.sessions_refused += 1
                    return
                self.sessions_started += 1
                opened = time.monotonic()
                self.client_seconds[int(message["session_id"])] = 0.0
                end = opened + self.rng.uniform(0.5, 3.0)
                try:
                    while time.monotonic() < end:
                        try:
                            await asyncio.wait_for(ws.recv(), end - time.monotonic())
                        except asyncio.TimeoutError:
                            break
                finally:
                    self.client_seconds[int(message["session_id"])] = time.monotonic() - opened
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
            pass  # a killed server, a refused start: the database says what happened

    async def sessions(self):
        users = list(self.session_users)

        async def worker(slot):
            turn = slot
            while not self.stop.is_set() or self.sessions_started < self.args.sessions:
                await self.session(users[turn % len(users)])
                turn += SESSION_CONCURRENCY
                if self.stop.is_set() and time.monotonic() > self.hard_deadline:
                    return

        await asyncio.gather(*(worker(slot) for slot in range(SESSION_CONCURRENCY)))

    # --- the run ---------------------------------------------------------------------------------
    def guarded(self, what, body):
        """Runs `body`; any exception fails the run instead of ending a thread quietly."""
        try:
            body()
        except Exception as failure:  # noqa: BLE001
            with self.lock:
                self.failures.append(f"{what}: {failure!r}")

    def run(self):
        started = time.monotonic()
        self.start()
        for user in self.ledger_users:
            self.grant(user, 10_000)
        for user in self.session_users:
            self.grant(user, 2_000)
        self.hard_deadline = time.monotonic() + self.args.seconds + 120
        clients = [threading.Thread(target=self.client, args=(i,)) for i in range(self.args.clients)]
        sessions = threading.Thread(target=self.guarded, args=("live sessions", lambda: asyncio.run(self.sessions())))
        chaos = threading.Thread(target=self.guarded, args=("chaos", self.chaos))
        for thread in clients + [sessions, chaos]:
            thread.start()
        chaos.join()
        time.sleep(max(0.0, started + self.args.seconds - time.monotonic()))
        self.stop.set()
        for thread in clients + [sessions]:
            thread.join()
        self.settle()
        for server in self.servers:
            code = server.stop()
            if code != 0:
                self.failures.append(f"a server stopped with {code}")
        problems = self.check()
        print(json.dumps(self.summary(time.monotonic() - started, problems), indent=2))
        return problems

    def settle(self):
        """Waits until every live session has ended (the survivors settle those of killed servers
        once their lease has run out) and no hold is open (the hold of a start whose server was
        killed before the session was recorded expires with session.hold_ttl_seconds)."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.query("SELECT (SELECT COUNT(*) FROM live_sessions WHERE status = 'active'), "
                          "(SELECT COUNT(*) FROM holds WHERE status = 'open')") == [(0, 0)]:
                return
            time.sleep(0.5)

    def query(self, sql):
        return self.servers[0].query(sql)

    def check(self):
        problems = list(self.failures)
        verify = self.servers[0].cli("ledger", "verify", check=False)
        if verify.returncode != 0:
            problems.append("ledger verify: " + verify.stdout)
        if self.kills < self.args.kills or self.postgres_restarts < 1:
            problems.append(f"only {self.kills} kills and {self.postgres_restarts} PostgreSQL restarts")
        if self.sessions_started < self.args.sessions:
            problems.append(f"only {self.sessions_started} live sessions started")
        if self.query("SELECT COUNT(*) FROM live_sessions WHERE status = 'active'") != [(0,)]:
            problems.append("live sessions still active")
        if self.query("SELECT COUNT(*) FROM accounts WHERE user_id IS NOT NULL AND "
                      "credits_posted - debits_posted - debits_pending < 0") != [(0,)]:
            problems.append("a wallet is negative")

        # Every acknowledged operation took effect exactly once: its journal entries carry its key
        # and add up to its amount (a deduction may take from several lots).
        by_key = {key: (kind, amount) for key, kind, amount in self.query(
            "SELECT idempotency_key, kind, SUM(amount) FROM transfers WHERE idempotency_key <> '' "
            "AND kind IN ('grant', 'usage', 'hold', 'capture') GROUP BY idempotency_key, kind")}
        expected_posted = 0
        for kind, key, user, amount, status, body in self.acknowledged:
            if status >= 300:
                if key in by_key:
                    problems.append(f"refused {kind} {key} ({status}) left a {by_key[key]} entry")
                continue
            journal_kind = {"grant": "grant", "deduct": "usage", "hold": "hold", "capture": "capture"}.get(kind)
            if kind == "capture":
                amount = body["hold"]["captured"]
            if journal_kind and by_key.get(key) != (journal_kind, amount):
                problems.append(f"{kind} {key} of {amount}: journal has {by_key.get(key)}")
            if kind == "grant":
                expected_posted += amount
            elif kind in ("deduct", "capture"):
                expected_posted -= amount
        if len({key for _, key, *_ in self.acknowledged}) != len(self.acknowledged):
            problems.append("an idempotency key was used twice by the clients")

        # Live sessions: each checkpoint recorded once (one live_charges row per tick, none beyond
        # the final charge), every session charged exactly for its time up to its settlement, its
        # hold captured that much and closed, and no session served much longer than it was
        # charged for (its client's own clock; the slack is one checkpoint interval and one lease).
        sessions = self.query("SELECT s.id, s.charged, s.active_ms, s.end_reason, h.captured, h.status, s.ticks, "
                              "(SELECT COUNT(*) FROM live_charges c WHERE c.session_id = s.id), "
                              "(SELECT COALESCE(MAX(charged_total), 0) FROM live_charges c WHERE c.session_id = s.id) "
                              "FROM live_sessions s JOIN holds h ON h.id = s.hold_id")
        slack_ms = 1000 * (int(ENV["BETA500_SESSION_CHECKPOINT_INTERVAL_SECONDS"]) +
                           int(ENV["BETA500_SESSION_INSTANCE_LEASE_SECONDS"]) + 1)
        for session_id, charged, active_ms, reason, captured, status, ticks, rows, most in sessions:
            if charged != due(active_ms) or captured != charged or status == "open":
                problems.append(f"session {session_id} ({reason}): charged {charged} for {active_ms} ms "
                                f"(due {due(active_ms)}), hold captured {captured}, {status}")
            if rows != ticks or most > charged:
                problems.append(f"session {session_id}: {rows} checkpoint rows for {ticks} ticks, up to {most} "
                                f"of {charged}")
            client_ms = int(1000 * self.client_seconds.get(session_id, 0))
            if charged < due(client_ms - slack_ms):
                problems.append(f"session {session_id} ({reason}): open {client_ms} ms at its client, "
                                f"charged only {charged}")
        expected_posted -= sum(row[1] for row in sessions)

        # The sum of all balances is exact: what was granted, less what was spent.
        [(posted, held)] = self.query("SELECT SUM(credits_posted - debits_posted), SUM(debits_pending) "
                                      "FROM accounts WHERE user_id IS NOT NULL")
        if (posted, held) != (expected_posted, 0):
            problems.append(f"wallets hold {posted} posted and {held} held; expected {expected_posted} and 0")
        self.counts = {"sessions": len(sessions), "ticks": self.query("SELECT COUNT(*) FROM live_charges")[0][0],
                       "ended": dict(self.query("SELECT end_reason, COUNT(*) FROM live_sessions GROUP BY end_reason"))}
        return problems

    def summary(self, seconds, problems):
        statuses = {}
        for kind, _, _, _, status, _ in self.acknowledged:
            statuses[f"{kind} {status}"] = statuses.get(f"{kind} {status}", 0) + 1
        return {"seconds": round(seconds, 1), "servers": self.args.servers, "clients": self.args.clients,
                "kills": self.kills, "postgres_restarts": self.postgres_restarts,
                "operations_acknowledged": len(self.acknowledged), "retries": self.retries,
                "by_kind_and_status": statuses, "sessions_started": self.sessions_started,
                "sessions_refused": self.sessions_refused, **getattr(self, "counts", {}),
                "problems": problems}

    def close(self):
        for server in self.servers:
            server.__exit__(None, None, None)
        subprocess.run(["bash", CLUSTER_SCRIPT, "stop", self.cluster_dir], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    if not (2 <= args.servers <= 8 and 1 <= args.clients <= 256 and args.sessions <= 5000
            and args.kills <= 100 and 10 <= args.seconds <= 1800):
        parser.error("bounds: 2-8 servers, 1-256 clients, at most 5,000 sessions and 100 kills, 10-1,800 s")
    print(f"chaos seed {args.seed}", flush=True)
    chaos = Chaos(args)
    try:
        problems = chaos.run()
    finally:
        chaos.close()
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
