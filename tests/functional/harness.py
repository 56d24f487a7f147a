"""Starts the built beta500 binary on a free loopback port with a temporary data directory and
talks to it over real HTTP (Python's standard library only)."""

import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid

BINARY = os.environ.get("BETA500_BINARY", "build/src/app/beta500")
START_TIMEOUT_SECONDS = 15
# When set, every server runs on this PostgreSQL, in a database of its own (one per data
# directory, so a restarted server finds its data); otherwise on SQLite in its data directory.
POSTGRES_URL = os.environ.get("BETA500_TEST_POSTGRES_URL")


def postgres_url(database):
    """POSTGRES_URL with another database name."""
    return re.sub(r"^(postgres(?:ql)?://[^/?]*/)[^?]*", lambda m: m.group(1) + database, POSTGRES_URL)


def psql(sql, database="postgres", url=None):
    """Runs SQL on the test PostgreSQL (or at `url`); returns its rows as lists of text."""
    result = subprocess.run(["psql", url or postgres_url(database), "-X", "-A", "-t", "-F", "\t", "-P", "null=\\N",
                             "-v", "ON_ERROR_STOP=1",
                             "-c", sql], capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        content_type = headers.get("content-type", "")
        self.json = json.loads(body) if "json" in content_type and body else None

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Server:
    """One beta500 process. Use as a context manager; the data directory is removed after."""

    def __init__(self, env=None, data_dir=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="beta500-functional-")
        self.env = dict(os.environ, **(env or {}))
        self.database = None
        if POSTGRES_URL and "BETA500_DATABASE_URL" not in (env or {}):
            self.database = "b5_" + uuid.uuid5(uuid.NAMESPACE_URL, os.path.realpath(self.data_dir)).hex[:16]
            if not psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"):
                psql(f"CREATE DATABASE {self.database}")
            self.env["BETA500_DATABASE_URL"] = postgres_url(self.database)
        self.process = None
        self.port = None
        self.log = []

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process:
            self.process.stdout.close()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.database:
                psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")

    def cli(self, *args, check=True):
        result = subprocess.run([BINARY, "--data-dir", self.data_dir, *args], env=self.env,
                                capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"beta500 {' '.join(args)} failed: {result.stderr}")
        return result

    @property
    def postgres(self):
        return self.env.get("BETA500_DATABASE_URL", "sqlite") != "sqlite"

    def query(self, sql, *args):
        """Runs SQL with `?` parameters on the server's database; returns its rows as tuples (on
        PostgreSQL, through psql: integers come back as int, NULL as None)."""
        if not self.postgres:
            with sqlite3.connect(os.path.join(self.data_dir, "beta500.sqlite3"), timeout=10) as connection:
                return connection.execute(sql, args).fetchall()
        parts = sql.split("?")
        literal = parts[0]
        for arg, part in zip(args, parts[1:]):
            literal += ("NULL" if arg is None else str(arg) if isinstance(arg, int)
                        else "'" + str(arg).replace("'", "''") + "'") + part
        return [tuple(None if field == "\\N" else int(field) if re.fullmatch(r"-?\d+", field) else field
                      for field in row) for row in psql(literal, url=self.env["BETA500_DATABASE_URL"])]

    def last_line(self, *args):
        return self.cli(*args).stdout.strip().splitlines()[-1]

    def start(self):
        if self.process:
            self.process.stdout.close()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait()
                raise AssertionError("server exited during start-up: " + "".join(self.log))
            self.log.append(line)
            if "msg=listening" in line:
                address = line.split("address=")[1].split()[0]
                self.port = int(address.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise AssertionError("server did not start in time")

    def _drain(self):
        for line in self.process.stdout:
            self.log.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def connect(self, timeout=10, source=None):
        """A connection to the server; `source` (a loopback address such as 127.0.0.2) stands for
        another client."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)

    def request(self, method, path, body=None, token=None, key=None, headers=None, connection=None, source=None):
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        if key is not None:
            all_headers["Idempotency-Key"] = key
        payload = None
        if body is not None:
            payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        own = connection is None
        connection = connection or self.connect(source=source)
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read().decode()
            headers_lower = {}
            for name, value in response.getheaders():
                # Repeated fields (Set-Cookie) are joined, in the order sent.
                name = name.lower()
                headers_lower[name] = headers_lower[name] + ", " + value if name in headers_lower else value
            return Response(response.status, headers_lower, raw)
        finally:
            if own:
                connection.close()


class LedgerFixture:
    """A running server with one user and an admin and a service token."""

    def setUp(self):
        self.server = Server().__enter__()
        self.user = self.server.last_line("users", "create", "--email", "ada@example.com")
        self.admin = self.server.last_line("tokens", "create", "--scope", "admin")
        self.service = self.server.last_line("tokens", "create", "--scope", "service")

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def post(self, path, body, token=None, key=None):
        return self.server.request("POST", path, body, token=token or self.admin,
                                   key=key if key is not None else str(uuid.uuid4()))

    def grant(self, amount, user=None, **extra):
        return self.post("/api/v1/admin/credits/grants",
                         {"user_id": user or self.user, "amount": amount, "reason": "test", **extra})

    def balance(self, user=None):
        return self.server.request("GET", f"/api/v1/credits/balances/{user or self.user}",
                                   token=self.service).json


def mailed_tokens(server, path, email):
    """The tokens of every link to `path` (e.g. "magic-link/callback", "verify-email") the log
    mail transport printed for `email`, oldest first."""
    pattern = re.compile(r"to=\"?" + re.escape(email) + r".*?/api/v1/auth/" + path + r"\?token=([A-Za-z0-9_-]+)")
    return pattern.findall("".join(server.log))


def mailed_token(server, path, email, before=0, timeout=5):
    """The newest such token once more than `before` were mailed."""
    deadline = time.monotonic() + timeout
    while len(mailed_tokens(server, path, email)) <= before:
        assert time.monotonic() < deadline, f"no {path} link was mailed to {email}"
        time.sleep(0.02)
    return mailed_tokens(server, path, email)[-1]


def sign_in(server, email):
    """Signs `email` in with a magic link (the server must run with the log mail transport and
    allow at once a new link: BETA500_AUTH_SIGN_IN_RESEND_SECONDS=0); returns (cookie, csrf)."""
    before = len(mailed_tokens(server, "magic-link/callback", email))
    assert server.request("POST", "/api/v1/auth/magic-link", {"email": email}).status == 202
    token = mailed_token(server, "magic-link/callback", email, before)
    signed_in = server.request("POST", "/api/v1/auth/magic-link/callback", f"token={token}",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert signed_in.status == 303, signed_in
    cookie = signed_in.headers["set-cookie"].split(";")[0]
    me = server.request("GET", "/api/v1/me", headers={"Cookie": cookie})
    return cookie, me.json["csrf_token"]
