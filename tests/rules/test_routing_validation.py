"""Rule-set validation: every planted defect is reported with its YAML line; the logic
checks (unreachable, overlap) are sound against real masks on random data."""
import numpy as np
import pandas as pd
import pytest

from territorium.routing import parse_dict, parse_yaml, validate
from territorium.routing.masks import Evaluator

FIELDS = {"segment": "text", "state": "text", "industry": "text", "employees": "number", "zip": "zip",
          "name": "text", "product_lines": "list"}

DEFECTS = """\
teams:
  east: [R1, R2]
rules:
  - name: enterprise
    when: {segment: {in: [Enterprise, Mid-Market]}}
    assign: {territory: T1}
  - name: enterprise-again
    when: {segment: enterprise}
    assign: {territory: T2}
  - name: typo-field
    when: {segmnt: SMB}
    assign: {territory: T1}
  - name: bad-territory
    when: {state: NY}
    assign: {territory: T99}
  - name: bad-rep
    when: {state: NJ}
    assign: {rep: R404}
  - name: bad-team
    when: {state: PA}
    assign: {team: west}
  - name: range-on-text
    when: {industry: {range: [A, M]}}
    assign: {territory: T1}
  - name: big
    when: {employees: {range: [100, null]}}
    assign: {territory: T3}
  - name: bigger
    when: {employees: {range: [200, 500]}, state: MA}
    assign: {territory: T1}
  - name: ny-zips
    when: {zip: {between: ["10000", "14999"]}}
    assign: {territory: T1}
  - name: manhattan
    when: {zip: {between: ["10001", "10282"]}}
    assign: {territory: T2}
  - name: duplicate-of-big
    when: {employees: {range: [100, null]}}
    assign: {territory: T2}
  - name: ct
    when: {state: CT}
    assign: {territory: T1}
  - name: ri
    when: {state: RI}
    assign: {territory: T1}
  - name: ct-or-ri
    when: {state: [CT, RI]}
    assign: {territory: T2}
  - name: never
    when: {all: [{state: ME}, {state: VT}]}
    assign: {territory: T2}
  - name: salons
    when: {industry: Salon}
    assign: {territory: T2}
  - name: prefix-short
    when: {name: {prefix: "The"}}
    assign: {territory: T3}
  - name: prefix-long
    when: {name: {prefix: "the blue"}}
    assign: {territory: T1}
  - name: small-vermont
    when: {state: VT, employees: {range: [0, 50]}}
    assign: {territory: T3}
  - name: prefix-on-number
    when: {employees: {prefix: "1"}}
    assign: {territory: T3}
  - name: text-in-number
    when: {employees: {in: [ten]}}
    assign: {territory: T3}
  - name: catch-all
    assign: {territory: T3}
  - name: after-catch-all
    when: {state: NY}
    assign: {territory: T1}
"""


@pytest.fixture(scope="module")
def report():
    rs = parse_yaml(DEFECTS, source="defects.yaml")
    return validate(rs, fields=FIELDS, territories=["T1", "T2", "T3"], reps=["R1", "R2"])


def _find(report, code, line):
    return [i for i in report.issues if i.code == code and i.line == line]


@pytest.mark.parametrize("code,line,rule,fragment", [
    ("unknown_field", 11, "typo-field", "did you mean 'segment'"),
    ("unknown_territory", 15, "bad-territory", "T99"),
    ("unknown_rep", 18, "bad-rep", "R404"),
    ("unknown_team", 21, "bad-team", "west"),
    ("type", 23, "range-on-text", "range does not apply to 'industry', a text field"),
    ("type", 65, "prefix-on-number", "prefix does not apply to 'employees'"),
    ("type", 68, "text-in-number", "'ten' is not a number"),
])
def test_errors_with_lines(report, code, line, rule, fragment):
    hits = _find(report, code, line)
    assert hits and hits[0].severity == "error" and hits[0].rule == rule and fragment in hits[0].message, \
        [str(i) for i in report.issues if i.line == line]


@pytest.mark.parametrize("line,rule,by", [
    (7, "enterprise-again", "enterprise"),          # equality inside an earlier in-list (case-insensitive)
    (28, "bigger", "big"),                          # narrower range plus another condition
    (34, "manhattan", "ny-zips"),                   # ZIP range inside an earlier ZIP range
    (37, "duplicate-of-big", "big"),                # exact duplicate
    (58, "prefix-long", "prefix-short"),            # longer prefix after a shorter one
    (72, "after-catch-all", "catch-all"),           # anything after a catch-all
])
def test_unreachable_rules(report, line, rule, by):
    hits = _find(report, "unreachable", line)
    assert hits and hits[0].rule == rule and hits[0].other_rule == by and hits[0].severity == "warning", \
        [str(i) for i in report.issues if i.line == line]


def test_duplicate_is_called_a_duplicate(report):
    assert _find(report, "unreachable", 37)[0].message.startswith("duplicates rule 'big' (line 25)")


def test_unreachable_by_union_and_contradiction(report):
    union = _find(report, "unreachable", 46)
    assert union and "'ct' (line 40), 'ri' (line 43) together" in union[0].message
    never = _find(report, "unreachable", 49)
    assert never and "contradict" in never[0].message


def test_overlaps_reported_in_pairs_and_disjoint_rules_not(report):
    pairs = {(i.other_rule, i.rule) for i in report.issues if i.code == "overlap"}
    assert ("big", "salons") in pairs                 # a big salon matches both; 'big' wins
    assert ("enterprise", "salons") in pairs
    assert ("big", "small-vermont") not in pairs      # employees >= 100 vs <= 50: disjoint
    assert ("ct", "ri") not in pairs and ("ct", "small-vermont") not in pairs
    assert ("ny-zips", "ct") in pairs                 # a ZIP range says nothing about the state
    msg = next(i for i in report.issues if i.code == "overlap" and (i.other_rule, i.rule) == ("big", "salons"))
    assert msg.line == 52 and msg.other_line == 25 and "which wins" in msg.message
    # rules already reported unreachable are not listed again as overlaps
    assert not any(i.code == "overlap" and "after-catch-all" in (i.rule, i.other_rule) for i in report.issues)


def test_overlap_counts_on_data():
    rs = parse_yaml("""rules:
  - {name: big, when: {employees: {range: [100, null]}}, assign: {territory: T1}}
  - {name: salons, when: {industry: Salon}, assign: {territory: T2}}
  - {name: spas, when: {industry: Spa}, assign: {territory: T2}}
""")
    data = pd.DataFrame({"industry": ["Salon", "Salon", "Spa", "Spa", "Salon"], "employees": [150, 20, 300, 5, 100]})
    rep = validate(rs, fields={"industry": "text", "employees": "number"}, data=data)
    ov = rep.overlaps.set_index(["rule", "other_rule"])["accounts"]
    assert ov[("big", "salons")] == 2 and ov[("big", "spas")] == 1
    assert ("salons", "spas") not in ov.index


def test_parse_errors_keep_lines():
    rs = parse_yaml("rules:\n  - name: a\n    when: {state: NY}\n    asign: {territory: T1}\n  - name: b\n"
                    "    when: {state: {equal: NJ}}\n    assign: {territory: T1}\nfalback: nearest\n", source="p.yaml")
    got = {(i.code, i.line) for i in rs.parse_issues}
    assert ("parse", 4) in got        # unknown key 'asign'
    assert ("parse", 2) in got        # rule a then lacks assign
    assert ("parse", 6) in got        # unknown operator 'equal'
    assert ("parse", 8) in got        # unknown top-level key
    bad = parse_yaml("rules:\n  - name: a\n    when: {state: NY\n", source="broken.yaml")
    assert bad.parse_issues[0].code == "parse" and bad.parse_issues[0].line in (3, 4)
    assert str(bad.parse_issues[0]).startswith("broken.yaml:")


# ------------------------------------------------------------------- soundness on data
ATOMS = [
    {"state": "NY"}, {"state": ["NY", "NJ"]}, {"state": {"not_in": ["NY"]}}, {"state": {"missing": True}},
    {"state": {"missing": False}}, {"employees": {"range": [10, 100]}}, {"employees": {"range": [50, None]}},
    {"employees": {"range": [None, 20]}}, {"employees": {"in": [5, 50]}}, {"employees": {"not_in": [5]}},
    {"zip": {"between": ["10000", "14999"]}}, {"zip": {"between": ["10001", "10282"]}}, {"zip": {"prefix": "10"}},
    {"zip": {"prefix": "0"}}, {"product_lines": {"contains": "Fragrance"}},
    {"product_lines": {"contains": ["Fragrance", "Apparel"]}}, {"product_lines": {"not_in": ["Fragrance"]}},
    {"name": {"prefix": "The"}}, {"name": {"prefix": "the blue"}}, {"name": {"regex": "Spa$"}},
]


def _data(n=4000, seed=5):
    rng = np.random.default_rng(seed)

    def pick(vals, miss=0.1):
        v = rng.choice(np.asarray(vals, dtype=object), n)
        v[rng.random(n) < miss] = None
        return v

    emp = rng.integers(0, 160, n).astype(float)
    emp[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "state": pick(["NY", "NJ", "PA", "ny"]),
        "employees": emp,
        "zip": pick(["10001", "10282", "10500", "14999", "02108", "19103", "10000"]),
        "product_lines": pick(["Fragrance", "Apparel;Skincare", "Skincare", "fragrance;haircare"]),
        "name": pick(["The Blue Spa", "The Salon", "Blue Spa", "Corner Store", "the blue door"]),
    })


def test_unreachable_and_disjoint_verdicts_hold_on_data():
    """Whatever the validator claims must be true of the masks: 'unreachable by A' means every
    account B matches is matched by A; no overlap reported means no account matches both."""
    data = _data()
    ev = Evaluator(data, FIELDS)
    rng = np.random.default_rng(1)
    claims = {"unreachable": 0, "disjoint": 0}
    for _ in range(250):
        a_atoms = [ATOMS[i] for i in rng.choice(len(ATOMS), rng.integers(1, 3), replace=False)]
        b_atoms = [ATOMS[i] for i in rng.choice(len(ATOMS), rng.integers(1, 3), replace=False)]
        spec = {"rules": [{"name": "a", "when": {"all": a_atoms}, "assign": {"territory": "T1"}},
                          {"name": "b", "when": {"all": b_atoms}, "assign": {"territory": "T2"}}]}
        rs = parse_dict(spec)
        rep = validate(rs, fields=FIELDS)
        ma, mb = ev.mask(rs.rules[0].when), ev.mask(rs.rules[1].when)
        codes = {(i.code, i.rule) for i in rep.issues}
        if ("unreachable", "b") in codes:
            claims["unreachable"] += 1
            assert not (mb & ~ma).any(), spec
        elif ("overlap", "b") not in codes and ("unreachable", "a") not in codes:
            claims["disjoint"] += 1
            assert not (ma & mb).any(), spec
    assert claims["unreachable"] >= 10 and claims["disjoint"] >= 8, claims  # both verdicts were exercised


def test_subsumption_cases_are_found():
    """Pairs where B is implied by A by construction are all reported unreachable."""
    cases = [
        ({"state": ["NY", "NJ"]}, {"state": "ny"}),
        ({"employees": {"range": [10, 100]}}, {"employees": {"in": [50, 20]}}),
        ({"zip": {"prefix": "10"}}, {"zip": {"between": ["10001", "10282"]}, "state": "NY"}),
        ({"zip": {"prefix": "10"}}, {"zip": {"in": ["10001", "10500"]}}),
        ({"product_lines": {"contains": ["Fragrance", "Apparel"]}}, {"product_lines": {"contains": "fragrance"}}),
        ({"state": {"not_in": ["NY"]}}, {"state": {"not_in": ["NY", "NJ"]}}),
        ({"state": {"missing": False}}, {"state": "PA"}),
        ({"any": [{"state": "NY"}, {"employees": {"range": [0, 5]}}]}, {"employees": {"in": [1, 2]}}),
    ]
    for a, b in cases:
        rs = parse_dict({"rules": [{"name": "a", "when": a, "assign": {"territory": "T"}},
                                   {"name": "b", "when": b, "assign": {"territory": "U"}}]})
        rep = validate(rs, fields=FIELDS)
        assert ("unreachable", "b") in {(i.code, i.rule) for i in rep.issues}, (a, b)
    # and the reverse directions are not (B is not implied by A)
    for a, b in cases[:6]:
        rs = parse_dict({"rules": [{"name": "a", "when": b, "assign": {"territory": "T"}},
                                   {"name": "b", "when": a, "assign": {"territory": "U"}}]})
        rep = validate(rs, fields=FIELDS)
        assert ("unreachable", "b") not in {(i.code, i.rule) for i in rep.issues}, (b, a)


def test_zip_prefix_note():
    """``zip: {between: [10001, 10282]}`` inside ``prefix 10`` needs the range bounds to share
    the prefix; a range crossing it is not subsumed."""
    rs = parse_dict({"rules": [{"name": "a", "when": {"zip": {"prefix": "10"}}, "assign": {"territory": "T"}},
                               {"name": "b", "when": {"zip": {"between": ["09000", "10500"]}},
                                "assign": {"territory": "U"}}]})
    codes = {(i.code, i.rule) for i in validate(rs, fields=FIELDS).issues}
    assert ("unreachable", "b") not in codes and ("overlap", "b") in codes
