"""Sign-in with OpenID Connect against real providers on loopback (tests/oidc/providers.mjs): the
oidc-provider package for the flows, and a crafted provider for the attacks the server must
refuse. Every refusal is checked to create no session and no user."""

import concurrent.futures
import http.client
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

from harness import Server, mailed_token

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDERS_DIR = os.path.join(HERE, "..", "oidc")
PUBLIC = "http://127.0.0.1:8080"  # server.public_url: redirect URIs name it
CLIENT_SECRET = "s3cret+with/odd=chars"


class Browser:
    """A cookie-keeping HTTP client that never follows redirects on its own. Requests to the
    server's public URL go to the test server's real port."""

    def __init__(self, server):
        self.server = server
        self.cookies = {}  # host:port -> {name: value}

    def request(self, method, url, form=None, headers=None):
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        host, port = parts.hostname, parts.port
        if f"{parts.scheme}://{netloc}" == PUBLIC:
            host, port = "127.0.0.1", self.server.port
        all_headers = dict(headers or {})
        jar = self.cookies.setdefault(netloc, {})
        if jar:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(host, port, timeout=15)
        try:
            path = parts.path + ("?" + parts.query if parts.query else "")
            connection.request(method, path or "/", body=body, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    pair = value.split(";")[0]
                    cookie_name, _, cookie_value = pair.partition("=")
                    if "max-age=0" in value.lower() or cookie_value == "":
                        jar.pop(cookie_name, None)
                    else:
                        jar[cookie_name] = cookie_value
            location = response.getheader("Location")
            return response.status, (urllib.parse.urljoin(url, location) if location else None), text, \
                response.getheaders()
        finally:
            connection.close()

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def session_cookie(self):
        return self.cookies.get("127.0.0.1:8080", {}).get("b5_session")


def set_cookies(headers):
    return [value for name, value in headers if name.lower() == "set-cookie"]


class OidcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = subprocess.Popen(["node", "providers.mjs", PUBLIC + "/api/v1/auth/oidc", CLIENT_SECRET],
                                    cwd=PROVIDERS_DIR, stdout=subprocess.PIPE, text=True)
        cls.urls = json.loads(cls.node.stdout.readline())
        cls.config_dir = tempfile.mkdtemp(prefix="beta500-oidc-")
        config = os.path.join(cls.config_dir, "beta500.toml")
        with open(config, "w") as out:
            for name, url in cls.urls.items():
                out.write(f'[[oidc.providers]]\nname = "{name}"\ndisplay_name = "{name.title()}"\n'
                          f'issuer = "{url}"\nclient_id = "beta500"\nclient_secret = "{CLIENT_SECRET}"\n\n')
        cls.server = Server(env={"BETA500_CONFIG": config, "BETA500_MAIL_POLL_INTERVAL_MS": "50",
                                 "BETA500_AUTH_SIGN_IN_RESEND_SECONDS": "0",
                                 # Refused sign-ins by the dozen from one address are these tests' point.
                                 "BETA500_FRAUD_FAILED_SIGN_INS_PER_IP_THRESHOLD": "1000",
                                 "BETA500_OIDC_JWKS_REFETCH_SECONDS": "2",
                                 "BETA500_OIDC_JWKS_MAX_AGE_SECONDS": "3"}).__enter__()
        cls.admin = cls.server.last_line("tokens", "create", "--scope", "admin")

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.node.kill()
        cls.node.wait()
        cls.node.stdout.close()

    # --- helpers ---------------------------------------------------------------------------------
    def query(self, sql, *args):
        return self.server.query(sql, *args)

    def counts(self):
        return self.query("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM web_sessions), "
                          "(SELECT COUNT(*) FROM transfers WHERE kind = 'grant')")[0]

    def grants_of(self, email):
        return self.query("SELECT COUNT(*), SUM(amount) FROM transfers t JOIN accounts a ON a.id = "
                          "t.credit_account_id JOIN users u ON u.id = a.user_id WHERE u.email = ? AND "
                          "t.kind = 'grant'", email)[0]

    def invite(self, email, credits=250):
        response = self.server.request("POST", "/api/v1/admin/invitations",
                                       {"email": email, "initial_credits": credits}, token=self.admin)
        self.assertEqual(response.status, 201, response)
        return response.json["id"]

    def start(self, browser, provider, return_path=None):
        url = f"{PUBLIC}/api/v1/auth/oidc/{provider}/login"
        if return_path is not None:
            url += "?return=" + urllib.parse.quote(return_path, safe="")
        status, location, _, _ = browser.get(url)
        self.assertEqual(status, 302)
        return location

    def authorize_real(self, browser, account, return_path=None):
        """Signs `account` in at the real provider; returns the callback URL it sends back."""
        location = self.start(browser, "real", return_path)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        self.assertEqual(query["code_challenge_method"], ["S256"])
        self.assertEqual(len(query["code_challenge"][0]), 43)
        for _ in range(10):
            if location.startswith(PUBLIC):
                return location
            status, next_location, body, _ = browser.get(location)
            if status == 200 and 'name="login"' in body:
                action = re.search(r'action="([^"]+)"', body).group(1)
                status, next_location, body, _ = browser.request(
                    "POST", urllib.parse.urljoin(location, action),
                    form={"prompt": "login", "login": account, "password": "any"})
            self.assertIn(status, (302, 303), body[:500])
            location = next_location
        raise AssertionError("the provider did not send the browser back")

    def sign_in_real(self, browser, account, return_path=None):
        return browser.get(self.authorize_real(browser, account, return_path))

    def crafted(self, scenario=None, **kwargs):
        """Sets the crafted provider's scenario and runs one sign-in through it."""
        self.post_json(self.urls["crafted"] + "/scenario", scenario or {})
        browser = Browser(self.server)
        location = self.start(browser, "crafted")
        status, callback, _, _ = browser.get(location)
        self.assertEqual(status, 303)
        return browser, callback

    def post_json(self, url, value):
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("POST", parts.path, body=json.dumps(value))
        answer = json.loads(connection.getresponse().read())
        connection.close()
        return answer

    def stats(self):
        parts = urllib.parse.urlsplit(self.urls["crafted"])
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", "/stats")
        answer = json.loads(connection.getresponse().read())
        connection.close()
        return answer

    def assert_refused(self, browser, callback, status=400):
        before, cookie = self.counts(), browser.session_cookie()
        code, _, body, headers = browser.get(callback)
        self.assertEqual(code, status, body[:300])
        self.assertEqual(browser.session_cookie(), cookie)
        self.assertFalse(any(c.startswith("b5_session=") for c in set_cookies(headers)))
        self.assertEqual(self.counts(), before)

    def assert_signed_in(self, browser, callback, location="/"):
        status, where, body, _ = browser.get(callback)
        self.assertEqual(status, 303, body[:300])
        self.assertEqual(where, PUBLIC + location)
        cookie = browser.session_cookie()
        self.assertIsNotNone(cookie)
        me = self.server.request("GET", "/api/v1/me", headers={"Cookie": f"b5_session={cookie}"})
        self.assertEqual(me.status, 200)
        return me.json

    # --- flows against the real provider ---------------------------------------------------------
    def test_first_sign_in_enrolls_once_and_re_login_is_idempotent(self):
        self.invite("ada@example.com", credits=250)
        browser = Browser(self.server)
        me = self.assert_signed_in(browser, self.authorize_real(browser, "ada"))
        self.assertEqual(me["email"], "ada@example.com")
        self.assertTrue(me["email_verified"])
        self.assertEqual(me["display_name"], "ada")  # the provider's `name`
        issuer = self.urls["real"]
        self.assertEqual(self.query("SELECT COUNT(*) FROM identities WHERE issuer = ? AND subject = 'ada'",
                                    issuer), [(1,)])
        self.assertEqual(self.grants_of("ada@example.com"), (1, 250))
        # Again, in a new browser: the same user, no second grant, a new session.
        again = Browser(self.server)
        self.assertEqual(self.assert_signed_in(again, self.authorize_real(again, "ada"))["id"], me["id"])
        self.assertNotEqual(again.session_cookie(), browser.session_cookie())
        self.assertEqual(self.grants_of("ada@example.com"), (1, 250))

    def test_fifty_concurrent_first_sign_ins_enroll_once(self):
        self.invite("bo@example.com", credits=70)
        # Fifty browsers each complete the provider's login; then all come back at once.
        callbacks = []
        for _ in range(50):
            browser = Browser(self.server)
            callbacks.append((browser, self.authorize_real(browser, "bo")))
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(lambda pair: pair[0].get(pair[1])[0], callbacks))
        self.assertEqual(results, [303] * 50)
        self.assertEqual(self.query("SELECT COUNT(*) FROM users WHERE email = 'bo@example.com'"), [(1,)])
        self.assertEqual(self.query("SELECT status, COUNT(consumed_by) FROM invitations WHERE "
                                    "email = 'bo@example.com' GROUP BY status"), [("consumed", 1)])
        self.assertEqual(self.grants_of("bo@example.com"), (1, 70))
        self.assertEqual(len({browser.session_cookie() for browser, _ in callbacks}), 50)

    def test_uninvited_person_gets_no_account(self):
        browser = Browser(self.server)
        callback = self.authorize_real(browser, "nobody")
        before = self.counts()
        status, _, body, _ = browser.get(callback)
        self.assertEqual(status, 403)
        self.assertIn("not on the beta list", body)
        self.assertIsNone(browser.session_cookie())
        self.assertEqual(self.counts(), before)

    def test_unverified_email_is_not_enrolled_until_the_mailed_link_proves_it(self):
        self.invite("cy@example.com", credits=40)
        browser = Browser(self.server)
        callback = self.authorize_real(browser, "unverified-cy")
        before = self.counts()
        status, _, body, _ = browser.get(callback)
        self.assertEqual(status, 200)
        self.assertIn("Confirm your email address", body)
        self.assertIsNone(browser.session_cookie())
        self.assertEqual(self.counts(), before)
        token = mailed_token(self.server, "verify-email", "cy@example.com")
        # The link opens a button page; the POST proves the address and finishes the sign-in.
        status, _, body, _ = browser.get(f"{PUBLIC}/api/v1/auth/verify-email?token={token}")
        self.assertEqual(status, 200)
        self.assertIn('action="/api/v1/auth/verify-email"', body)
        status, location, _, _ = browser.request("POST", f"{PUBLIC}/api/v1/auth/verify-email",
                                                  form={"token": token})
        self.assertEqual((status, location), (303, PUBLIC + "/"))
        self.assertEqual(self.query("SELECT COUNT(*) FROM identities WHERE subject = 'unverified-cy'"), [(1,)])
        # From now on the provider's identity signs in directly.
        again = Browser(self.server)
        self.assertEqual(self.assert_signed_in(again, self.authorize_real(again, "unverified-cy"))["email"],
                         "cy@example.com")
        # The link was single use.
        status, _, _, _ = browser.request("POST", f"{PUBLIC}/api/v1/auth/verify-email", form={"token": token})
        self.assertEqual(status, 400)

    def test_a_verification_link_finishes_only_the_sign_in_of_its_own_browser(self):
        self.invite("vic@example.com")
        attacker = Browser(self.server)
        status, _, _, _ = attacker.get(self.authorize_real(attacker, "unverified-vic"))
        self.assertEqual(status, 200)
        token = mailed_token(self.server, "verify-email", "vic@example.com")
        # The address's owner opens the mail in their own browser: nothing is linked.
        victim = Browser(self.server)
        before = self.counts()
        status, _, body, _ = victim.request("POST", f"{PUBLIC}/api/v1/auth/verify-email", form={"token": token})
        self.assertEqual(status, 403)
        self.assertIn("Open this link where you signed in", body)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.query("SELECT COUNT(*) FROM identities WHERE subject = 'unverified-vic'"), [(0,)])

    def test_an_unvouched_address_never_links_an_existing_account(self):
        self.server.cli("users", "create", "--email", "wes@example.com")
        browser = Browser(self.server)
        status, _, body, _ = browser.get(self.authorize_real(browser, "unverified-wes"))
        self.assertEqual(status, 200)  # the same page as ever
        self.assertIn("Confirm your email address", body)
        time.sleep(0.3)
        self.assertNotIn("to=wes@example.com template=verification", "".join(self.server.log))
        self.assertEqual(self.query("SELECT COUNT(*) FROM identities WHERE subject = 'unverified-wes'"), [(0,)])

    def test_failed_grant_leaves_no_user_and_the_invitation_open(self):
        self.invite("dee@example.com", credits=30)
        browser = Browser(self.server)
        callback = self.authorize_real(browser, "dee")
        # An injected fault: the database refuses the grant's journal row.
        if self.server.postgres:
            self.query("CREATE FUNCTION refuse_grant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       "IF NEW.kind = 'grant' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$; "
                       "CREATE TRIGGER refuse_grant BEFORE INSERT ON transfers FOR EACH ROW "
                       "EXECUTE FUNCTION refuse_grant()")
        else:
            self.query("CREATE TRIGGER refuse_grant BEFORE INSERT ON transfers WHEN NEW.kind = 'grant' "
                       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
        try:
            self.assert_refused(browser, callback, status=503)
        finally:
            self.query("DROP TRIGGER refuse_grant" + (" ON transfers; DROP FUNCTION refuse_grant()"
                                                      if self.server.postgres else ""))
        self.assertEqual(self.query("SELECT COUNT(*) FROM users WHERE email = 'dee@example.com'"), [(0,)])
        self.assertEqual(self.query("SELECT status FROM invitations WHERE email = 'dee@example.com'"), [("open",)])
        self.assertEqual(self.query("SELECT COUNT(*) FROM identities WHERE subject = 'dee'"), [(0,)])
        # The person simply signs in again.
        again = Browser(self.server)
        self.assert_signed_in(again, self.authorize_real(again, "dee"))

    def test_return_path_is_local_only(self):
        self.invite("eve@example.com")
        browser = Browser(self.server)
        self.assert_signed_in(browser, self.authorize_real(browser, "eve", "/credits?tab=1"), "/credits?tab=1")
        for hostile in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "evil.example",
                        "/\tevil", "javascript:alert(1)"]:
            browser = Browser(self.server)
            self.assert_signed_in(browser, self.authorize_real(browser, "eve", hostile), "/")

    def test_state_attacks(self):
        self.invite("fay@example.com")
        victim = Browser(self.server)
        callback = self.authorize_real(victim, "fay")
        parts = urllib.parse.urlsplit(callback)
        query = dict(urllib.parse.parse_qsl(parts.query))
        base = f"{PUBLIC}{parts.path}?"
        # Missing state; forged state; a state replayed after use; the state in another browser.
        self.assert_refused(victim, base + urllib.parse.urlencode({"code": query["code"]}))
        self.assert_refused(victim, base + urllib.parse.urlencode({"code": query["code"], "state": "forged" * 7}))
        attacker = Browser(self.server)
        self.assert_refused(attacker, callback)  # spends the state: it came without the login cookie
        self.assert_refused(victim, callback)    # so the victim's own use is a replay now
        # A callback without a code.
        fresh = self.authorize_real(victim, "fay")
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fresh).query))["state"]
        self.assert_refused(victim, base + urllib.parse.urlencode({"state": state}))

    def test_code_replay_and_code_injection_fail_at_the_token_endpoint(self):
        self.invite("gus@example.com")
        browser = Browser(self.server)
        first = self.authorize_real(browser, "gus")
        self.assert_signed_in(browser, first)
        used_code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(first).query))["code"]
        # Code replay: a spent code with a fresh, valid state.
        fresh = self.authorize_real(browser, "gus")
        fresh_query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fresh).query))
        replay = f"{PUBLIC}/api/v1/auth/oidc/real/callback?" + urllib.parse.urlencode(
            {"code": used_code, "state": fresh_query["state"], "iss": fresh_query.get("iss", "")})
        self.assert_refused(browser, replay)
        # Code injection: an attacker's code (their own PKCE challenge) in the victim's sign-in,
        # so the server's verifier does not match: the provider refuses it.
        attacker = Browser(self.server)
        attacker_code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            self.authorize_real(attacker, "gus")).query))["code"]
        victim = Browser(self.server)
        victim_state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            self.start(victim, "real")).query))["state"]
        injected = f"{PUBLIC}/api/v1/auth/oidc/real/callback?" + urllib.parse.urlencode(
            {"code": attacker_code, "state": victim_state})
        self.assert_refused(victim, injected)

    def test_provider_error_and_unknown_provider(self):
        browser = Browser(self.server)
        status, _, body, _ = browser.get(f"{PUBLIC}/api/v1/auth/oidc/real/callback?error=access_denied&state=x")
        self.assertEqual(status, 400)
        self.assertIn("cancelled", body)
        self.assertEqual(browser.get(f"{PUBLIC}/api/v1/auth/oidc/nope/login")[0], 404)
        status, _, body, _ = browser.get(f"{PUBLIC}/signin")
        self.assertIn('href="/api/v1/auth/oidc/real/login"', body)
        self.assertIn("Sign in with Crafted", body)

    def test_login_cookie_flags(self):
        browser = Browser(self.server)
        _, _, _, headers = browser.get(f"{PUBLIC}/api/v1/auth/oidc/real/login")
        cookie = [c for c in set_cookies(headers) if c.startswith("b5_oidc=")][0]
        for flag in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"):
            self.assertIn(flag, cookie)

    # --- crafted tokens ----------------------------------------------------------------------------
    def test_a_well_formed_crafted_token_is_accepted(self):
        """The baseline: the crafted provider's honest tokens sign in, so each refusal below is
        caused by its attack alone."""
        for scenario in [{"email": "hal@example.com", "sub": "hal-rs"},
                         {"email": "hal@example.com", "sub": "hal-es", "sign": "es256",
                          "header": {"alg": "ES256", "kid": "crafted-ec"}},
                         {"email": "hal@example.com", "sub": "hal-ps", "sign": "ps256", "header": {"alg": "PS256"}},
                         {"email": "hal@example.com", "sub": "hal-azp",
                          "claims": {"aud": ["beta500", "other"], "azp": "beta500"}}]:
            with self.subTest(scenario=scenario):
                self.invite("hal@example.com") if not self.query(
                    "SELECT 1 FROM users WHERE email = 'hal@example.com'") else None
                browser, callback = self.crafted(scenario)
                self.assertEqual(self.assert_signed_in(browser, callback)["email"], "hal@example.com")
        self.assertGreater(self.stats()["pkce_ok"], 0)

    # attack: (the crafted provider's scenario, the server's logged reason for refusing it)
    ATTACKS = {
        "iss wrong": ({"claims": {"iss": "https://evil.example"}}, "iss is not"),
        "iss missing": ({"drop": ["iss"]}, "iss is not"),
        "aud wrong": ({"claims": {"aud": "someone-else"}}, "aud does not"),
        "aud missing": ({"drop": ["aud"]}, "aud does not"),
        "several audiences without azp": ({"claims": {"aud": ["beta500", "other"]}}, "azp is not"),
        "azp wrong": ({"claims": {"azp": "someone-else"}}, "azp is not"),
        "expired": ({"claims": {"exp": int(time.time()) - 600}}, "expired"),
        "exp missing": ({"drop": ["exp"]}, "expired"),
        "not yet valid": ({"claims": {"nbf": int(time.time()) + 3600}}, "not yet valid"),
        "issued in the future": ({"claims": {"iat": int(time.time()) + 3600}}, "iat"),
        "issued long ago": ({"claims": {"iat": int(time.time()) - 7200}}, "iat"),
        "nonce missing": ({"drop": ["nonce"]}, "nonce"),
        "nonce wrong": ({"nonce": "not-the-nonce"}, "nonce"),
        "sub missing": ({"drop": ["sub"]}, "sub missing"),
        "alg none": ({"sign": "none", "header": {"alg": "none"}}, "algorithm not allowed"),
        "alg none without kid": ({"sign": "none", "header": {"alg": "none"}, "drop_header": ["kid"]}, "algorithm not allowed"),
        "HS256 keyed with the public key": ({"sign": "hs256-public-key", "header": {"alg": "HS256"}}, "algorithm not allowed"),
        "unknown kid": ({"sign": "attacker", "header": {"kid": "attacker-1"}}, "no key with this kid"),
        "jku header injection": ({"sign": "attacker", "header": {"kid": "attacker-1",
                                                                "jku": "http://127.0.0.1:9/jwks"}}, "no key with this kid"),
        "x5u header injection": ({"sign": "attacker", "header": {"kid": "attacker-1",
                                                                "x5u": "http://127.0.0.1:9/cert.pem"}}, "no key with this kid"),
        "embedded jwk header": ({"sign": "attacker", "header": {"jwk": "attacker"}, "drop_header": ["kid"]}, "no key with this kid"),
        "attacker key under the real kid": ({"sign": "attacker"}, "bad signature"),
        "bad signature": ({"flip_signature": True}, "bad signature"),
        "oversized token": ({"pad": 20000}, "too large"),
        "RS256 header on the EC key": ({"header": {"kid": "crafted-ec"}, "sign": "attacker"}, "does not match the key"),
        "critical header extension": ({"header": {"crit": ["exp"]}}, "critical header"),
    }

    def test_crafted_token_attacks_are_refused(self):
        self.assertGreaterEqual(len(self.ATTACKS), 25)
        for name, (scenario, reason) in self.ATTACKS.items():
            with self.subTest(attack=name):
                email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
                self.invite(email)
                browser, callback = self.crafted({"email": email, "sub": email, **scenario})
                logged = len(self.refusals())
                self.assert_refused(browser, callback)
                # Refused by the intended check, not by an accident of the setup.
                deadline = time.monotonic() + 5
                while len(self.refusals()) == logged and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.assertIn(reason, self.refusals()[-1])
                self.assertEqual(self.query("SELECT status FROM invitations WHERE email = ?", email), [("open",)])

    def refusals(self):
        return [line for line in list(self.server.log) if "sign-in refused" in line]

    def test_replayed_nonce_is_refused(self):
        """A token minted for one sign-in, replayed into another: its nonce is the old one."""
        email = "ivy@example.com"
        self.invite(email)
        self.post_json(self.urls["crafted"] + "/scenario", {"email": email, "sub": "ivy"})
        first = Browser(self.server)
        location = self.start(first, "crafted")
        old_nonce = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["nonce"]
        browser, callback = self.crafted({"email": email, "sub": "ivy", "nonce": old_nonce})
        self.assert_refused(browser, callback)

    def test_key_rotation(self):
        email = "jo@example.com"
        self.invite(email)
        time.sleep(3.1)  # past jwks_max_age_seconds: the next sign-in reads the keys afresh
        browser, callback = self.crafted({"email": email, "sub": "jo"})
        self.assert_signed_in(browser, callback)
        # A new key appears: the first token signed with it costs exactly one refetch.
        self.post_json(self.urls["crafted"] + "/keys", {"add": "crafted-2", "publish": ["crafted-1", "crafted-2",
                                                                                        "crafted-ec"]})
        time.sleep(2.1)  # past jwks_refetch_seconds
        before = self.stats()["jwks_fetches"]
        browser, callback = self.crafted({"email": email, "sub": "jo", "header": {"kid": "crafted-2"}})
        self.assert_signed_in(browser, callback)
        self.assertEqual(self.stats()["jwks_fetches"], before + 1)
        # Unknown kids in a burst refetch at most once per interval.
        before = self.stats()["jwks_fetches"]
        for _ in range(4):
            browser, callback = self.crafted({"email": email, "sub": "jo", "sign": "attacker",
                                              "header": {"kid": "nobody"}})
            self.assert_refused(browser, callback)
        self.assertLessEqual(self.stats()["jwks_fetches"] - before, 1)
        # The old key is withdrawn: once the cached keys age out, tokens under it are refused.
        self.post_json(self.urls["crafted"] + "/keys", {"publish": ["crafted-2", "crafted-ec"]})
        time.sleep(3.1)
        browser, callback = self.crafted({"email": email, "sub": "jo", "header": {"kid": "crafted-1"}})
        self.assert_refused(browser, callback)
        browser, callback = self.crafted({"email": email, "sub": "jo", "header": {"kid": "crafted-2"}})
        self.assert_signed_in(browser, callback)


if __name__ == "__main__":
    unittest.main()
