#!/usr/bin/env python3
"""Cross-check the jhe-rs schema files (schemas/omh) against the published Open mHealth /
IEEE 1752 schemas: both sets must give the SAME verdict (valid / invalid) on every sample
data point and on a corpus of mutated ("broken") variants generated below.

Usage (needs `pip install jsonschema referencing`):

    python schemas/tools/check_schemas.py \
        [--ours schemas/omh] \
        [--published tests/data/omh/json-schemas] \
        [--samples tests/data/omh/examples/data-points] \
        [--published-later DIR]   # optional: published later-upstream schemas (flat OMH layout)
        [-v]

How references are resolved (no network):
  * ours: every file in utility/ and header-1.0.json under its bare file name and under
    https://w3id.org/ieee/ieee-1752-schema/<file> and https://w3id.org/openmhealth/schemas/omh/<file>;
    every data/ file under its file name; every file also under its own $id.
  * published: as the original server did (client-usage.md 4.3): metadata/ + utility/ under the bare
    file name and the IEEE w3id prefix; utility/ additionally under the OMH w3id prefix and the
    opensource.ieee.org GitLab prefix. Any other URI is "Unresolvable".
  * published-later (optional): flat directory (utility/ + data/) keyed by bare file name only.
`format` is never enforced (no format checker), as on the server.

When the published set fails only because of an unresolvable $ref, the case is counted
separately and compared instead against the "completed" published set (published files first,
then our utility files filling the missing names).

Exit status 0 when every verdict agrees and every sample of ours validates.
"""
import argparse
import copy
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, DRAFT7

IEEE = "https://w3id.org/ieee/ieee-1752-schema/"
OMH = "https://w3id.org/openmhealth/schemas/omh/"
IEEE_GITLAB = "https://opensource.ieee.org/omh/1752/-/raw/main/schemas/utility/"

HERE = Path(__file__).resolve().parent
DEFAULT_OURS = HERE.parent / "omh" if (HERE.parent / "omh").is_dir() else Path("jhe-plugins/schemas/omh")

# refs used by published files that name a schema we bundle under another name
COMPLETION_ALIASES = {
    "../generic/descriptive-statistic-1.0.json": "omh-descriptive-statistic-1.0.json",
}


def load(p):
    with open(p) as f:
        return json.load(f)


def code_to_file(code):
    """omh:heart-rate:2.0 -> schema-omh_heart-rate_2-0.json"""
    return "schema-" + code.replace(":", "_").replace(".", "-") + ".json"


# ---------------------------------------------------------------------------- registries
def add(pairs, key, contents, spec, origin):
    old = pairs.get(key)
    if old is not None and old[0] != contents:
        raise SystemExit("registry key collision: %s (%s vs %s)" % (key, old[2], origin))
    pairs[key] = (contents, spec, origin)


def build(pairs):
    return Registry().with_resources(
        (k, Resource.from_contents(c, default_specification=s)) for k, (c, s, _) in pairs.items())


def our_pairs(root):
    pairs = {}
    for p in sorted((root / "utility").glob("*.json")) + [root / "header-1.0.json"]:
        c = load(p)
        for k in (p.name, IEEE + p.name, OMH + p.name) + ((c["$id"],) if "$id" in c else ()):
            add(pairs, k, c, DRAFT202012, p)
    for p in sorted((root / "data").glob("*.json")):
        c = load(p)
        for k in (p.name,) + ((c["$id"],) if "$id" in c else ()):
            add(pairs, k, c, DRAFT202012, p)
    return pairs


def published_pairs(root):
    pairs = {}
    for sub in ("metadata", "utility"):
        for p in sorted((root / sub).glob("*.json")):
            c = load(p)
            keys = [p.name, IEEE + p.name]
            if sub == "utility":
                keys += [OMH + p.name, IEEE_GITLAB + p.name]
            for k in keys:
                add(pairs, k, c, DRAFT7, p)
    return pairs


def later_pairs(root):
    pairs = {}
    for p in sorted((root / "utility").glob("*.json")):
        add(pairs, p.name, load(p), DRAFT7, p)
    return pairs


def completed(pub_pairs, ours):
    """Published set, with the names it lacks filled from our utility files."""
    out = dict(pub_pairs)
    for k, v in ours.items():
        if k.startswith("schema-"):
            continue
        out.setdefault(k, v)
    for k, target in COMPLETION_ALIASES.items():
        out.setdefault(k, ours[target])
    return out


# ---------------------------------------------------------------------------- validation
def verdict(schema, instance, registry):
    """('valid'|'invalid'|'unresolvable', detail). Format is not checked."""
    cls = validator_for(schema, default=validator_for({"$schema": "http://json-schema.org/draft-07/schema#"}))
    v = cls(schema, registry=registry)
    try:
        errs = list(v.iter_errors(instance))
    except Unresolvable as e:
        return "unresolvable", str(e)
    if errs:
        e = min(errs, key=lambda e: len(e.path))
        return "invalid", "%s: %s" % ("/".join(map(str, e.absolute_path)) or "<root>", e.message[:120])
    return "valid", ""


# ---------------------------------------------------------------------------- corpus
T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-01T08:00:00Z"


def header_variants(h):
    """(label, header) pairs; h is a valid header."""
    def w(fn):
        x = copy.deepcopy(h)
        fn(x)
        return x
    out = [
        ("header: unchanged", copy.deepcopy(h)),
        ("header: missing uuid", w(lambda x: x.pop("uuid"))),
        ("header: uuid is an integer", w(lambda x: x.update(uuid=1234))),
        ("header: uuid not a UUID (format unchecked)", w(lambda x: x.update(uuid="not-a-uuid"))),
        ("header: schema_id is a string", w(lambda x: x.update(schema_id="omh:heart-rate:2.0"))),
        ("header: schema_id is a list", w(lambda x: x.update(schema_id=["omh", "heart-rate", "2.0"]))),
        ("header: schema_id missing version", w(lambda x: x["schema_id"].pop("version"))),
        ("header: schema_id.version is a number", w(lambda x: x["schema_id"].update(version=2.0))),
        ("header: schema_id extra key", w(lambda x: x["schema_id"].update(extra="x"))),
        ("header: missing source_creation_date_time", w(lambda x: x.pop("source_creation_date_time"))),
        ("header: source_creation_date_time not a date (format unchecked)",
         w(lambda x: x.update(source_creation_date_time="yesterday"))),
        ("header: source_creation_date_time is a number", w(lambda x: x.update(source_creation_date_time=1700000000))),
        ("header: modality 'estimated'", w(lambda x: x.update(modality="estimated"))),
        ("header: modality 'self-reported'", w(lambda x: x.update(modality="self-reported"))),
        ("header: external_datasheets item without reference",
         w(lambda x: x.update(external_datasheets=[{"datasheet_type": "manufacturer"}]))),
        ("header: external_datasheets is an object",
         w(lambda x: x.update(external_datasheets={"datasheet_reference": "x"}))),
        ("header: acquisition_rate 1 Hz", w(lambda x: x.update(acquisition_rate={"value": 1, "unit": "Hz"}))),
        ("header: acquisition_rate unit 'per second'",
         w(lambda x: x.update(acquisition_rate={"value": 1, "unit": "per second"}))),
        ("header: acquisition_rate 2 per day",
         w(lambda x: x.update(acquisition_rate={"number_of_times": 2, "time_window": {"value": 1, "unit": "d"}}))),
        ("header: acquisition_rate window range",
         w(lambda x: x.update(acquisition_rate={"number_of_times": 2,
                                                "time_window": {"low_value": 1, "high_value": 2, "unit": "d"}}))),
        ("header: acquisition_rate window both value and range (oneOf)",
         w(lambda x: x.update(acquisition_rate={"number_of_times": 2, "time_window": {
             "value": 1, "low_value": 1, "high_value": 2, "unit": "d"}}))),
        ("header: acquisition_rate Hz and number_of_times (oneOf)",
         w(lambda x: x.update(acquisition_rate={"value": 1, "unit": "Hz", "number_of_times": 2,
                                                "time_window": {"value": 1, "unit": "d"}}))),
        ("header: unknown extra property", w(lambda x: x.update(x_vendor="abc"))),
    ]
    out.append(("header: null", None))
    out.append(("header: empty object", {}))
    return out


def unit_value_paths(node, path=()):
    """Paths of every {value, unit} object in a body."""
    if isinstance(node, dict):
        if "value" in node and "unit" in node:
            yield path
        for k, v in node.items():
            yield from unit_value_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from unit_value_paths(v, path + (i,))


def set_path(doc, path, value=None, delete=False):
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value


def get_path(doc, path):
    for p in path:
        doc = doc[p]
    return doc


ETF_VARIANTS = [
    ("date_time", {"date_time": T0}),
    ("date_time not a date (format unchecked)", {"date_time": "not-a-date"}),
    ("date_time is a number", {"date_time": 20250101}),
    ("interval start+end", {"time_interval": {"start_date_time": T0, "end_date_time": T1}}),
    ("interval start+duration", {"time_interval": {"start_date_time": T0, "duration": {"value": 8, "unit": "h"}}}),
    ("interval end+duration", {"time_interval": {"end_date_time": T1, "duration": {"value": 8, "unit": "h"}}}),
    ("interval start+end+duration (oneOf)", {"time_interval": {"start_date_time": T0, "end_date_time": T1,
                                                               "duration": {"value": 8, "unit": "h"}}}),
    ("interval start only", {"time_interval": {"start_date_time": T0}}),
    ("interval duration unit 'hours'", {"time_interval": {"start_date_time": T0,
                                                           "duration": {"value": 8, "unit": "hours"}}}),
    ("interval duration value string", {"time_interval": {"start_date_time": T0,
                                                           "duration": {"value": "8", "unit": "h"}}}),
    ("interval date+part_of_day", {"time_interval": {"date": "2025-01-01", "part_of_day": "morning"}}),
    ("interval date+part_of_day 'noon'", {"time_interval": {"date": "2025-01-01", "part_of_day": "noon"}}),
    ("interval date '01/01/2025'+part_of_day", {"time_interval": {"date": "01/01/2025", "part_of_day": "night"}}),
    ("interval is a string", {"time_interval": "P1D"}),
    ("both date_time and time_interval", {"date_time": T0,
                                          "time_interval": {"start_date_time": T0, "end_date_time": T1}}),
    ("empty object", {}),
    ("a string", T0),
    ("full_date", {"full_date": "2025-01-01"}),
    ("full_date '2025-1-1'", {"full_date": "2025-1-1"}),
    ("full_date and date_time (oneOf)", {"full_date": "2025-01-01", "date_time": T0}),
]

OPTIONAL_PROPS = {
    "descriptive_statistic": ["average", "median", "count", "20th percentile", "80th percentile", "bogus", 3],
    "descriptive_statistic_denominator": ["d", "session", "fortnight", 7],
    "statistic_window": ["d", "fortnight", 7],
    "temporal_relationship_to_physical_activity": ["at rest", "during exercise", "post workout"],
    "temporal_relationship_to_sleep": ["on waking", "napping"],
    "temporal_relationship_to_meal": ["fasting", "with food", "brunch"],
    "specimen_source": ["capillary blood", "urine", "venous blood"],
    "measurement_location": ["left wrist", "wrist", "oral", "armpit"],
    "body_posture": ["sitting", "kneeling"],
    "system": ["peripheral capillary", "arterial"],
    "supplemental_oxygen_flow_rate": [{"value": 2, "unit": "L/min"}, {"value": 2, "unit": "%"}],
    "oxygen_therapy_mode_of_administration": ["nasal cannula", "mask"],
    "measurement_method": ["pulse oximetry", "blood gas"],
    "is_main_sleep": [True, "yes"],
    "meal": ["lunch", "brunch", 5],
    "number_of_awakenings": [2, 2.0, 2.5, -1],
    "user_notes": ["slept badly", 5],
    "reported_activity_intensity": ["light", "extreme"],
    "met_value": [3.5, "3.5"],
    "distance": [{"value": 5, "unit": "km"}, {"value": 5, "unit": "miles"}],
    "kcal_burned": [{"value": 100, "unit": "kcal"}, {"value": 100, "unit": "cal"}],
    "latency_to_sleep_onset": [{"value": 10, "unit": "min"}, {"value": 10, "unit": "minutes"}],
    "sleep_maintenance_efficiency_percentage": [{"value": 91, "unit": "%"}, {"value": 0.91, "unit": "ratio"}],
    "statistic_time_denominator": [{"value": 1, "unit": "d"}, {"value": 1, "unit": "h"}],
    "protein": [{"value": 3, "unit": "g"}, {"value": 3, "unit": "mL"}],
    "calories": [{"value": 100, "unit": "kcal"}, "100"],
    "food_amount": [{"value": 2}, {"value": 2, "unit": "Cup"}, {"value": 2, "unit": "cup"},
                    {"value": 2, "note": "x"}, {"unit": "g"}],
    "sleep_stage_episodes": [
        [{"sleep_stage_state": "REM_sleep",
          "sleep_stage_time_frame": {"time_interval": {"start_date_time": T0, "end_date_time": T1}}}],
        [{"sleep_stage_state": "REM_sleep", "sleep_stage_time_frame": {"date_time": T0}}],
        [{"sleep_stage_state": "dreaming",
          "sleep_stage_time_frame": {"time_interval": {"start_date_time": T0, "end_date_time": T1}}}],
        {"sleep_stage_state": "REM_sleep"}],
    "x_unknown_property": ["anything"],
}


def body_variants(b):
    out = [("body: unchanged", copy.deepcopy(b)), ("body: null", None), ("body: array", [b]),
           ("body: empty object", {})]
    if not isinstance(b, dict):
        return out
    for k in b:
        x = copy.deepcopy(b)
        del x[k]
        out.append(("body: drop %s" % k, x))
        x = copy.deepcopy(b)
        x[k] = "wrong-type-string" if not isinstance(b[k], str) else 42
        out.append(("body: %s wrong type" % k, x))
    for path in unit_value_paths(b):
        ps = "/".join(map(str, path))
        uv = get_path(b, path)
        muts = [("unit 'furlongs'", dict(uv, unit="furlongs")),
                ("value as string", dict(uv, value=str(uv["value"]))),
                ("negative value", dict(uv, value=-abs(uv["value"]) - 1)),
                ("zero value", dict(uv, value=0)),
                ("missing value", {k: v for k, v in uv.items() if k != "value"}),
                ("missing unit", {k: v for k, v in uv.items() if k != "unit"}),
                ("unit lower-cased", dict(uv, unit=uv["unit"].lower())),
                ("extra property", dict(uv, source="device")),
                ("replaced by a number", uv["value"])]
        for label, new in muts:
            x = copy.deepcopy(b)
            set_path(x, path, new)
            out.append(("body: %s %s" % (ps, label), x))
    if isinstance(b.get("step_count"), (int, float)):
        for label, v in (("negative", -5), ("string", "5"), ("float", 5.5)):
            out.append(("body: step_count %s" % label, dict(copy.deepcopy(b), step_count=v)))
    for label, etf in ETF_VARIANTS:
        out.append(("body: effective_time_frame %s" % label, dict(copy.deepcopy(b), effective_time_frame=etf)))
    for k, values in OPTIONAL_PROPS.items():
        for v in values:
            out.append(("body: set %s=%s" % (k, json.dumps(v)[:40]), dict(copy.deepcopy(b), **{k: v})))
    return out


# ---------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", type=Path, default=DEFAULT_OURS)
    ap.add_argument("--published", type=Path, default=Path("tests/data/omh/json-schemas"))
    ap.add_argument("--samples", type=Path, default=Path("tests/data/omh/examples/data-points"))
    ap.add_argument("--published-later", type=Path, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    ours_p = our_pairs(a.ours)
    ours_reg = build(ours_p)
    our_header = load(a.ours / "header-1.0.json")

    sets = {}  # name -> (data dir, registry, completed registry, header schema or None)
    if a.published and a.published.is_dir():
        pp = published_pairs(a.published)
        sets["published"] = (a.published / "data", build(pp), build(completed(pp, ours_p)),
                             load(a.published / "metadata" / "header-1.0.json"))
    if a.published_later and a.published_later.is_dir():
        lp = later_pairs(a.published_later)
        sets["published-later"] = (a.published_later / "data", build(lp), build(completed(lp, ours_p)), None)

    problems = []
    stats = Counter()
    # 1. every $ref in every one of our files must resolve on our own registry (instance-independent)
    seen_files = set()
    for key, (c, _, origin) in sorted(ours_p.items()):
        if origin in seen_files:
            continue
        seen_files.add(origin)
        res = ours_reg.resolver(base_uri=c.get("$id", origin.name))
        try:
            validator_for(c).check_schema(c)  # well-formed against the draft 2020-12 meta-schema
        except Exception as e:  # noqa: BLE001
            problems.append("%s is not a valid schema: %s" % (origin.name, str(e)[:200]))
        stack = [c]
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                r = n.get("$ref")
                if isinstance(r, str):
                    try:
                        res.lookup(r)
                        stats["refs resolved in our files"] += 1
                    except Unresolvable:
                        problems.append("unresolvable ref %s in %s" % (r, origin.name))
                stack.extend(n.values())
            elif isinstance(n, list):
                stack.extend(n)

    # 2. samples: shared ones + ours
    samples = []
    if a.samples and a.samples.is_dir():
        samples += [("shared", p) for p in sorted(a.samples.glob("*.json"))]
    own_dir = a.ours / "examples" / "data-points"
    samples += [("ours", p) for p in sorted(own_dir.glob("*.json"))]

    per_file = defaultdict(Counter)
    disagreements, unresolvable_cases = [], []
    for origin, path in samples:
        doc = load(path)
        sid = doc["header"]["schema_id"]
        code = "%s:%s:%s" % (sid["namespace"], sid["name"], sid["version"])
        fname = code_to_file(code)
        ours_body = load(a.ours / "data" / fname)
        label0 = "%s/%s" % (origin, path.name)
        # sample itself
        hv = verdict(our_header, doc["header"], ours_reg)
        bv = verdict(ours_body, doc["body"], ours_reg)
        if origin == "ours" and (hv[0], bv[0]) != ("valid", "valid"):
            problems.append("our sample %s does not validate: %s %s" % (path.name, hv, bv))
        stats["samples"] += 1
        # which published set?
        target = None
        for name, (ddir, reg, creg, phdr) in sets.items():
            if (ddir / fname).exists():
                target = (name, load(ddir / fname), reg, creg, phdr)
                break
        if target is None:
            stats["samples without published counterpart"] += 1
            continue
        tname, pub_body, pub_reg, comp_reg, pub_hdr = target

        cases = []
        for lbl, h in header_variants(doc["header"]):
            cases.append(("header", lbl, h))
        for lbl, b in body_variants(doc["body"]):
            cases.append(("body", lbl, b))
        broken = 0
        for part, lbl, inst in cases:
            if part == "header":
                if pub_hdr is None:
                    continue
                o, p = verdict(our_header, inst, ours_reg), verdict(pub_hdr, inst, pub_reg)
                cp = p if p[0] != "unresolvable" else verdict(pub_hdr, inst, comp_reg)
            else:
                o, p = verdict(ours_body, inst, ours_reg), verdict(pub_body, inst, pub_reg)
                cp = p if p[0] != "unresolvable" else verdict(pub_body, inst, comp_reg)
            if o[0] == "unresolvable":
                problems.append("OUR schema unresolvable: %s %s %s" % (label0, lbl, o[1]))
            stats["cases"] += 1
            per_file[label0]["cases"] += 1
            if p[0] == "invalid" or cp[0] == "invalid":
                broken += 1
            if p[0] == "unresolvable":
                stats["published unresolvable"] += 1
                agree = o[0] == cp[0]
                stats["unresolvable: ours agrees with completed set" if agree
                      else "unresolvable: ours DISAGREES with completed set"] += 1
                unresolvable_cases.append((label0, part, lbl, o[0], p[1], cp[0]))
                if not agree:
                    disagreements.append((label0, part, lbl, o, cp, tname + "+completed"))
            else:
                if o[0] == p[0]:
                    stats["agree"] += 1
                    stats["agree (%s)" % p[0]] += 1
                else:
                    stats["DISAGREE"] += 1
                    disagreements.append((label0, part, lbl, o, p, tname))
            if a.verbose:
                print("%-40s %-6s %-70s ours=%-8s pub=%-12s %s" % (label0, part, lbl[:70], o[0], p[0],
                                                                   "" if p[0] != "unresolvable" else "completed=" + cp[0]))
        per_file[label0]["broken"] = broken
        if broken < 8:
            problems.append("%s: only %d broken variants" % (label0, broken))

    print("== jhe-rs schema cross-check")
    print("our files: %d registry keys from %s" % (len(ours_p), a.ours))
    for name, (ddir, *_rest) in sets.items():
        print("compared against: %s (%s)" % (name, ddir.parent))
    for k in sorted(stats):
        print("  %-55s %d" % (k, stats[k]))
    print("per sample (cases / broken variants):")
    for f, c in per_file.items():
        print("  %-48s %4d / %d" % (f, c["cases"], c["broken"]))
    if unresolvable_cases:
        print("published-set failures caused only by an unresolvable $ref (ours vs completed set):")
        seen = Counter((u[0], u[4]) for u in unresolvable_cases)
        for (f, msg), n in sorted(seen.items()):
            print("  %-40s %3d cases  %s" % (f, n, msg[:110]))
    if disagreements:
        print("DISAGREEMENTS:")
        for d in disagreements:
            print("  %s [%s] %s: ours=%s published(%s)=%s" % (d[0], d[1], d[2], d[3], d[5], d[4]))
    for p in problems:
        print("PROBLEM:", p)
    ok = not disagreements and not problems
    print("RESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
