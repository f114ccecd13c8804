// Downloads from the page: a table as CSV (spreadsheet-safe cells) and a canvas as PNG.

// The rule of territorium.data.cells: text a spreadsheet would run as a formula (starting with
// = + - @, a tab or a carriage return) gets a leading quote; so does text that starts with a
// quote followed by one of those or another quote, so the rule can be undone. Numbers stay numbers.
const RISKY = ["=", "+", "-", "@", "\t", "\r"];

export function neutralize(v) {
  if (typeof v !== "string" || !v) return v;
  const risky = RISKY.includes(v[0]) || (v[0] === "'" && v.length > 1 && (RISKY.includes(v[1]) || v[1] === "'"));
  return risky ? "'" + v : v;
}

function cell(v) {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
  const s = typeof v === "number" ? String(v) : neutralize(String(v));
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV text of rows (objects) with the given columns, header first, CRLF line ends. */
export function toCSV(rows, columns) {
  return [columns.map(cell).join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function downloadCSV(name, rows, columns) {
  save(new Blob([toCSV(rows, columns)], { type: "text/csv;charset=utf-8" }), name);
}

export function downloadPNG(name, canvas) {
  canvas.toBlob((b) => save(b, name), "image/png");
}

/** A file name part from any text (letters, digits, - and _ only). */
export const slug = (s) => String(s).replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "plan";
