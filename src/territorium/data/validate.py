"""Vectorised parsing and validation of text columns into typed core-table columns.

Every converter takes a Series of ``str`` ('' = empty) and returns the typed values plus a
boolean mask of values that could not be understood and the reason. Nothing loops over rows
in Python: the work is pandas string kernels (Arrow-backed), ``to_numeric``/``to_datetime``
and joins against reference tables; Python only ever sees the *distinct* values of small
domains (states, countries, currencies).
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from territorium.data.problems import ERROR, WARNING, ProblemLog
from territorium.data.schema import Field, TableSpec
from territorium.geo.reference import normalize_state

__all__ = [
    "parse_number", "parse_zip", "parse_state", "parse_country", "parse_currency",
    "parse_datetime", "parse_bool", "parse_email", "validate_frame", "CURRENCIES",
]

#: Active ISO 4217 currency codes.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU
    UZS VES VED VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL ZWG""".split()
)

#: Largest whole number stored (PostgreSQL INTEGER, 32-bit signed).
INT_LIMIT = 2_147_483_647
#: Longest text accepted per kind (characters); ``Field.max_len`` overrides. Salesforce's own
#: limits are 255 for names and ids, 80 for e-mails' local part + domain (254 by RFC 5321).
TEXT_LIMITS = {"id": 255, "email": 254, "list": 4000, "postal": 16, "str": 1000, "address": 100}
#: Dates before this are not records of a business (a visit in 1066, year 1 from a broken export).
EARLIEST_DATE = dt.date(1900, 1, 1)

_TRUE = {"true", "t", "yes", "y", "1", "x", "won", "closed"}
_FALSE = {"false", "f", "no", "n", "0", "open", "lost"}
ACTIVITY_TYPES = ("visit", "call", "email", "meeting", "other")


def _strip(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip()


def _map_distinct(s: pd.Series, fn) -> pd.Series:
    """Apply a Python function to the distinct values only, then broadcast (fast for small domains)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    mapped = np.array([fn(u) for u in uniques], dtype=object)
    return pd.Series(mapped[codes] if len(uniques) else np.array([], dtype=object), index=s.index, dtype=object)


# ---------------------------------------------------------------- numbers
def parse_number(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse money/number strings.

    Accepts currency symbols and codes ("$1,200,000.00", "USD 12"), thousands separators,
    decimal commas ("1.200,00 €"), accounting negatives ("(12.50)") and percentages.

    >>> v, bad, pct = parse_number(pd.Series(["$1,200,000.00", "1.200,50 €", "45%", "(12)", "abc", ""]))
    >>> v.tolist()[:4], bad.tolist(), pct.tolist()[2]
    ([1200000.0, 1200.5, 45.0, -12.0], [False, False, False, False, True, False], True)

    Returns
    -------
    values : float Series (NaN where empty or bad)
    bad : bool array, True where a non-empty value is not a number
    percent : bool array, True where the value carried a ``%`` sign
    """
    t = _strip(s)
    empty = (t == "").to_numpy()
    if empty.all():
        return pd.Series(np.nan, index=s.index), np.zeros(len(s), bool), np.zeros(len(s), bool)
    fast = pd.to_numeric(t.where(~empty, None), errors="coerce")
    need = (~empty) & fast.isna().to_numpy()
    values = fast.astype(np.float64)
    pct = np.zeros(len(s), dtype=bool)
    if need.any():
        u = t[need]
        neg = u.str.startswith("(") & u.str.endswith(")")
        u = u.str.replace(r"[()\s\u00a0$€£¥]|\b(?:USD|EUR|GBP|CAD|AUD)\b", "", regex=True)
        p = u.str.endswith("%")
        u = u.str.rstrip("%")
        has_c = u.str.contains(",", regex=False)
        us_thousands = u.str.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
        euro = has_c & ~us_thousands & u.str.fullmatch(r"[-+]?\d{1,3}(?:\.\d{3})*,\d+|[-+]?\d+,\d+")
        u = u.where(~us_thousands, u.str.replace(",", "", regex=False))
        u = u.where(~euro, u.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
        v = pd.to_numeric(u.where(u != "", None), errors="coerce").astype(np.float64)
        v = v.where(~neg, -v)
        values.loc[need] = v.to_numpy()
        pct[need] = p.to_numpy(dtype=bool)
    bad = (~empty) & values.isna().to_numpy()
    return values, bad, pct


# ---------------------------------------------------------------- places
def parse_zip(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Normalise US ZIPs: ``'02134`` → 02134, 2134 → 02134, 02134-1234 → 02134, 021341234 → 02134.

    Returns the 5-char ZIPs ('' where empty), a mask of unparseable values and a mask of
    ``00000``.

    >>> zips, bad, zero = parse_zip(pd.Series(["2134", "02134-1234", "'10001", "ABC", "0"]))
    >>> zips.tolist(), bad.tolist()
    (['02134', '02134', '10001', '', ''], [False, False, False, True, True])
    """
    t = _strip(s).str.lstrip("'").str.replace(r"\.0$", "", regex=True)
    plus4 = t.str.fullmatch(r"\d{3,5}-\d{4}")
    t = t.where(~plus4, t.str.split("-", n=1).str[0])
    nine = t.str.fullmatch(r"\d{9}")
    t = t.where(~nine, t.str.slice(0, 5))
    digits = t.str.fullmatch(r"\d{3,5}")
    out = t.where(~digits, t.str.zfill(5))
    empty = (t == "").to_numpy()
    bad = (~empty) & ~digits.to_numpy(dtype=bool)
    zero = (out == "00000").to_numpy()
    return out.where(~pd.Series(bad, index=s.index), ""), bad, zero


#: USPS codes of territories and military "states", valid in addresses but not in STATES.
OTHER_USPS = {"AS": "AMERICAN SAMOA", "GU": "GUAM", "MP": "NORTHERN MARIANA ISLANDS",
              "VI": "VIRGIN ISLANDS", "UM": "", "FM": "FEDERATED STATES OF MICRONESIA",
              "MH": "MARSHALL ISLANDS", "PW": "PALAU", "AA": "", "AE": "", "AP": ""}
_OTHER_BY_NAME = {v: k for k, v in OTHER_USPS.items() if v}


def _state(v: str):
    if not v:
        return ""
    code = normalize_state(v)
    if code is None:
        k = " ".join(v.upper().replace(".", "").split())
        code = k if k in OTHER_USPS else _OTHER_BY_NAME.get(k)
    return code


def parse_state(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """USPS codes from codes or full names; bad where a non-empty value is not a US state
    (territories and military codes are accepted)."""
    t = _strip(s)
    out = _map_distinct(t, _state)
    bad = ((t != "").to_numpy()) & out.isna().to_numpy()
    return out.fillna(""), bad


def parse_country(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """ISO alpha-2 codes from codes or names ("USA", "United Kingdom", "Korea, Republic of");
    bad where a non-empty value names no country (see :mod:`territorium.data.address`)."""
    from territorium.data.address import parse_country as _pc

    return _pc(s)


def parse_currency(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    t = _strip(s).str.upper()
    bad = ((t != "") & ~t.isin(CURRENCIES)).to_numpy()
    return t, bad


# ---------------------------------------------------------------- dates
_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S",
                 "%m/%d/%y", "%d.%m.%Y", "%Y/%m/%d", "%d-%b-%Y", "%b %d, %Y")


def parse_datetime(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Timestamps in UTC from ISO 8601 (with or without offset, Shopify's
    ``2024-03-01 10:02:11 -0500``), US ``m/d/Y`` (Salesforce), ``d.m.Y`` and a few more."""
    t = _strip(s)
    empty = (t == "").to_numpy()
    out = pd.to_datetime(t.where(~empty, None), format="ISO8601", errors="coerce", utc=True)
    need = (~empty) & out.isna().to_numpy()
    if need.any():  # "2025-06-01 10:00:00 UTC"
        u = t[need].str.replace(r"\s*(?:UTC|GMT)$", "+00:00", regex=True)
        out.loc[need] = pd.to_datetime(u, format="ISO8601", errors="coerce", utc=True).to_numpy()
    for fmt in _DATE_FORMATS:
        need = (~empty) & out.isna().to_numpy()
        if not need.any():
            break
        out.loc[need] = pd.to_datetime(t[need], format=fmt, errors="coerce", utc=True).to_numpy()
    bad = (~empty) & out.isna().to_numpy()
    return out, bad


def parse_bool(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    t = _strip(s).str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[t.isin(_TRUE).to_numpy()] = True
    out[t.isin(_FALSE).to_numpy()] = False
    bad = ((t != "") & out.isna()).to_numpy()
    return out, bad


def parse_email(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    t = _strip(s).str.lower()
    bad = ((t != "") & ~t.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+")).to_numpy()
    return t, bad


def parse_activity_type(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Map CRM activity types/subjects to visit/call/email/meeting/other."""

    def one(v: str) -> str:
        k = v.lower()
        if not k:
            return ""
        for word, typ in (("visit", "visit"), ("call", "call"), ("phone", "call"), ("email", "email"),
                          ("e-mail", "email"), ("mail", "email"), ("meeting", "meeting"), ("demo", "meeting"),
                          ("lunch", "meeting"), ("on-site", "visit"), ("onsite", "visit")):
            if word in k:
                return typ
        return "other"

    return _map_distinct(_strip(s), one).astype(str), np.zeros(len(s), dtype=bool)


# ---------------------------------------------------------------- the table
def validate_frame(
    spec: TableSpec,
    frame: pd.DataFrame,
    log: ProblemLog,
    source: dict[str, str],
    today: dt.date,
    only: np.ndarray | None = None,
) -> pd.DataFrame:
    """Convert the text columns of ``frame`` (canonical names) to typed columns.

    Problems go to ``log`` (row numbers come from the log) under the column name the user
    wrote (``source`` maps canonical → file header). ``only`` restricts checks to a subset of
    positions (Shopify order-level fields are checked on each order's first line only).
    Columns absent from ``frame`` become empty (null) columns.
    """
    n = len(frame)
    out = pd.DataFrame(index=frame.index)
    scope = np.ones(n, dtype=bool) if only is None else only

    def add(mask, col, reason, severity=ERROR, values=None):
        log.add(np.asarray(mask, bool) & scope, source.get(col, col),
                frame[col].to_numpy() if values is None else values, reason, severity)

    add.rows = log.rows

    address = set(spec.address_fields())
    for f in spec.fields:
        if f.name not in frame.columns or f.name in address:
            out[f.name] = _empty(f.kind, n)
            continue
        raw = frame[f.name]
        empty = (raw.str.strip() == "").to_numpy()
        if f.required:
            add(empty, f.name, "required value is missing")
        out[f.name] = _convert(f, raw, add, today)
    _check_unique(spec, frame, out, add, scope)
    if address:
        _check_address(spec, frame, out, add)
    else:
        _check_zip_state(spec, frame, out, add)
    return out


def _empty(kind: str, n: int) -> pd.Series:
    if kind in ("money", "float", "percent", "lat", "lon"):
        return pd.Series(np.full(n, np.nan))
    if kind == "int":
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    if kind in ("date", "datetime"):
        return pd.Series(pd.to_datetime(pd.Series([None] * n, dtype=object), utc=True))
    if kind == "bool":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    return pd.Series([None] * n, dtype=object)


def _too_long(f: Field, raw: pd.Series, add) -> pd.Series:
    """Error for values longer than the field's limit; the problem shows the value's start."""
    limit = f.max_len or TEXT_LIMITS.get(f.kind)
    if limit is None:
        return raw
    n = raw.str.len().to_numpy()
    long = n > limit
    if long.any():
        shown = np.where(long, raw.str.slice(0, 40).to_numpy(dtype=object) + "...", "")
        reasons = np.where(long, [f"too long: {int(x):,} characters (limit {limit:,})" for x in n], "")
        add(long, f.name, reasons, values=shown)
        raw = raw.where(~pd.Series(long, index=raw.index), "")
    return raw


def _convert(f: Field, raw: pd.Series, add, today: dt.date) -> pd.Series:
    if f.kind in ("id", "str", "email", "list") or f.max_len:
        raw = _too_long(f, raw, add)
    return _convert_value(f, raw, add, today)


def _convert_value(f: Field, raw: pd.Series, add, today: dt.date) -> pd.Series:
    k = f.kind
    if k in ("money", "float", "int", "percent", "lat", "lon"):
        v, bad, pct = parse_number(raw)
        what = {"money": "an amount", "int": "a whole number", "percent": "a percentage"}.get(k, "a number")
        add(bad, f.name, f"not {what}")
        # inf, Infinity, 1e400 (overflows to inf): not a value anyone can sell, store or sum
        inf = v.notna().to_numpy() & ~np.isfinite(v.to_numpy(dtype=np.float64, na_value=np.nan))
        add(inf, f.name, f"not {what}: infinite or too large to store")
        v = v.where(~pd.Series(inf, index=v.index))
        if k == "int":
            big = (v.abs() > INT_LIMIT).to_numpy()
            add(big, f.name, f"too large for a whole number (above {INT_LIMIT:,})")
            v = v.where(~pd.Series(big, index=v.index))
        if k == "percent":
            # a column written as 0–100 (Salesforce) or with % signs is scaled to 0–1
            if pct.any() or (v.dropna() > 1).any():
                v = v / 100.0
        if k == "int":
            frac = (v.notna() & (v != np.floor(v))).to_numpy()
            add(frac, f.name, "not a whole number")
            v = v.where(~pd.Series(frac, index=v.index))
        lo, hi = f.min, f.max
        if k == "lat":
            lo, hi = -90.0, 90.0
        if k == "lon":
            lo, hi = -180.0, 180.0
        if lo is not None:
            neg = (v < lo).to_numpy()
            add(neg, f.name, "negative value is impossible" if lo == 0 else f"below {lo}")
            v = v.where(~pd.Series(neg, index=v.index))
        if hi is not None:
            over = (v > hi).to_numpy()
            add(over, f.name, f"above {hi * 100:.0f}%" if k == "percent" else f"above {hi}")
            v = v.where(~pd.Series(over, index=v.index))
        if k == "int":
            return v.round().astype("Int64")
        return v.astype(np.float64)
    if k in ("date", "datetime"):
        v, bad = parse_datetime(raw)
        add(bad, f.name, "not a date" if k == "date" else "not a date/time")
        if f.no_future:
            limit = pd.Timestamp(today, tz="UTC") + pd.Timedelta(days=1)
            fut = (v >= limit).to_numpy()
            add(fut, f.name, f"date is in the future (after {today.isoformat()})")
        early = (v < pd.Timestamp(EARLIEST_DATE, tz="UTC")).to_numpy()
        if early.any():
            y = v.dt.year.to_numpy()
            reason = np.array([f"implausible date: year {int(x) if x == x else 0} is before "
                               f"{EARLIEST_DATE.year}" for x in y], dtype=object)
            # something that happened (an order, a done visit) cannot predate 1900: an error;
            # other dates (a close date) get a warning
            add(early, f.name, reason, ERROR if f.no_future else WARNING)
        if not f.no_future:
            far = pd.Timestamp(today, tz="UTC") + pd.DateOffset(years=100)
            late = (v > far).to_numpy()
            if late.any():
                add(late, f.name, f"implausible date: more than 100 years after {today.isoformat()}", WARNING)
        if k == "date":
            v = v.dt.tz_localize(None).dt.normalize()
        return v
    if k == "zip":
        v, bad, zero = parse_zip(raw)
        add(bad, f.name, "not a US ZIP code")
        add(zero, f.name, "ZIP 00000 does not exist")
        return v.where(~pd.Series(zero, index=v.index), "")
    if k == "state":
        v, bad = parse_state(raw)
        add(bad, f.name, "not a US state (code or name)")
        return v
    if k == "country":
        return parse_country(raw)[0]
    if k == "currency":
        v, bad = parse_currency(raw)
        add(bad, f.name, "unknown currency (not an ISO 4217 code)")
        return v
    if k == "bool":
        v, bad = parse_bool(raw)
        add(bad, f.name, "not true/false")
        return v
    if k == "email":
        v, bad = parse_email(raw)
        add(bad, f.name, "not an e-mail address")
        return v
    if k == "activity_type":
        return parse_activity_type(raw)[0]
    if k == "id":
        # Shopify writes long numeric ids as '6011110949048 so spreadsheets keep every digit
        t = _strip(raw)
        return t.str.replace(r"^'(?=\d+$)", "", regex=True).str.replace(r"\s+", " ", regex=True)
    if k == "list":
        return _strip(raw).str.replace(r"\s*[;,|]\s*", ";", regex=True).str.strip(";")
    return _strip(raw).str.replace(r"\s+", " ", regex=True)


def _check_unique(spec: TableSpec, frame: pd.DataFrame, out: pd.DataFrame, add, scope) -> None:
    for f in spec.fields:
        if not f.unique or f.name not in frame.columns:
            continue
        v = out[f.name].astype(str)
        nonempty = (v != "") & out[f.name].notna()
        dup = (v.duplicated(keep=False) & nonempty).to_numpy() & scope
        if dup.any():
            d = pd.DataFrame({"key": v.to_numpy()[dup], "row": np.asarray(add.rows)[dup]})
            d["n"] = d.groupby("key", sort=False).cumcount()
            first = d.loc[d["n"] == 0].set_index("key")["row"]
            second = d.loc[d["n"] == 1].set_index("key")["row"]
            # every copy names the first row; the first row names the second
            other = np.where(d["n"] == 0, d["key"].map(second), d["key"].map(first)).astype(np.int64)
            full = np.full(len(v), "", dtype=object)
            full[dup] = ("duplicate id (also on row " + pd.Series(other).astype(str) + ")").to_numpy()
            add(dup, f.name, full)


def _check_zip_state(spec: TableSpec, frame: pd.DataFrame, out: pd.DataFrame, add) -> None:
    if spec.zip_state is None:
        return
    from territorium.data.geocoding import zip_states

    zc, sc, cc = spec.zip_state
    if zc not in frame.columns:
        return
    z = out[zc].astype(str)
    us = np.ones(len(z), dtype=bool)
    if cc and cc in frame.columns:
        c = out[cc].astype(str)
        us = ((c == "US") | (c == "")).to_numpy()
    has = (z != "").to_numpy() & us
    if not has.any():
        return
    zs = zip_states(z)
    unknown = has & pd.isna(zs)
    add(unknown, zc, "ZIP code not found in the US ZIP table; placed by city if possible", WARNING,
        values=z.to_numpy())
    if sc and sc in frame.columns:
        st = out[sc].astype(str).to_numpy()
        wrong = has & ~pd.isna(zs) & (st != "") & (zs != st)
        if wrong.any():
            reasons = np.where(wrong, "ZIP " + z.to_numpy().astype(object) + " is in " + zs.astype(str)
                               + ", not " + st.astype(object), "")
            add(wrong, zc, reasons, values=z.to_numpy())


# ---------------------------------------------------------------- addresses of any country
def _check_address(spec: TableSpec, frame: pd.DataFrame, out: pd.DataFrame, add) -> None:
    """Country, postal code and subdivision of each row, checked by the row's country.

    US rows (and USPS territories): ZIP + USPS state as before, into ``zip``/``state``.
    Other countries: the postal code and subdivision by that country's rules, into the
    postal-code / subdivision columns only; their ``zip`` and ``state`` stay empty, so no
    US look-up ever sees them. A missing country is inferred (see :func:`_infer_country`).
    """
    from territorium.data.address import (
        US_POSTAL, check_postal, country_name, postal_in_subdivision, subdivision_code,
    )

    zc, sc, cc = spec.zip_state
    pc, dc = spec.postal_columns()
    idx = frame.index

    def raw(c):
        if c and c in frame.columns:
            return frame[c].astype(str).str.strip()
        return pd.Series("", index=idx, dtype=object)

    z, st, cn = raw(zc), raw(sc), raw(cc)
    for col, series in ((zc, z), (sc, st), (cc, cn)):
        if col and len(series):
            long = (series.str.len() > TEXT_LIMITS["address"]).to_numpy()
            if long.any():
                add(long, col, f"too long for a postal code, state or country (limit {TEXT_LIMITS['address']} "
                    "characters)", values=np.where(long, series.str.slice(0, 40).to_numpy(dtype=object) + "...", ""))
                series.loc[long] = ""
    city = raw("city")
    country, cbad = parse_country(cn)
    add(cbad, cc, "unknown country (not an ISO 3166 country code or name)", values=cn.to_numpy())
    country = country.to_numpy(dtype=object).copy()
    zn, sn = (z != "").to_numpy(), (st != "").to_numpy()
    need = (country == "") & ~cbad & (zn | sn)
    if need.any():
        inferred, note = _infer_country(z[need], st[need], city[need])
        country[need] = inferred
        where_col = np.where(zn[need], zc, sc)
        for col in (zc, sc):
            m = np.zeros(len(idx), dtype=bool)
            m[np.flatnonzero(need)[(where_col == col) & (note != "")]] = True
            if m.any():
                full = np.full(len(idx), "", dtype=object)
                full[need] = note
                add(m, col, full, WARNING, values=(z if col == zc else st).to_numpy())
    us = np.isin(country, list(US_POSTAL))

    zips, zbad, zero = parse_zip(z)
    add(zbad & us, zc, "not a US ZIP code", values=z.to_numpy())
    add(zero & us, zc, "ZIP 00000 does not exist", values=z.to_numpy())
    zips = zips.where(pd.Series(us & ~zero, index=idx), "")
    states, sbad = parse_state(st)
    if sc:
        add(sbad & us, sc, "not a US state (code or name)", values=st.to_numpy())
    states = states.where(pd.Series(us, index=idx), "")
    out[zc] = zips
    if sc:
        out[sc] = states
    if cc:
        out[cc] = pd.Series(country, index=idx, dtype=object)
    postal = np.where(us, zips.to_numpy(dtype=object), "").astype(object)
    subdiv = np.where(us & (states != "").to_numpy(), "US-" + states.astype(str).to_numpy(dtype=object), "")
    subdiv = subdiv.astype(object)

    # US: ZIP inside its state
    tmp = pd.DataFrame({zc: zips, **({sc: states} if sc else {})})
    _zip_in_state(tmp, zc, sc if sc else None, us, add)

    # every other country: by its own rules, once per distinct (country, postal, subdivision)
    fo = ~us & (country != "")
    if fo.any():
        key = pd.DataFrame({"c": country[fo], "z": z.to_numpy(dtype=object)[fo], "s": st.to_numpy(dtype=object)[fo]})
        codes, uniq = pd.factorize(pd.MultiIndex.from_frame(key))
        res = []
        for c_, z_, s_ in uniq:
            p, perr, pwarn = check_postal(c_, z_)
            sub = subdivision_code(c_, s_) if s_ else ""
            swarn = None
            if s_ and sub is None:
                swarn = f"not a known state/province/region of {country_name(c_)}; kept as written"
                sub = s_
            inside = postal_in_subdivision(c_, p, sub) if perr is None else None
            serr = f"postal code {p} is not in {sub} ({s_})" if inside is False else None
            res.append((p, sub, perr, pwarn, swarn, serr))
        res = np.array(res, dtype=object).reshape(-1, 6)[codes]
        pos = np.flatnonzero(fo)
        postal[pos], subdiv[pos] = res[:, 0], res[:, 1]
        for k, (col, sev) in enumerate(((zc, ERROR), (zc, WARNING), (sc, WARNING), (zc, ERROR)), start=2):
            has = np.array([r is not None for r in res[:, k]], dtype=bool)
            if not has.any() or col is None:
                continue
            m = np.zeros(len(idx), dtype=bool)
            m[pos[has]] = True
            full = np.full(len(idx), "", dtype=object)
            full[pos[has]] = res[has, k]
            vals = (z if col == zc else st).to_numpy()
            add(m, col, full, sev, values=vals)
    if pc:
        out[pc] = pd.Series(postal, index=idx, dtype=object)
    if dc:
        out[dc] = pd.Series(subdiv, index=idx, dtype=object)


def _infer_country(z: pd.Series, st: pd.Series, city: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Country of rows that have none, from the state/province and postal code.

    Returns (country codes, '' where unknown; warning text, '' where none). One country
    fitting both values wins silently; several give the US (else the first) and a warning;
    a bare US-looking ZIP whose city is neither the ZIP's city nor a city of its state
    within 60 km gives no country and a warning (never a guess into the US).

    The common case (a US state that names no subdivision of another candidate country, or
    a bare US ZIP) is decided with array operations; only foreign-looking values are looked
    at one distinct value at a time.
    """
    from territorium.data.address import INFER_COUNTRIES

    n = len(z)
    zv, sv, cv = (x.to_numpy(dtype=object) for x in (z, st, city))
    zz, zbad, _ = parse_zip(z)
    zz = zz.to_numpy(dtype=object)
    zn, sn, cn = (zv != ""), (sv != ""), (cv != "")
    us_zip = ~zn | ~zbad
    zstate = zip_states(pd.Series(zz)).astype(object)
    zstate = np.where(pd.isna(zstate), "", zstate)
    ust, _ = parse_state(st)
    ust = ust.to_numpy(dtype=object)
    out = np.full(n, "", dtype=object)
    notes = np.full(n, "", dtype=object)

    # A: a state / province is given
    hits_of = {s_: _foreign_subdivisions(s_, INFER_COUNTRIES) for s_ in pd.unique(sv[sn])}
    foreign_hit = np.array([bool(hits_of.get(s_)) for s_ in sv], dtype=bool) & sn
    us_fit = sn & (ust != "") & (~zn | (zstate == ust))
    fast = sn & ~foreign_hit
    out[fast] = "US"  # fits, or reported by the US checks (unknown state, ZIP not in state)
    slow = np.flatnonzero(sn & foreign_hit)
    if len(slow):
        # the city only matters where several countries fit: decide without it first
        key = pd.MultiIndex.from_arrays([zv[slow], sv[slow], us_fit[slow], ust[slow]])
        codes, uniq = pd.factorize(key)
        fits = [_province_fits(z_, s_, bool(f_), hits_of[s_]) for z_, s_, f_, _u in uniq]
        multi = np.array([len(f) > 1 for f in fits], dtype=bool)[codes]
        cities = np.where(multi, cv[slow], "")
        key = pd.MultiIndex.from_arrays([codes, cities])
        codes2, uniq2 = pd.factorize(key)
        u1 = list(uniq)
        res = [_infer_one_province(u1[k][0], u1[k][1], c_, u1[k][3], fits[k], hits_of[u1[k][1]])
               for k, c_ in list(uniq2)]
        codes = codes2
        out[slow] = np.array([r[0] for r in res], dtype=object)[codes]
        notes[slow] = np.array([r[1] for r in res], dtype=object)[codes]

    # B: no state, a US-looking ZIP: the US unless the city says otherwise
    b_us = ~sn & zn & us_zip
    out[b_us] = "US"
    chk = np.flatnonzero(b_us & cn & (zstate != ""))
    if len(chk):
        far = ~_cities_near_zips(cv[chk], zz[chk], zstate[chk])
        if far.any():
            from territorium.geo.reference import zip_table

            p = chk[far]
            zcity = zip_table()["city"].reindex(pd.Index(zz[p])).fillna("").to_numpy(dtype=object)
            out[p] = ""
            notes[p] = np.array([f"no country given, and ZIP {a} is {b}, {c} in the US ZIP table, not {d}: "
                                 f"not placed (add the country)" for a, b, c, d in zip(zz[p], zcity, zstate[p], cv[p])],
                                dtype=object)

    # C: no state, a postal code that is not a US ZIP: the one country whose pattern fits
    c_rows = np.flatnonzero(~sn & zn & ~us_zip)
    if len(c_rows):
        key = pd.MultiIndex.from_arrays([zv[c_rows], cv[c_rows]])
        codes, uniq = pd.factorize(key)
        res = []
        for z_, c_ in uniq:
            cands = [cc for cc in INFER_COUNTRIES if _postal_exact(cc, z_)]
            if len(cands) > 1 and c_:
                cands = _by_city(cands, c_) or cands
            if len(cands) == 1:
                res.append((cands[0], ""))
            elif cands:
                res.append(("", f"no country given, and postal code {z_} fits {', '.join(cands)}: "
                                f"not placed (add the country)"))
            else:
                res.append(("US", ""))  # reported as "not a US ZIP code"
        out[c_rows] = np.array([r[0] for r in res], dtype=object)[codes]
        notes[c_rows] = np.array([r[1] for r in res], dtype=object)[codes]
    return out, notes


@lru_cache(maxsize=4096)
def _foreign_subdivisions(value: str, countries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(country, ISO 3166-2 code) of each candidate country that has a subdivision ``value``."""
    from territorium.data.address import subdivision_code

    out = []
    for cc in countries:
        sub = subdivision_code(cc, value) or ""
        if "-" in sub:
            out.append((cc, sub))
    return tuple(out)


@lru_cache(maxsize=65536)
def _postal_exact(country: str, value: str) -> bool:
    """The postal code fits the country's pattern as written (no repair needed)."""
    from territorium.data.address import check_postal

    _, err, warn = check_postal(country, value)
    return err is None and warn is None


def _province_fits(z_: str, s_: str, us_fit: bool, hits: tuple[tuple[str, str], ...]) -> list[str]:
    """Countries (US first) whose subdivision and postal code fit the written values."""
    from territorium.data.address import check_postal, postal_in_subdivision

    cands = ["US"] if us_fit else []
    for cc, sub in hits:
        if not z_:
            cands.append(cc)
        elif _postal_exact(cc, z_) and postal_in_subdivision(cc, check_postal(cc, z_)[0], sub) is not False:
            cands.append(cc)
    return cands


def _infer_one_province(z_: str, s_: str, c_: str, us_state: str, cands: list[str],
                        hits: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    if len(cands) > 1 and c_:
        # a city of one of the foreign candidates decides; else all stay candidates
        by_city = _by_city(cands, c_)
        if by_city:
            cands = by_city
    if not cands:
        # reported by the checks of the country chosen: US state / ZIP, or the postal code
        return ("US" if us_state or not hits else hits[0][0]), ""
    pick = "US" if "US" in cands else cands[0]
    if len(cands) == 1:
        return pick, ""
    return pick, f"no country given: {' '.join(v for v in (s_, z_) if v)} fits {', '.join(cands)}; assumed {pick}"


def _by_city(cands: list[str], city: str) -> list[str]:
    """The candidate countries (not the US) that have a city of that name (offline world cities)."""
    from territorium.geo.geocode import _world_city_lookup, normalize_city

    look, key = _world_city_lookup(), normalize_city(city)
    return [cc for cc in cands if cc != "US" and (key, cc) in look]


def _cities_near_zips(city: np.ndarray, zips: np.ndarray, state: np.ndarray, km: float = 60.0) -> np.ndarray:
    """True where ``city`` is the ZIP's city in the ZIP table, or a city of ``state`` within
    ``km`` of the ZIP's centroid (Paris, TX is not near ZIP 75007 in Carrollton, TX)."""
    from territorium.geo.geocode import city_coordinates, normalize_city, zip_centroid
    from territorium.geo.reference import zip_table

    zcity = zip_table()["city"].reindex(pd.Index(zips)).fillna("").to_numpy(dtype=object)
    pairs = pd.MultiIndex.from_arrays([city, zcity])
    codes, uniq = pd.factorize(pairs)
    same = np.array([normalize_city(a) == normalize_city(b) for a, b in uniq], dtype=bool)[codes]
    ok = same.copy()
    todo = np.flatnonzero(~same)
    if len(todo):
        c = city_coordinates(city[todo], state[todo])
        zc = zip_centroid(zips[todo])
        lat1, lon1 = np.radians(c["lat"].to_numpy(float)), np.radians(c["lon"].to_numpy(float))
        lat2, lon2 = np.radians(zc["lat"].to_numpy(float)), np.radians(zc["lon"].to_numpy(float))
        d = 2 * 6371.0 * np.arcsin(np.sqrt(np.sin((lat2 - lat1) / 2) ** 2
                                           + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2))
        ok[todo] = np.nan_to_num(d, nan=np.inf) <= km
    return ok


def zip_states(zips: pd.Series) -> np.ndarray:
    from territorium.data.geocoding import zip_states as _zs

    return _zs(zips)


def _zip_in_state(out: pd.DataFrame, zc: str, sc: str | None, us: np.ndarray, add) -> None:
    z = out[zc].astype(str)
    has = (z != "").to_numpy() & us
    if not has.any():
        return
    zs = zip_states(z)
    unknown = has & pd.isna(zs)
    add(unknown, zc, "ZIP code not found in the US ZIP table; placed by city if possible", WARNING,
        values=z.to_numpy())
    if sc:
        st = out[sc].astype(str).to_numpy()
        wrong = has & ~pd.isna(zs) & (st != "") & (zs != st)
        if wrong.any():
            reasons = np.where(wrong, "ZIP " + z.to_numpy().astype(object) + " is in " + zs.astype(str)
                               + ", not " + st.astype(object), "")
            add(wrong, zc, reasons, values=z.to_numpy())
