"""AI search and recommendations over HTTP on the demo catalog: a search is charged once per
Idempotency-Key and only when it ran, a short wallet gets 402 with nothing charged, suggestions
and cached recommendations are free, a refresh is charged, watched titles never come back, and
admins import (JSON and CSV, with a report per row) and edit titles, which search finds at once."""

import os
import time
import unittest
import uuid

from harness import Server, sign_in

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "demo", "catalog.json")
ORIGIN = "http://127.0.0.1:8080"


class AiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(env={"BETA500_MAIL_POLL_INTERVAL_MS": "20", "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0",
                                 "BETA500_AI_RETRAIN_SECONDS": "1"})
        imported = cls.server.cli("catalog", "import", DEMO)
        assert "created 3200" in imported.stdout, imported.stdout
        cls.server.start()
        cls.admin = cls.server.last_line("tokens", "create", "--scope", "admin")
        deadline = time.monotonic() + 30
        while "search index built" not in "".join(cls.server.log):
            assert time.monotonic() < deadline, "the search index was not built"
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def person(self, credits):
        email = f"p-{uuid.uuid4().hex[:8]}@example.com"
        user = self.server.last_line("users", "create", "--email", email)
        if credits:
            granted = self.server.request("POST", "/api/v1/admin/credits/grants",
                                          {"user_id": user, "amount": credits, "reason": "test"},
                                          token=self.admin, key=str(uuid.uuid4()))
            self.assertEqual(granted.status, 201, granted)
        cookie, csrf = sign_in(self.server, email)
        return {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": ORIGIN}

    def available(self, headers):
        return self.server.request("GET", "/api/v1/me/credits", headers=headers).json["available"]

    def search(self, headers, query, key=None, **extra):
        return self.server.request("POST", "/api/v1/search", {"query": query, **extra}, headers=headers,
                                   key=key if key is not None else str(uuid.uuid4()))

    def test_a_search_is_charged_once_per_key(self):
        me = self.person(10)
        key = str(uuid.uuid4())
        first = self.search(me, "thrillers from the 90s rated above 8", key=key)
        self.assertEqual(first.status, 200, first)
        titles = sorted(hit["title"] for hit in first.json["hits"])
        self.assertEqual(titles, ["Fargo", "LÈon", "Se7en", "The Silence of the Lambs", "The Sixth Sense"])
        self.assertEqual(first.json["total"], 5)
        self.assertEqual(sum(f["count"] for f in first.json["facets"]["genre"]), 5)
        self.assertIn("genre: Thriller/Suspense", first.json["understood"])
        self.assertEqual(first.json["charge"]["amount"], 1)
        self.assertEqual(self.available(me), 9)
        again = self.search(me, "thrillers from the 90s rated above 8", key=key)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        self.assertEqual(self.available(me), 9)
        # The key names one search: reused for another query it is refused, and nothing is charged.
        reused = self.search(me, "horror from the 80s", key=key)
        self.assertEqual(reused.status, 422, reused)
        self.assertEqual(self.available(me), 9)
        corrected = self.search(me, "jurasic park")
        self.assertEqual(corrected.json["hits"][0]["title"], "Jurassic Park")
        self.assertEqual(corrected.json["corrected_query"], "jurassic park")
        self.assertEqual(self.available(me), 8)

    def test_a_short_wallet_is_refused_and_nothing_is_charged(self):
        me = self.person(0)
        refused = self.search(me, "comedies")
        self.assertEqual(refused.status, 402, refused)
        self.assertEqual(refused.json["code"], "insufficient_credits")
        self.assertEqual(refused.json["available"], 0)
        self.assertEqual(self.available(me), 0)
        # Bad input costs nothing either.
        rich = self.person(5)
        for body in [{"query": ""}, {"query": "x" * 501}, {"query": "a", "limit": 51}, {"query": "a", "decade": 1995}]:
            answer = self.server.request("POST", "/api/v1/search", body, headers=rich, key=str(uuid.uuid4()))
            self.assertEqual(answer.status, 422, body)
        no_key = self.server.request("POST", "/api/v1/search", {"query": "a"}, headers=rich)
        self.assertEqual(no_key.status, 400)
        self.assertEqual(self.available(rich), 5)
        # At the edges: a 500-byte query, 50 hits, offset 1000 and the 1990s are accepted (and charged).
        for body in [{"query": "x" * 500}, {"query": "love", "limit": 50}, {"query": "love", "offset": 1000},
                     {"query": "love", "decade": 1990}]:
            answer = self.server.request("POST", "/api/v1/search", body, headers=rich, key=str(uuid.uuid4()))
            self.assertEqual(answer.status, 200, body)
        self.assertEqual(self.server.request("POST", "/api/v1/search", {"query": "love", "offset": 1001},
                                             headers=rich, key=str(uuid.uuid4())).status, 422)
        self.assertEqual(self.available(rich), 1)

    def test_suggestions_are_free(self):
        me = self.person(1)
        for _ in range(3):
            answer = self.server.request("GET", "/api/v1/search/suggest?q=jurass", headers=me)
            self.assertEqual(answer.status, 200)
            self.assertEqual(answer.json["items"][0]["title"], "Jurassic Park")
        self.assertEqual(self.available(me), 1)

    def test_recommendations_follow_history_and_a_refresh_is_charged(self):
        me = self.person(12)
        self.assertEqual(self.server.request("GET", "/api/v1/recommendations", headers=me).status, 404)
        watched = []
        for query in ["directed by steven spielberg"]:
            hits = self.search(me, query, limit=6).json["hits"]
            watched = [hit["title_id"] for hit in hits]
        for title_id in watched:
            recorded = self.server.request("POST", "/api/v1/me/history",
                                           {"title_id": title_id, "progress_percent": 100, "rating": 9}, headers=me)
            self.assertEqual(recorded.status, 204, recorded)
        self.assertEqual(self.server.request("POST", "/api/v1/me/history", {"title_id": "999999"}, headers=me).status, 404)
        refresh_key = str(uuid.uuid4())
        refreshed = self.server.request("POST", "/api/v1/recommendations/refresh", headers=me, key=refresh_key)
        self.assertEqual(refreshed.status, 200, refreshed)
        items = refreshed.json["items"]
        self.assertEqual(len(items), 10)
        scores = [item["score"] for item in items]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertTrue(all(0 <= score <= 100 for score in scores))
        self.assertFalse({item["title_id"] for item in items} & set(watched))
        self.assertTrue(any(item["reason"].startswith("because you watched") for item in items))
        self.assertEqual(self.available(me), 12 - 1 - 5)
        # A retried refresh (same key) is not a new one: same list, no second charge.
        retried = self.server.request("POST", "/api/v1/recommendations/refresh", headers=me, key=refresh_key)
        self.assertEqual((retried.status, retried.headers.get("idempotent-replayed")), (200, "true"))
        self.assertEqual(retried.json["items"], items)
        cached = self.server.request("GET", "/api/v1/recommendations", headers=me)
        self.assertEqual(cached.json["items"], items)
        self.assertEqual(self.available(me), 6)
        self.assertEqual(self.server.request("POST", "/api/v1/recommendations/refresh", headers=me,
                                             key=str(uuid.uuid4())).status, 200)
        short = self.server.request("POST", "/api/v1/recommendations/refresh", headers=me, key=str(uuid.uuid4()))
        self.assertEqual(short.status, 402)
        self.assertEqual(self.available(me), 1)

    def test_admins_import_and_edit_titles(self):
        key = uuid.uuid4().hex[:6]
        imported = self.server.request("POST", "/api/v1/admin/catalog/import", [
            {"source_id": f"t-{key}-1", "title": f"Glimmerwick Saga {key}", "year": 2003, "genres": ["Fantasy"]},
            {"title": "No year", "year": 1700},
        ], token=self.admin)
        self.assertEqual(imported.status, 200, imported)
        self.assertEqual(imported.json["counts"], {"created": 1, "updated": 0, "unchanged": 0, "invalid": 1})
        self.assertIn("year", imported.json["rows"][1]["error"])
        title_id = imported.json["rows"][0]["id"]
        me = self.person(5)
        found = self.search(me, f"glimmerwick saga {key}").json["hits"]
        self.assertEqual(found[0]["title_id"], title_id)
        csv = f"source_id,title,year,genres\nt-{key}-1,Glimmerwick Saga {key},2004,Fantasy|Adventure\n"
        again = self.server.request("POST", "/api/v1/admin/catalog/import", csv, token=self.admin,
                                    headers={"Content-Type": "text/csv"})
        self.assertEqual(again.json["counts"]["updated"], 1)
        edited = self.server.request("PUT", f"/api/v1/admin/catalog/titles/{title_id}",
                                     {"title": f"Moonfrost Chronicle {key}", "year": 2005}, token=self.admin)
        self.assertEqual(edited.status, 200, edited)
        self.assertEqual(self.search(me, f"moonfrost chronicle {key}").json["hits"][0]["title_id"], title_id)
        detail = self.server.request("GET", f"/api/v1/titles/{title_id}", headers=me)
        self.assertEqual((detail.json["title"], detail.json["source_id"]), (f"Moonfrost Chronicle {key}", f"t-{key}-1"))
        audit = self.server.request("GET", f"/api/v1/admin/audit?target=title:{title_id}", token=self.admin)
        self.assertEqual(audit.json["items"][0]["action"], "catalog.edit")
        self.assertEqual(self.server.request("POST", "/api/v1/admin/catalog/import", "x", token=self.admin,
                                             headers={"Content-Type": "text/plain"}).status, 415)
        self.assertEqual(self.server.request("POST", "/api/v1/admin/catalog/import", {"title": "A"},
                                             token=self.admin).status, 422)

    def test_a_history_holds_at_most_5000_titles(self):
        me = self.person(0)
        user = self.server.request("GET", "/api/v1/me", headers=me).json["id"]
        # 4,999 titles watched already, written straight into the database (SQL both take).
        self.server.query("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1999) "
                          "INSERT INTO titles (source_id, title, updated_at) "
                          "SELECT 'history-' || ? || '-' || i, 'Filler ' || i, 0 FROM n", user)
        ids = [row[0] for row in self.server.query("SELECT id FROM titles ORDER BY id LIMIT 5001")]
        self.server.query("INSERT INTO watch_history (user_id, title_id, views, updated_at) "
                          "SELECT CAST(? AS INTEGER), id, 1, 0 FROM (SELECT id FROM titles ORDER BY id LIMIT 4999) t",
                          user)
        record = lambda title: self.server.request("POST", "/api/v1/me/history", {"title_id": str(title)}, headers=me)
        self.assertEqual(record(ids[4999]).status, 204)  # the 5,000th
        full = record(ids[5000])
        self.assertEqual((full.status, full.json["code"]), (422, "history_full"))
        self.assertEqual(record(ids[0]).status, 204)  # a title already held still records

    def test_cli_import_reports_rows(self):
        path = os.path.join(self.server.data_dir, "bad.json")
        with open(path, "w") as out:
            out.write('[{"title": "Fine"}, {"title": "Bad", "rating": 12}]')
        result = self.server.cli("catalog", "import", path, check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("row 2: rating", result.stdout)
        self.assertIn("created 1, updated 0, unchanged 0, invalid 1", result.stdout)

    def test_the_running_server_picks_up_a_cli_import(self):
        path = os.path.join(self.server.data_dir, "new.json")
        with open(path, "w") as out:
            out.write('[{"title": "Xylophone Quasar Nocturne", "year": 1999, "source_id": "cli-1"}]')
        self.assertEqual(self.server.cli("catalog", "import", path).returncode, 0)
        me = self.person(30)
        deadline = time.monotonic() + 15
        while True:
            hits = self.search(me, "xylophone quasar nocturne").json["hits"]
            if hits and hits[0]["title"] == "Xylophone Quasar Nocturne":
                break
            self.assertLess(time.monotonic(), deadline, "the index did not pick up the import")
            time.sleep(0.5)


if __name__ == "__main__":
    unittest.main()
