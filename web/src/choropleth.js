// What a "Colour by" choice paints (issue 15): per unit or per territory, the head's measures,
// white space (potential not yet won), quota, attainment, or a numeric column of an analytic
// CSV the user picks (read in the page only). Pure functions of the page's data: mapdata.js
// classes the values and draws them; NaN marks "no value" (grey in the map and the legend).

/** White space of each unit: max(potential − revenue, 0) of the unit's totals (the head's
 *  measures, both over accounts; revenue is the trailing 12 months, see docs/measures.md);
 *  null without both measures. */
export function whiteSpace(measures) {
  const p = measures.potential, r = measures.revenue;
  if (!p || !r) return null;
  return Float64Array.from(p, (v, i) => Math.max(v - r[i], 0));
}

/** The Colour by options beyond the head's measures: [value, label]. */
export function extraOptions(measures, territories) {
  const out = [];
  if (measures.potential && measures.revenue) {
    out.push(["unit:white_space", "White space per unit"], ["territory:white_space", "White space per territory"]);
  }
  if (territories.some((t) => t.quota != null)) {
    out.push(["territory:quota", "Quota per territory"]);
    if (measures.revenue) out.push(["territory:attainment", "Attainment per territory"]);
  }
  return out;
}

export const pct = (v) => `${(v * 100).toFixed(0)} %`;

/** The values of ``mode`` per unit of the map (NaN: none) with the legend's title, the name
 *  of a missing value and a formatter (null: the page's own). ``ctx``: {measures, totals
 *  (per territory index), unitT, territories, file (see fileValues)}. */
export function modeValues(mode, ctx) {
  const [kind, m] = [mode.slice(0, mode.indexOf(":")), mode.slice(mode.indexOf(":") + 1)];
  const { unitT, territories, measures, totals } = ctx;
  const perUnit = (tv) => Float64Array.from(unitT, (t) => (t < 0 ? NaN : tv[t]));
  if (kind === "unit") {
    const v = m === "white_space" ? whiteSpace(measures) : measures[m];
    return { values: Float64Array.from(v), title: null, missing: "", fmt: null };
  }
  if (kind === "territory") {
    let tv;
    if (m === "white_space") {   // the sum of its units' white space
      const ws = whiteSpace(measures);
      tv = new Float64Array(territories.length);
      unitT.forEach((t, i) => { if (t >= 0) tv[t] += ws[i]; });
    } else if (m === "quota") {
      tv = territories.map((t) => (t.quota == null ? NaN : t.quota));
      return { values: perUnit(tv), title: "Quota per territory (plan year)", missing: "no quota", fmt: null };
    } else if (m === "attainment") {
      // no attainment without a quota, nor of a quota of 0 (a quota, but nothing to attain)
      tv = territories.map((t, k) => (t.quota == null || !(t.quota > 0) ? NaN : totals.revenue[k] / t.quota));
      const none = territories.some((t) => t.quota == null), zero = territories.some((t) => t.quota === 0);
      return { values: perUnit(tv), title: "Attainment: revenue (trailing 12 months) / quota (plan year)",
        missing: none && zero ? "no quota, or a quota of 0" : zero ? "quota of 0: no attainment" : "no quota", fmt: pct,
        why: (k) => (territories[k].quota === 0 ? "quota of 0: no attainment" : "no quota") };
    } else tv = totals[m];
    return { values: perUnit(tv), title: null, missing: "", fmt: null };
  }
  if (kind === "file" && ctx.file) {
    const f = ctx.file;
    const idx = f.key === "unit" ? ctx.unitIds : territories.map((t) => t.id);
    const got = Float64Array.from(idx, (id) => (f.values.has(id) ? f.values.get(id) : NaN));
    return { values: f.key === "unit" ? got : perUnit(got), title: `${f.column} per ${f.key} (${f.name})`,
      missing: "no value in the file", fmt: null };
  }
  return null;
}

/** The lines of a CSV text as lists of fields (RFC 4180: quoted fields, "" inside quotes,
 *  CRLF or LF). */
export function parseCsv(text) {
  const rows = [];
  let row = [], field = "", q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
    } else if (c === '"') q = true;
    else if (c === ",") { row.push(field); field = ""; } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;   // blank lines kept, so that a row's index is its line in the file
}

const blank = (r) => r.every((x) => x.trim() === "");

const num = (s) => (s.trim() === "" || !Number.isFinite(Number(s)) ? null : Number(s));
const KEYS = [["unit_id", "unit"], ["unit", "unit"], ["territory_id", "territory"], ["territory", "territory"]];

/** An analytic file: its key (``unit_id``/``unit`` or ``territory_id``/``territory``, or
 *  ``level`` + ``name`` as `territorium forecast` writes, its level "territory" rows), the
 *  columns with a number in them, and the rows. Throws an Error that says what is wrong. */
export function readAnalytic(text, name) {
  const rows = parseCsv(text.replace(/^\uFEFF/, ""));
  if (!rows.length || blank(rows[0]) || !rows.slice(1).some((r) => !blank(r))) {
    throw new Error(`${name}: no rows under a header line`);
  }
  const head = rows[0].map((h) => h.trim());
  let key = null, col = -1, level = -1;
  for (const [h, k] of KEYS) if (col < 0 && head.includes(h)) { col = head.indexOf(h); key = k; }
  if (col < 0 && head.includes("level") && head.includes("name")) {
    col = head.indexOf("name"); level = head.indexOf("level"); key = "territory";
  }
  if (col < 0) throw new Error(`${name}: no column unit_id, unit, territory_id, territory or level + name`);
  const skip = new Set([col, level]);
  const columns = head.filter((h, j) => !skip.has(j) && rows.slice(1).some((r) => num(r[j] ?? "") !== null));
  if (!columns.length) throw new Error(`${name}: no column with numbers`);
  return { name, key, head, col, level, rows: rows.slice(1), columns };
}

/** The values of ``column`` of an analytic file by id (rows of the same id summed, e.g. a
 *  forecast's months), the ids not among ``known`` and the rows whose value is not a number
 *  ({row: the file's line, header = 1, value}); empty values are skipped. */
export function fileValues(file, column, known) {
  const j = file.head.indexOf(column);
  const values = new Map(), unknown = new Set(), bad = [];
  let rows = 0, otherLevel = 0;
  file.rows.forEach((r, i) => {
    if (blank(r)) return;
    if (file.level >= 0 && (r[file.level] || "").trim() !== "territory") { otherLevel++; return; }
    const id = (r[file.col] || "").trim(), raw = r[j] ?? "";
    if (raw.trim() === "") return;
    const v = num(raw);
    if (v === null) { bad.push({ row: i + 2, value: raw }); return; }
    if (!known.has(id)) { unknown.add(id); return; }
    values.set(id, (values.get(id) || 0) + v);
    rows++;
  });
  return { name: file.name, key: file.key, column, values, unknown: [...unknown], bad, summed: rows > values.size,
    otherLevel };
}

/** The status line of a drawn file column: what was drawn, the unknown ids, the refused rows. */
export function fileReport(f) {
  const parts = [`${f.name}: ${f.column} of ${f.values.size} ${f.key === "unit" ? "units" : "territories"}` +
    (f.summed ? " (rows of the same id summed)" : "")];
  if (f.otherLevel) parts.push(`${f.otherLevel} rows of other levels skipped`);
  if (f.unknown.length) {
    parts.push(`${f.unknown.length} ${f.key} id${f.unknown.length > 1 ? "s" : ""} not in the plan: ` +
      f.unknown.slice(0, 5).join(", ") + (f.unknown.length > 5 ? ", …" : ""));
  }
  if (f.bad.length) {
    parts.push(`${f.bad.length} row${f.bad.length > 1 ? "s" : ""} refused (not a number): ` +
      f.bad.slice(0, 5).map((b) => `row ${b.row} ${JSON.stringify(b.value)}`).join(", ") + (f.bad.length > 5 ? ", …" : ""));
  }
  return parts.join("; ");
}
