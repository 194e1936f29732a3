"""Fixtures of the compatibility suite: jupyterhealth-client against a real jhe-rs server.

* `server` starts the default server binary (`JHE_SERVER_BIN`, default
  `target/debug/examples/server`) on a free loopback port with a fresh PostgreSQL database
  (created with `psql`, dropped at the end); the server migrates and seeds it on start.
* Every token comes from the real flows: the login form, `/o/authorize/` with PKCE S256 for
  the `JHE Admin UI` client named by `/portal/client_settings.js`, `/o/token/`; the patient's
  token from an invitation link redeemed the way the mobile apps do.
* `world` builds what the tests read through the client (patients, a partner app, consents),
  `uploads` posts Observations through the FHIR API as the patient and records exactly what
  was sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from jupyterhealth_client import JupyterHealthClient

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Jhe1234!"
OMH = "https://w3id.org/openmhealth"
HEART_RATE = "omh:heart-rate:2.0"
BLOOD_PRESSURE = "omh:blood-pressure:4.0"
OBSERVATION_ID_SYSTEM = "https://compat.jhe-rs.example/observation-ids"

PG_HOST = os.environ.get("JHE_COMPAT_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("JHE_COMPAT_PG_PORT", "5432")
PG_USER = os.environ.get("JHE_COMPAT_PG_USER", "postgres")

# Seeded world (seed-and-ui.md §1) the suite builds on.
MARY_ORG = 20003  # Example Lab: mary manages it; study 30001 (BP & HR) lives there
OTHER_MARY_ORG = 20001  # Example Research Institute: mary manages it too
STUDY = 30001

# What the suite creates and uploads.
ENROLLED_PATIENTS = 23  # in MARY_ORG and STUDY: with the 2 seeded ones, 25 > one page of 20
UNENROLLED_PATIENTS = 3  # in OTHER_MARY_ORG only: makes a lost filter on page 2 visible
SINGLE_HEART_RATE = 4  # POST [base]/Observation, one by one (3 on /fhir/r5, 1 on /FHIR/R5)
SINGLE_BLOOD_PRESSURE = 1
BUNDLE_HEART_RATE = 2400  # one batch Bundle to POST /fhir/r5/
BUNDLE_BLOOD_PRESSURE = 120

_server_log: Path | None = None


# --------------------------------------------------------------------------- HTTP helpers


def call(base, token, method, path, *, json=None, params=None, expect=(200, 201), timeout=120):
    """One Admin API call; anything but an expected status fails with the exchange spelled out."""
    url = path if "://" in path else f"{base}/api/v1/{path.lstrip('/')}"
    r = requests.request(
        method,
        url,
        headers={"Authorization": f"Bearer {token}"},
        json=json,
        params=params,
        timeout=timeout,
    )
    if r.status_code not in expect:
        raise AssertionError(
            f"{method} {url} params={params!r} body={json!r}\n"
            f"-> {r.status_code} {r.headers.get('content-type')}: {r.text[:2000]}"
        )
    return r.json() if r.content else None


def pkce_pair():
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def portal_login(base, email, password=PASSWORD):
    """The portal's way in: login form, /o/authorize/ (PKCE S256), /o/token/. Returns the tokens."""
    browser = requests.Session()
    r = browser.get(f"{base}/accounts/login/", timeout=30)
    assert r.status_code == 200, f"GET /accounts/login/ -> {r.status_code}: {r.text[:500]}"
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.text)
    assert m, f"no csrfmiddlewaretoken in the login form: {r.text[:1000]}"
    r = browser.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": m.group(1), "username": email, "password": password, "next": ""},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, f"login of {email} -> {r.status_code}: {r.text[:500]}"
    assert "/accounts/login" not in r.headers.get("location", ""), r.headers

    script = browser.get(f"{base}/portal/client_settings.js", timeout=30)
    assert script.status_code == 200, script.text[:500]
    m = re.search(r'client_id:\s*"([^"]*)"', script.text)
    assert m and m.group(1) not in ("", "None"), f"no client_id in client_settings.js: {script.text[:800]}"
    client_id = m.group(1)

    verifier, challenge = pkce_pair()
    redirect_uri = f"{base}/auth/callback"
    state = secrets.token_urlsafe(8)
    r = browser.get(
        f"{base}/o/authorize/",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, f"/o/authorize/ -> {r.status_code}: {r.text[:500]}"
    location = r.headers["location"]
    assert location.startswith(redirect_uri), location
    query = parse_qs(urlparse(location).query)
    assert query.get("state") == [state], location
    assert "code" in query, location

    r = requests.post(
        f"{base}/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert r.status_code == 200, f"/o/token/ -> {r.status_code}: {r.text[:500]}"
    tokens = r.json()
    assert tokens["token_type"].lower() == "bearer", tokens
    return tokens


# --------------------------------------------------------------------------- the server


def _psql(sql):
    result = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed: {result.stderr.strip()}")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=60):
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _die_with_parent():
    """In the server process: get SIGTERM if pytest dies without tearing down (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _server_env(database_url, site_url, mail_dir):
    # Nothing of the caller's JHE configuration leaks in (a developer's SMTP relay, keys, …).
    dropped = {"DATABASE_URL", "SITE_URL", "OIDC_RSA_PRIVATE_KEY", "SECRET_KEY", "TRUSTED_TOKEN_IDP", "REGISTRATION_INVITE_CODE"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("JHE_", "SMTP_", "DB_"))
    }
    env.update(
        DATABASE_URL=database_url,
        SITE_URL=site_url,
        JHE_MAIL_DIR=str(mail_dir),
        JHE_SEED_ON_EMPTY="true",
        NO_COLOR="1",
        RUST_LOG=os.environ.get("RUST_LOG", "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"),
    )
    return env


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Base URL of a freshly started, seeded default server on PostgreSQL."""
    global _server_log
    binary = Path(os.environ.get("JHE_SERVER_BIN", "target/debug/examples/server"))
    if not binary.is_absolute():
        binary = ROOT / binary
    if not binary.is_file():
        pytest.exit(f"server binary {binary} not found: run `cargo build --example server` first", returncode=3)

    workdir = tmp_path_factory.mktemp("server")  # the cwd: no developer's .env is read
    database = f"jhe_compat_{os.getpid()}_{secrets.token_hex(4)}"
    _psql(f'CREATE DATABASE "{database}"')
    process = None
    try:
        for attempt in range(3):  # a free port can be taken between probing and binding
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            _server_log = workdir / f"server-{attempt}.log"
            with open(_server_log, "wb") as log:
                process = subprocess.Popen(
                    [str(binary), "serve", "--bind", f"127.0.0.1:{port}"],
                    cwd=workdir,
                    env=_server_env(f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}", base, workdir / "mail"),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.2)
            else:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                    raise RuntimeError(f"server not ready within 180 s:\n{_tail(_server_log)}")
                if "in use" in _server_log.read_text(errors="replace").lower() and attempt < 2:
                    continue
                raise RuntimeError(f"server exited with {process.returncode}:\n{_tail(_server_log)}")
            break
        yield base
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0 and _server_log is not None:
        terminalreporter.write_sep("-", f"server log (tail of {_server_log})")
        terminalreporter.write_line(_tail(_server_log, 40))


# --------------------------------------------------------------------------- tokens and clients


@pytest.fixture(scope="session")
def mary_token(server):
    return portal_login(server, "mary@example.com")["access_token"]


@pytest.fixture(scope="session")
def sam_token(server):
    return portal_login(server, "sam@example.com")["access_token"]


@pytest.fixture
def mary(server, mary_token):
    """The notebook's client, as the practitioner mary@example.com (fresh per test)."""
    return JupyterHealthClient(server, token=mary_token)


@pytest.fixture
def sam(server, sam_token):
    return JupyterHealthClient(server, token=sam_token)


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    base: str
    enrolled: list[dict]  # created in MARY_ORG and enrolled in STUDY; enrolled[0] uploads
    unenrolled: list[dict]  # created in OTHER_MARY_ORG
    app: dict  # the partner client: id, client_id, code_verifier
    invitation_link: str
    patient_tokens: dict  # what /o/token/ gave the app for the invitation code

    @property
    def uploader(self):
        return self.enrolled[0]

    @property
    def patient_token(self):
        return self.patient_tokens["access_token"]


@pytest.fixture(scope="session")
def world(server, mary_token, sam_token):
    created = []
    for i in range(ENROLLED_PATIENTS + UNENROLLED_PATIENTS):
        enrolled = i < ENROLLED_PATIENTS
        if i == 0:
            given, family, identifier = "Ursula", "Uploader", "compat-ext-00"
        elif enrolled:
            given, family, identifier = f"Enrolled{i:02d}", "Compat", f"compat-ext-{i:02d}"
        else:
            given, family, identifier = f"Other{i:02d}", "Compat", f"compat-org-{i:02d}"
        body = {
            "organizationId": MARY_ORG if enrolled else OTHER_MARY_ORG,
            "nameFamily": family,
            "nameGiven": given,
            "birthDate": f"19{60 + i}-0{1 + i % 9}-{10 + i % 18}",
            "telecomEmail": f"{given.lower()}.{family.lower()}@compat.example.org",
            "identifier": identifier,
        }
        patient = call(server, mary_token, "POST", "patients", json=body)
        assert isinstance(patient.get("id"), int), patient
        created.append({**body, "id": patient["id"], "response": patient})
    enrolled, unenrolled = created[:ENROLLED_PATIENTS], created[ENROLLED_PATIENTS:]
    call(server, mary_token, "POST", f"studies/{STUDY}/patients", json={"patientIds": [p["id"] for p in enrolled]})

    # The superuser registers the partner app; the practitioner attaches it to the study.
    code_verifier = secrets.token_urlsafe(32)  # 43 characters, as the portal's "Generate"
    client_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    app = call(
        server,
        sam_token,
        "POST",
        "clients",
        json={
            "name": "Compat Suite App",
            "clientId": client_id,
            "invitationUrl": "https://compat-app.example.org/invite?code=CODE",
            "codeVerifier": code_verifier,
        },
    )
    assert isinstance(app.get("id"), int), app
    call(server, mary_token, "POST", f"studies/{STUDY}/clients", json={"clientId": app["id"]})

    # The practitioner mints the invitation link; the app redeems it.
    uploader = enrolled[0]
    link = call(
        server,
        mary_token,
        "GET",
        f"patients/{uploader['id']}/invitation_link",
        params={"application_id": app["id"]},
    )["invitationLink"]
    prefix = "https://compat-app.example.org/invite?code="
    assert link.startswith(prefix), link
    host, link_client_id, code, verifier = link[len(prefix):].split("~")
    assert host == urlparse(server).netloc, link
    assert (link_client_id, verifier) == (client_id, code_verifier), link
    r = requests.post(
        f"http://{host}/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"http://{host}/auth/callback",
            "client_id": link_client_id,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert r.status_code == 200, f"redeeming the invitation code -> {r.status_code}: {r.text[:500]}"
    patient_tokens = r.json()
    token = patient_tokens["access_token"]

    # The app: who am I, what is pending, consent to the study's scopes.
    profile = call(server, token, "GET", "users/profile")
    assert profile["patient"]["id"] == uploader["id"], profile
    pending = call(server, token, "GET", f"patients/{uploader['id']}/consents")["studiesPendingConsent"]
    assert [s["id"] for s in pending] == [STUDY], pending
    call(
        server,
        token,
        "POST",
        f"patients/{uploader['id']}/consents",
        json={
            "studyScopeConsents": [
                {
                    "studyId": STUDY,
                    "scopeConsents": [
                        {"codingSystem": OMH, "codingCode": BLOOD_PRESSURE, "consented": True},
                        {"codingSystem": OMH, "codingCode": HEART_RATE, "consented": True},
                    ],
                }
            ]
        },
    )
    return World(
        base=server,
        enrolled=enrolled,
        unenrolled=unenrolled,
        app={"id": app["id"], "client_id": client_id, "code_verifier": code_verifier},
        invitation_link=link,
        patient_tokens=patient_tokens,
    )


# --------------------------------------------------------------------------- uploads


@dataclass
class Uploaded:
    patient_id: int
    by_id: dict = field(default_factory=dict)  # FHIR id (str) -> record

    def ids(self, code=None):
        return {i for i, rec in self.by_id.items() if code is None or rec["code"] == code}


T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
PACIFIC = timezone(timedelta(hours=-8))


def _data_point(code, n):
    """The n-th Open mHealth data point of a code: distinct values and times, what an app sends."""
    uid = str(uuid.uuid4())
    if code == HEART_RATE:
        when = T0 + timedelta(minutes=n)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        schema = {"namespace": "omh", "name": "heart-rate", "version": "2.0"}
        body = {
            "heart_rate": {"value": 50 + n % 90 + (0.5 if n % 2 else 0), "unit": "beats/min"},
            "effective_time_frame": {"date_time": stamp},
        }
    else:
        when = (T0 + timedelta(hours=n)).astimezone(PACIFIC)  # local time with an offset
        stamp = when.isoformat()
        schema = {"namespace": "omh", "name": "blood-pressure", "version": "4.0"}
        body = {
            "systolic_blood_pressure": {"value": 100 + n % 45, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 60 + n % 25, "unit": "mmHg"},
            "effective_time_frame": {"date_time": stamp},
        }
    header = {
        "uuid": uid,
        "schema_id": schema,
        "source_creation_date_time": stamp,
        "modality": "sensed",
        "external_datasheets": [{"datasheet_type": "manufacturer", "datasheet_reference": "compat-suite"}],
    }
    return uid, {"header": header, "body": body}


def _observation(patient_id, code, n):
    uid, payload = _data_point(code, n)
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": OBSERVATION_ID_SYSTEM, "value": uid}],
        "code": {"coding": [{"system": OMH, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "device": {"reference": "Device/70001"},
        "valueAttachment": {
            "contentType": "application/json",
            "data": base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii"),
        },
    }
    return resource, {"code": code, "identifier": uid, "payload": payload}


@pytest.fixture(scope="session")
def uploads(world):
    """Observations the patient's app uploaded through the FHIR API (single creates and a Bundle)."""
    base, token, pid = world.base, world.patient_token, world.uploader["id"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    uploaded = Uploaded(patient_id=pid)
    n = 0

    singles = [(HEART_RATE, "/fhir/r5")] * (SINGLE_HEART_RATE - 1) + [(HEART_RATE, "/FHIR/R5")]
    singles += [(BLOOD_PRESSURE, "/fhir/r5")] * SINGLE_BLOOD_PRESSURE
    for code, prefix in singles:
        resource, record = _observation(pid, code, n)
        n += 1
        r = requests.post(f"{base}{prefix}/Observation", json=resource, headers=headers, timeout=60)
        assert r.status_code == 201, f"POST {prefix}/Observation -> {r.status_code}: {r.text[:1500]}"
        created = r.json()
        assert created["resourceType"] == "Observation", created
        assert created["subject"] == {"reference": f"Patient/{pid}"}, created
        uploaded.by_id[str(created["id"])] = record

    entries, records = [], []
    for code, count in ((HEART_RATE, BUNDLE_HEART_RATE), (BLOOD_PRESSURE, BUNDLE_BLOOD_PRESSURE)):
        for _ in range(count):
            resource, record = _observation(pid, code, n)
            n += 1
            entries.append({"resource": resource, "request": {"method": "POST", "url": "Observation"}})
            records.append(record)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    r = requests.post(f"{base}/fhir/r5/", json=bundle, headers=headers, timeout=600)
    assert r.status_code == 200, f"POST /fhir/r5/ (Bundle of {len(entries)}) -> {r.status_code}: {r.text[:1500]}"
    answer = r.json()
    assert answer["resourceType"] == "Bundle" and answer["type"] == "batch-response", {k: answer.get(k) for k in ("resourceType", "type")}
    assert len(answer["entry"]) == len(entries), len(answer["entry"])
    for i, (entry, record) in enumerate(zip(answer["entry"], records)):
        assert entry["response"]["status"].startswith("201"), (i, entry)
        uploaded.by_id[str(entry["resource"]["id"])] = record
    assert len(uploaded.by_id) == len(singles) + len(entries), "every upload got its own id"
    return uploaded
