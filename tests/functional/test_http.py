"""Proves the HTTP conventions on the real server: health, readiness and metrics, the OpenAPI
document, 404/405 problems, request ids, and every limit at its edge (body size, header size,
open connections, idle time)."""

import socket
import time
import unittest

from harness import Server

BODY_MAX = 1024
HEADER_MAX = 2048
CONNECTIONS_MAX = 4


def raw_request(port, data, read_bytes=4096):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        return connection.recv(read_bytes).decode(errors="replace")


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(env={
            "BETA500_SERVER_BODY_BYTES_MAX": str(BODY_MAX),
            "BETA500_SERVER_HEADER_BYTES_MAX": str(HEADER_MAX),
            "BETA500_SERVER_CONNECTIONS_MAX": str(CONNECTIONS_MAX),
            "BETA500_SERVER_IDLE_TIMEOUT_SECONDS": "1",
        }).__enter__()
        cls.token = cls.server.last_line("tokens", "create", "--scope", "admin")

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_health_and_readiness(self):
        self.assertEqual(self.server.request("GET", "/healthz").json, {"status": "ok"})
        self.assertEqual(self.server.request("GET", "/readyz").json, {"status": "ready"})

    def test_metrics_are_prometheus_text(self):
        self.server.request("GET", "/healthz")
        self.server.request("POST", "/api/v1/admin/credits/grants",
                            {"user_id": "999", "amount": 1, "reason": "r"}, token=self.token, key="m1")
        text = self.server.request("GET", "/metrics").raw
        self.assertIn('beta500_http_requests_total{route="/healthz",method="GET",status="200"}', text)
        self.assertIn("# TYPE beta500_http_request_duration_seconds histogram", text)
        self.assertIn('beta500_ledger_operations_total{kind="grant",result="user_not_found"} 1', text)
        self.assertIn("beta500_ledger_queue_depth", text)
        self.assertIn("beta500_ledger_batch_size_bucket", text)
        self.assertNotIn(self.token, text)

    def test_openapi_document_is_served(self):
        document = self.server.request("GET", "/api/v1/openapi.json").json
        self.assertTrue(document["openapi"].startswith("3.1"))
        self.assertIn("/api/v1/credits/deduct", document["paths"])

    def test_not_found_and_method_not_allowed(self):
        missing = self.server.request("GET", "/api/v1/nothing-here")
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.headers["content-type"], "application/problem+json")
        self.assertEqual(missing.json["code"], "not_found")
        self.assertEqual(missing.json["instance"], "/api/v1/nothing-here")
        wrong = self.server.request("DELETE", "/healthz")
        self.assertEqual((wrong.status, wrong.json["code"]), (405, "method_not_allowed"))
        self.assertEqual(wrong.headers["allow"], "GET")

    def test_request_ids(self):
        echoed = self.server.request("GET", "/healthz", headers={"X-Request-Id": "abc-123"})
        self.assertEqual(echoed.headers["x-request-id"], "abc-123")
        replaced = self.server.request("GET", "/healthz", headers={"X-Request-Id": "bad id!"})
        self.assertNotEqual(replaced.headers["x-request-id"], "bad id!")
        self.assertEqual(len(replaced.headers["x-request-id"]), 16)

    def test_body_limit_edge(self):
        def post(size):
            body = '{"user_id":"1","amount":1,"reason":"' + "r" * (size - 38) + '"}'
            self.assertEqual(len(body), size)
            return self.server.request("POST", "/api/v1/admin/credits/grants", body,
                                       token=self.token, key=f"b{size}")
        at_limit = post(BODY_MAX)
        self.assertNotEqual(at_limit.status, 413)
        over = post(BODY_MAX + 1)
        self.assertEqual((over.status, over.json["code"]), (413, "payload_too_large"))

    def test_header_limit_edge(self):
        def send(total):
            head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
            tail = "\r\n\r\n"
            data = (head + "a" * (total - len(head) - len(tail)) + tail).encode()
            self.assertEqual(len(data), total)
            return raw_request(self.server.port, data).split("\r\n")[0]
        self.assertEqual(send(HEADER_MAX), "HTTP/1.1 200 OK")
        self.assertEqual(send(HEADER_MAX + 1), "HTTP/1.1 431 Request Header Fields Too Large")

    def test_malformed_request(self):
        self.assertTrue(raw_request(self.server.port, b"NOT HTTP AT ALL\r\n\r\n").startswith("HTTP/1.1 400"))

    def test_connection_limit_edge(self):
        time.sleep(1.5)  # let idle connections from other tests close
        held = []
        try:
            for _ in range(CONNECTIONS_MAX):
                connection = self.server.connect()
                self.assertEqual(self.server.request("GET", "/healthz", connection=connection).status, 200)
                held.append(connection)
            refused = self.server.request("GET", "/healthz")
            self.assertEqual((refused.status, refused.json["code"]), (503, "too_many_connections"))
            self.assertEqual(refused.headers["retry-after"], "1")
            held.pop().close()
            time.sleep(0.2)
            self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        finally:
            for connection in held:
                connection.close()

    def test_idle_connection_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn("200 OK", connection.recv(4096).decode())
            started = time.monotonic()
            self.assertEqual(connection.recv(4096), b"")  # closed by the server
            waited = time.monotonic() - started
        self.assertGreater(waited, 0.8)
        self.assertLess(waited, 3)


if __name__ == "__main__":
    unittest.main()
