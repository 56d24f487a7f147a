"""Proves durability and shutdown on the real server: `kill -9` during a write load loses no
acknowledged operation and duplicates none (and `ledger verify` passes after it); SIGTERM
drains and exits cleanly; a second server cannot open the same data directory."""

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
import unittest

from harness import Server

CLIENTS = 8
LOAD_SECONDS = 1.5


class CrashTest(unittest.TestCase):
    def seed(self, server, credits):
        """A user holding `credits`, and an admin token."""
        user = server.last_line("users", "create", "--email", "ada@example.com")
        token = server.last_line("tokens", "create", "--scope", "admin")
        self.assertEqual(server.request("POST", "/api/v1/admin/credits/grants",
                                        {"user_id": user, "amount": credits, "reason": "r"},
                                        token=token, key="seed").status, 201)
        return user, token

    def test_kill_9_during_writes_loses_and_duplicates_nothing(self):
        with Server() as server:
            user, token = self.seed(server, 1_000_000_000)
            acknowledged = {}  # key -> transfer id
            sent = []
            lock = threading.Lock()
            stop = threading.Event()

            def client(number):
                connection = server.connect(timeout=5)
                body = json.dumps({"user_id": user, "amount": 1, "feature": "ai_search"})
                for i in range(1_000_000):
                    if stop.is_set():
                        return
                    key = f"c{number}-{i}"
                    with lock:
                        sent.append(key)
                    try:
                        connection.request("POST", "/api/v1/credits/deduct", body=body, headers={
                            "Authorization": "Bearer " + token, "Idempotency-Key": key,
                            "Content-Type": "application/json"})
                        response = connection.getresponse()
                        payload = response.read()
                    except (OSError, http.client.HTTPException):
                        return  # the server is gone
                    if response.status == 200:
                        with lock:
                            acknowledged[key] = json.loads(payload)["transfer_id"]

            threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            time.sleep(LOAD_SECONDS)
            server.process.kill()  # SIGKILL mid-load
            server.process.wait()
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self.assertGreater(len(acknowledged), 100)

            verify = server.cli("ledger", "verify", check=False)
            self.assertEqual(verify.returncode, 0, verify.stdout)

            database = sqlite3.connect(os.path.join(server.data_dir, "beta500.sqlite3"))
            counts = dict(database.execute(
                "SELECT idempotency_key, COUNT(*) FROM transfers WHERE kind = 'usage' "
                "GROUP BY idempotency_key").fetchall())
            ids = dict(database.execute(
                "SELECT idempotency_key, id FROM transfers WHERE kind = 'usage'").fetchall())
            database.close()
            for key, transfer_id in acknowledged.items():
                self.assertEqual(counts.get(key), 1, key)
                self.assertEqual(str(ids[key]), transfer_id)
            self.assertTrue(all(count == 1 for count in counts.values()))
            self.assertTrue(set(counts) <= set(sent))

            server.start()
            balance = server.request("GET", f"/api/v1/credits/balances/{user}", token=token).json
            self.assertEqual(balance["posted"], 1_000_000_000 - len(counts))
            # Retrying an acknowledged key after the crash replays it: no second effect.
            key, transfer_id = next(iter(acknowledged.items()))
            replay = server.request("POST", "/api/v1/credits/deduct",
                                    {"user_id": user, "amount": 1, "feature": "ai_search"},
                                    token=token, key=key)
            self.assertEqual(replay.headers.get("idempotent-replayed"), "true")
            self.assertEqual(replay.json["transfer_id"], transfer_id)

    def test_sigterm_drains_and_exits_cleanly(self):
        with Server() as server:
            user, token = self.seed(server, 5)
            idle = server.connect()
            self.assertEqual(server.request("GET", "/healthz", connection=idle).status, 200)
            started = time.monotonic()
            self.assertEqual(server.stop(signal.SIGTERM), 0)
            self.assertLess(time.monotonic() - started, 5)  # idle keep-alive does not hold it up
            idle.close()
            log = "".join(server.log)
            self.assertIn('msg="shutting down" signal=15', log)
            self.assertIn("msg=stopped", log)
            server.start()
            self.assertEqual(server.request("GET", f"/api/v1/credits/balances/{user}",
                                            token=token).json["posted"], 5)

    def test_one_server_per_data_directory(self):
        with Server() as first:
            second = first.cli("serve", "--listen", "127.0.0.1:0", check=False)
            self.assertEqual(second.returncode, 1)
            self.assertIn("another beta500 server is using the data directory", second.stderr)


if __name__ == "__main__":
    unittest.main()
