"""jupyterhealth-client, unchanged, against jhe-rs: every public call a notebook makes, checked
against the seed data (seed-and-ui.md §1) and against what the suite itself created and
uploaded (conftest.py)."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from conftest import (
    BLOOD_PRESSURE,
    BUNDLE_BLOOD_PRESSURE,
    BUNDLE_HEART_RATE,
    HEART_RATE,
    MARY_ORG,
    OBSERVATION_ID_SYSTEM,
    OMH,
    SINGLE_BLOOD_PRESSURE,
    SINGLE_HEART_RATE,
    STUDY,
)
from jupyterhealth_client import Code, JupyterHealthClient, RequestError

SEEDED_ORGANIZATIONS = {
    0: ("ROOT", "root", None),
    20001: ("Example Research Institute", "edu", 0),
    20002: ("Example School of Data Science", "team", 20001),
    20003: ("Example Lab", "laboratory", 20002),
    20004: ("Example University", "edu", 0),
    20005: ("Example Department", "dept", 20004),
    20006: ("Heart Research Division", "dept", 20005),
    20007: ("Example Lab Alpha", "laboratory", 20006),
    20008: ("Example Lab Beta", "laboratory", 20006),
}
# Seeded observations of study 30001's patients (peter 40001, pamela 40002), all BP or HR.
SEEDED_STUDY_OBSERVATIONS = {"60001", "60002", "60003", "60004", "60005"}
HR_TOTAL = SINGLE_HEART_RATE + BUNDLE_HEART_RATE
BP_TOTAL = SINGLE_BLOOD_PRESSURE + BUNDLE_BLOOD_PRESSURE


@contextmanager
def recorded(client: JupyterHealthClient):
    """Records every request the client sends (method, final URL, status), pages included."""
    calls = []
    original = client.session.request

    def request(method, url, *args, **kwargs):
        response = original(method, url, *args, **kwargs)
        calls.append((method, response.url, response.status_code))
        return response

    client.session.request = request
    try:
        yield calls
    finally:
        client.session.request = original


def fhir_pages(calls):
    return [url for method, url, _ in calls if method == "GET" and "/FHIR/R5/Observation" in url]


def decoded(observation):
    return json.loads(base64.b64decode(observation["valueAttachment"]["data"]))


def assert_observations_match(observations, uploads, expected_ids):
    """Each resource is one the suite uploaded, returned with exactly the data that was sent."""
    ids = [o["id"] for o in observations]
    assert len(ids) == len(set(ids)), "no observation twice"
    assert set(ids) == expected_ids, (
        f"{len(set(ids) - expected_ids)} unexpected, {len(expected_ids - set(ids))} missing"
    )
    for o in observations:
        record = uploads.by_id[o["id"]]
        assert o["resourceType"] == "Observation"
        assert o["subject"] == {"reference": f"Patient/{uploads.patient_id}"}, o["subject"]
        assert [(c["system"], c["code"]) for c in o["code"]["coding"]] == [(OMH, record["code"])], o["code"]
        assert "json" in o["valueAttachment"]["contentType"], o["valueAttachment"]
        assert decoded(o) == record["payload"], o["id"]
        assert [(i.get("system"), i["value"]) for i in o["identifier"]] == [
            (OBSERVATION_ID_SYSTEM, record["identifier"])
        ], o["identifier"]
        pd.Timestamp(o["meta"]["lastUpdated"])  # parses


# --------------------------------------------------------------------------- users


def test_get_user(mary, sam, server, world):
    user = mary.get_user()
    assert user["id"] == 10002
    assert user["email"] == "mary@example.com"
    assert user["firstName"] == "Mary"
    assert user["patient"] is None
    assert sam.get_user()["id"] == 10001
    # A patient's own profile: PHI stripped (rest-api.md §1), the patient record's id kept.
    patient = JupyterHealthClient(server, token=world.patient_token).get_user()
    assert patient["userType"] == "patient"
    assert patient["patient"]["id"] == world.uploader["id"]
    assert patient["patient"]["identifier"] == "compat-ext-00"


# --------------------------------------------------------------------------- organizations


def test_list_organizations(mary):
    with recorded(mary) as calls:
        organizations = {o["id"]: o for o in mary.list_organizations()}
    assert calls and calls[0][1].endswith("/api/v1/organizations")
    assert set(SEEDED_ORGANIZATIONS) <= set(organizations)
    for id, (name, type, part_of) in SEEDED_ORGANIZATIONS.items():
        o = organizations[id]
        assert (o["name"], o["type"], o["partOf"]) == (name, type, part_of), o


def test_get_organization(mary):
    lab = mary.get_organization(MARY_ORG)
    assert (lab["id"], lab["name"], lab["type"], lab["partOf"]) == (20003, "Example Lab", "laboratory", 20002)
    root = mary.get_organization(0)
    assert (root["id"], root["name"], root["type"]) == (0, "ROOT", "root")
    with pytest.raises(RequestError) as e:
        mary.get_organization(99999999)
    assert e.value.requests_error.response.status_code == 404
    assert "404" in str(e.value)


# --------------------------------------------------------------------------- studies


def test_list_studies(mary):
    studies = {s["id"]: s for s in mary.list_studies()}
    assert set(studies) == {30001, 30002}
    assert studies[30001]["name"] == "Example Study on BP & HR"
    assert studies[30002]["name"] == "Example Study on BP"
    assert {s["organization"]["id"] for s in studies.values()} == {MARY_ORG}
    assert {s["id"] for s in mary.list_studies(organization_id=MARY_ORG)} == {30001, 30002}
    assert list(mary.list_studies(organization_id=20007)) == []  # not mary's
    assert list(mary.list_studies(organization_id=99999999)) == []


def test_get_study(mary):
    study = mary.get_study(STUDY)
    assert study["id"] == STUDY
    assert study["name"] == "Example Study on BP & HR"
    assert study["description"] == "Blood Pressure & Heart Rate"
    assert study["organization"]["id"] == MARY_ORG
    assert study["organization"]["name"] == "Example Lab"
    with pytest.raises(RequestError) as e:
        mary.get_study(30003)  # Heart Research Division's: not mary's
    assert e.value.requests_error.response.status_code in (403, 404)


# --------------------------------------------------------------------------- patients


def test_list_patients_crosses_pages_and_keeps_filters(mary, world):
    seeded = {40001, 40002}
    enrolled = {p["id"] for p in world.enrolled}
    unenrolled = {p["id"] for p in world.unenrolled}

    with recorded(mary) as calls:
        everyone = [p["id"] for p in mary.list_patients()]
    assert len(everyone) == len(set(everyone))
    assert set(everyone) == seeded | enrolled | unenrolled
    assert len(calls) == 2, calls  # 28 patients, 20 a page: the `next` link was followed

    for kwargs in ({"organization_id": MARY_ORG}, {"study_id": STUDY}):
        with recorded(mary) as calls:
            ids = [p["id"] for p in mary.list_patients(**kwargs)]
        assert len(ids) == len(set(ids)), kwargs
        assert set(ids) == seeded | enrolled, kwargs  # 25 of 28: page 2 kept the filter
        assert len(calls) == 2, (kwargs, calls)
        name = next(iter(kwargs))
        assert name in parse_qs(urlparse(calls[1][1]).query) or name.replace("_id", "Id") in parse_qs(
            urlparse(calls[1][1]).query
        ), calls[1]

    assert {p["id"] for p in mary.list_patients(study_id=30002)} == seeded
    assert {p["id"] for p in mary.list_patients(organization_id=20001)} == unenrolled


def test_get_patient(mary, world):
    peter = mary.get_patient(40001)
    assert (peter["id"], peter["jheUserId"], peter["nameGiven"]) == (40001, 10006, "Peter")
    assert peter["telecomEmail"] == "peter@example.com"
    assert peter["identifiers"] == []

    ursula = mary.get_patient(world.uploader["id"])
    for key in ("nameFamily", "nameGiven", "birthDate", "telecomEmail"):
        assert ursula[key] == world.uploader[key], key
    assert [i["value"] for i in ursula["identifiers"]] == ["compat-ext-00"]

    with pytest.raises(RequestError) as e:
        mary.get_patient(99999999)
    assert e.value.requests_error.response.status_code == 404
    assert "404" in str(e.value) and "No Patient matches" in str(e.value)


def test_lookup_patient(mary, world):
    last = world.enrolled[-1]
    found = mary.lookup_patient(external_id=last["identifier"])  # on the 2nd page of patients
    assert found["id"] == last["id"]
    system = found["identifiers"][0]["system"]
    assert mary.lookup_patient(external_id=last["identifier"], system=system)["id"] == last["id"]
    with pytest.raises(KeyError):
        mary.lookup_patient(external_id=last["identifier"], system="https://no.such.system/")
    with pytest.raises(KeyError):
        mary.lookup_patient(external_id="no-such-external-id")
    assert mary.lookup_patient(email="peter@example.com")["id"] == 40001
    assert mary.lookup_patient(email=world.uploader["telecomEmail"])["id"] == world.uploader["id"]
    with pytest.warns(DeprecationWarning):
        assert mary.get_patient_by_external_id("compat-ext-00")["id"] == world.uploader["id"]


def test_get_patient_consents(mary, world):
    peter = mary.get_patient_consents(40001)
    assert peter["patient"]["id"] == 40001
    assert {c["codingCode"] for c in peter["consolidatedConsentedScopes"]} == {BLOOD_PRESSURE, HEART_RATE}
    assert [s["id"] for s in peter["studiesPendingConsent"]] == [30002]
    assert [s["id"] for s in peter["studies"]] == [STUDY]
    consents = {c["code"]["codingCode"]: c for c in peter["studies"][0]["scopeConsents"]}
    assert set(consents) == {BLOOD_PRESSURE, HEART_RATE}
    assert all(c["consented"] is True and c["consentedTime"] for c in consents.values())

    # What the patient's app consented to, seen by the practitioner.
    ursula = mary.get_patient_consents(world.uploader["id"])
    assert {c["codingCode"] for c in ursula["consolidatedConsentedScopes"]} == {BLOOD_PRESSURE, HEART_RATE}
    assert ursula["studiesPendingConsent"] == []
    assert [s["id"] for s in ursula["studies"]] == [STUDY]
    assert {c["code"]["codingCode"]: c["consented"] for c in ursula["studies"][0]["scopeConsents"]} == {
        BLOOD_PRESSURE: True,
        HEART_RATE: True,
    }


# --------------------------------------------------------------------------- data sources


def test_list_data_sources(mary):
    sources = {d["id"]: (d["name"], d["type"]) for d in mary.list_data_sources()}
    assert sources == {
        70001: ("CareX", "personal_device"),
        70002: ("Dexcom", "personal_device"),
        70003: ("iHealth", "personal_device"),
    }


# --------------------------------------------------------------------------- observations


def test_seeded_observations(mary):
    observations = {o["id"]: o for o in mary.list_observations(patient_id=40001)}
    assert set(observations) == {"60001", "60002"}
    bp, hr = decoded(observations["60001"]), decoded(observations["60002"])
    assert observations["60001"]["code"]["coding"][0]["code"] == BLOOD_PRESSURE
    assert bp["body"]["systolic_blood_pressure"] == {"value": 115, "unit": "mmHg"}
    assert bp["body"]["diastolic_blood_pressure"] == {"value": 60, "unit": "mmHg"}
    assert observations["60002"]["code"]["coding"][0]["code"] == HEART_RATE
    assert hr["body"]["heart_rate"] == {"value": 67.5, "unit": "beats/min"}
    assert all(o["subject"] == {"reference": "Patient/40001"} for o in observations.values())


def test_list_observations_every_page(mary, uploads):
    with recorded(mary) as calls:
        observations = list(mary.list_observations(patient_id=uploads.patient_id, limit=None))
    assert_observations_match(observations, uploads, uploads.ids())
    pages = fhir_pages(calls)
    total = HR_TOTAL + BP_TOTAL
    assert len(pages) == -(-total // 1000), pages  # _count=1000: three pages, next links followed
    first = parse_qs(urlparse(pages[0]).query)
    assert first["_count"] == ["1000"] and first["patient"] == [str(uploads.patient_id)], pages[0]
    assert all(status == 200 for _, _, status in calls), calls


def test_list_observations_default_limit(mary, uploads):
    observations = list(mary.list_observations(patient_id=uploads.patient_id))
    assert len(observations) == 2000  # the client's default limit, reached on the 2nd page
    assert {o["id"] for o in observations} <= uploads.ids()


def test_list_observations_code_filters(mary, uploads):
    pid = uploads.patient_id
    with recorded(mary) as calls:
        heart = list(mary.list_observations(patient_id=pid, code=Code.HEART_RATE, limit=None))
    assert_observations_match(heart, uploads, uploads.ids(HEART_RATE))
    assert len(fhir_pages(calls)) == -(-HR_TOTAL // 1000)
    assert parse_qs(urlparse(fhir_pages(calls)[0]).query)["code"] == [f"{OMH}|{HEART_RATE}"]

    pressure = list(mary.list_observations(patient_id=pid, code=Code.BLOOD_PRESSURE, limit=None))
    assert_observations_match(pressure, uploads, uploads.ids(BLOOD_PRESSURE))
    for code in (BLOOD_PRESSURE, f"{OMH}|{BLOOD_PRESSURE}"):  # a bare code and system|code
        assert {o["id"] for o in mary.list_observations(patient_id=pid, code=code)} == uploads.ids(BLOOD_PRESSURE)
    assert list(mary.list_observations(patient_id=pid, code=Code.BLOOD_GLUCOSE)) == []


def test_list_observations_small_pages(mary, uploads):
    mary._default_page_size = 25
    with recorded(mary) as calls:
        pressure = list(mary.list_observations(patient_id=uploads.patient_id, code=Code.BLOOD_PRESSURE, limit=None))
    assert_observations_match(pressure, uploads, uploads.ids(BLOOD_PRESSURE))
    pages = fhir_pages(calls)
    assert len(pages) == -(-BP_TOTAL // 25), pages
    for url in pages[1:]:  # the server's next links: same prefix, filters and page size kept
        query = parse_qs(urlparse(url).query)
        assert urlparse(url).path.endswith("/FHIR/R5/Observation"), url
        assert query["_count"] == ["25"] and query["patient"] == [str(uploads.patient_id)], url
        assert query["code"] == [f"{OMH}|{BLOOD_PRESSURE}"], url


def test_list_observations_by_study(mary, uploads):
    pid = uploads.patient_id
    everything = list(mary.list_observations(study_id=STUDY, limit=None))
    ids = [o["id"] for o in everything]
    assert len(ids) == len(set(ids))
    assert set(ids) == uploads.ids() | SEEDED_STUDY_OBSERVATIONS
    mine = [o for o in everything if o["id"] in uploads.by_id]
    assert_observations_match(mine, uploads, uploads.ids())

    both = list(mary.list_observations(patient_id=pid, study_id=STUDY, code=Code.BLOOD_PRESSURE, limit=None))
    assert_observations_match(both, uploads, uploads.ids(BLOOD_PRESSURE))
    assert {o["id"] for o in mary.list_observations(patient_id=40001, study_id=STUDY, code=Code.HEART_RATE)} == {"60002"}
    with pytest.raises(ValueError):
        list(mary.list_observations())


def test_list_observations_df(mary, uploads):
    pid = uploads.patient_id
    df = mary.list_observations_df(patient_id=pid, code=Code.BLOOD_PRESSURE, limit=None)
    assert len(df) == BP_TOTAL
    assert set(df["id"]) == uploads.ids(BLOOD_PRESSURE)
    assert set(df["code"]) == {BLOOD_PRESSURE}
    assert set(df["subject_reference"]) == {f"Patient/{pid}"}
    assert str(df["meta_lastUpdated"].dtype).startswith("datetime64") and "UTC" in str(df["meta_lastUpdated"].dtype)
    for row in df.itertuples():
        sent = uploads.by_id[row.id]
        body, header = sent["payload"]["body"], sent["payload"]["header"]
        assert row.identifier_0_value == sent["identifier"] == row.uuid == header["uuid"]
        assert row.systolic_blood_pressure_value == body["systolic_blood_pressure"]["value"]
        assert row.diastolic_blood_pressure_value == body["diastolic_blood_pressure"]["value"]
        assert row.systolic_blood_pressure_unit == "mmHg"
        stamp = body["effective_time_frame"]["date_time"]  # with a -08:00 offset
        assert row.effective_time_frame_date_time == pd.Timestamp(stamp).tz_convert("UTC")
        assert row.effective_time_frame_date_time_local == pd.Timestamp(stamp).tz_localize(None)
        assert row.schema_id_name == "blood-pressure" and row.modality == "sensed"

    heart = mary.list_observations_df(patient_id=pid, code=Code.HEART_RATE)
    assert len(heart) == 2000  # the default limit
    sent = {i: uploads.by_id[i]["payload"]["body"] for i in heart["id"]}
    assert list(heart["heart_rate_value"]) == [sent[i]["heart_rate"]["value"] for i in heart["id"]]
    assert list(heart["effective_time_frame_date_time"]) == [
        pd.Timestamp(sent[i]["effective_time_frame"]["date_time"]) for i in heart["id"]
    ]
    assert set(heart["heart_rate_unit"]) == {"beats/min"}
