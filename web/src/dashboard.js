// KPI dashboard of the plan on screen: cards for the territories / reps picked in the
// hierarchy filter, a chart per period (bars, or lines per group) or per group (PNG export),
// and a table (CSV export).
// Figures come from GET /api/plans/{name}/kpis, which gives each role its own share.
import { barChart, lineChart } from "./charts.js";
import { downloadCSV, downloadPNG, slug } from "./exporting.js";

let S = null, ui = null, last = null;
const $ = (id) => document.getElementById(id);

const CARDS = [
  ["revenue", "Revenue", "sum"], ["orders", "Orders", "sum"], ["aov", "Average order", "ratio:revenue/orders"],
  ["customers", "Customers", "sum"], ["won_amount", "Won amount", "sum"],
  ["win_rate", "Win rate", "ratio:won_deals/closed_deals"], ["visits", "Visits", "sum"],
];
const NAMES = { revenue: "Revenue", orders: "Orders", aov: "Average order", customers: "Customers",
  new_customers: "New customers", repeat_purchase_rate: "Repeat purchase rate", refund_rate: "Refund rate",
  pipeline: "Pipeline", won_amount: "Won amount", closed_deals: "Closed deals", won_deals: "Won deals",
  win_rate: "Win rate", visits: "Visits", coverage: "Coverage", load: "Visit load" };
const RATES = new Set(["repeat_purchase_rate", "refund_rate", "win_rate", "coverage", "load"]);
const TABLE = ["revenue", "orders", "aov", "customers", "won_amount", "win_rate", "visits", "coverage"];

const show = (k, v) => v === null || v === undefined || Number.isNaN(v) ? "–"
  : RATES.has(k) ? (100 * v).toFixed(1) + "%" : ui.fmt(v);

export function bindDashboard(state, helpers) {
  S = state; ui = helpers;
  $("dashboard").addEventListener("click", () => ($("dash").hidden ? open() : close()));
  $("dash-close").addEventListener("click", close);
  for (const id of ["dash-by", "dash-period", "dash-start", "dash-end"]) $(id).addEventListener("change", () => load());
  for (const id of ["dash-node", "dash-measure", "dash-axis", "dash-kind"]) $(id).addEventListener("change", render);
  $("dash-png").addEventListener("click", () => downloadPNG(`${slug(S.data.plan.name)}-${$("dash-measure").value}-per-${
    $("dash-axis").value === "period" ? $("dash-period").value : $("dash-by").value}${S.dashboard?.chart?.kind === "lines" ? "-lines" : ""}.png`,
  $("dash-chart")));
  $("dash-csv").addEventListener("click", exportCSV);
}

async function open() {
  $("dash").hidden = false;
  $("dashboard").setAttribute("aria-pressed", "true");
  await load();
  $("dash-by").focus();
}

function close() {
  $("dash").hidden = true;
  $("dashboard").setAttribute("aria-pressed", "false");
  $("dashboard").focus();
}

/** The plan changed (another plan picked): the dashboard shows the new one when open. */
export function dashboardPlanChanged() {
  last = null;
  $("dash-start").value = ""; $("dash-end").value = "";
  if (!$("dash").hidden) load();
}

async function load() {
  const name = S.data.plan.name;
  const q = new URLSearchParams({ by: $("dash-by").value, period: $("dash-period").value });
  if ($("dash-start").value) q.set("start", $("dash-start").value);
  if ($("dash-end").value) q.set("end", $("dash-end").value);
  $("dash-status").textContent = "Computing the KPIs…";
  document.body.dataset.dash = "loading";
  const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/kpis?${q}`);
  if (!r.ok) {
    $("dash-status").textContent = `Could not compute the KPIs: ${r.body?.detail || r.status}`;
    document.body.dataset.dash = "error";
    return;
  }
  last = r.body;
  $("dash-start").value = last.start; $("dash-end").value = last.end;
  fillFilter();
  render();
  $("dash-status").textContent = `${last.plan} v${last.version}: ${last.start} to ${last.end} (end excluded)` +
    (last.notes.length ? ` · ${last.notes.join(" · ")}` : "");
  document.body.dataset.dash = "ready";
}

function fillFilter() {
  const sel = $("dash-node"), keep = sel.value;
  sel.innerHTML = "";
  sel.add(new Option(last.by === "rep" ? "All reps shown" : "All territories shown", ""));
  for (const n of last.nodes) sel.add(new Option(`${n.name} (region)`, "node:" + n.id));
  for (const g of last.groups) sel.add(new Option(g.name && g.name !== g.id ? `${g.id} – ${g.name}` : g.id, "group:" + g.id));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

/** The groups picked by the filter: all, one, or those below a hierarchy node. */
function picked() {
  const v = $("dash-node").value;
  const withRows = new Set(last.totals.map((r) => r.group));
  if (!v) return last.groups.map((g) => g.id).filter((g) => withRows.has(g));
  if (v.startsWith("group:")) return [v.slice(6)];
  const node = v.slice(5), parent = new Map(last.nodes.map((n) => [n.id, n.parent]));
  const under = (p) => { const seen = new Set(); while (p && !seen.has(p)) { if (p === node) return true; seen.add(p); p = parent.get(p); } return false; };
  return last.groups.filter((g) => under(g.parent)).map((g) => g.id);
}

function aggregate(rows) {
  const sum = (k) => rows.reduce((a, r) => a + (Number.isFinite(r[k]) ? r[k] : 0), 0);
  const out = {};
  for (const [k, , how] of CARDS) {
    if (how === "sum") out[k] = rows.some((r) => Number.isFinite(r[k])) ? sum(k) : null;
    else { const [a, b] = how.slice(6).split("/"); const d = sum(b); out[k] = d > 0 ? sum(a) / d : null; }
  }
  return out;
}

function render() {
  if (!last) return;
  const groups = new Set(picked());
  const rows = last.totals.filter((r) => groups.has(r.group));
  const agg = aggregate(rows);
  S.dashboard = { groups: [...groups], cards: agg, by: last.by, start: last.start, end: last.end };
  $("dash-cards").innerHTML = CARDS.filter(([k]) => last.kpis.includes(k) || k === "aov")
    .map(([k, label]) => `<div class="card" data-kpi="${k}"><span>${label}</span><strong data-value="${agg[k] ?? ""}">${show(k, agg[k])}</strong></div>`)
    .join("");
  // chart: the measure per period (summed over the groups) or per group (over the window)
  const m = $("dash-measure").value, axis = $("dash-axis").value;
  let labels, values, periods = [];
  if (axis === "period") {
    const per = new Map();
    for (const r of last.series) if (groups.has(r.group)) per.set(r.period, (per.get(r.period) || 0) + (r[m] || 0));
    periods = [...per.keys()].sort();
    values = periods.map((p) => per.get(p));
    labels = periods.map((p) => last.period === "month" ? p.slice(0, 7) : p);
  } else {
    labels = rows.map((r) => r.group);
    values = rows.map((r) => r[m] || 0);
  }
  const what = `${NAMES[m]} per ${axis === "period" ? last.period : last.by}`;
  const chartTitle = `${what} — ${last.plan}, ${last.start} to ${last.end}`;
  $("dash-kind").disabled = axis !== "period";   // lines are for time series
  const kind = axis === "period" ? $("dash-kind").value : "bars";
  let series = null;
  if (kind === "lines") {
    series = lineSeries(groups, m, periods, values);
    lineChart($("dash-chart"), { title: chartTitle, labels, series, format: ui.fmt });
    $("dash-chart").setAttribute("aria-label", `${what}, lines: ` + series.map((s) =>
      `${s.name}: ` + labels.map((l, i) => `${l} ${ui.fmt(s.values[i])}`).join(", ")).join("; "));
  } else {
    barChart($("dash-chart"), { title: chartTitle, labels, values, format: ui.fmt });
    $("dash-chart").setAttribute("aria-label", `${what}: ` + labels.map((l, i) => `${l} ${ui.fmt(values[i])}`).join(", "));
  }
  S.dashboard.chart = { labels, values, measure: m, axis, kind, series };
  const name = new Map(last.groups.map((g) => [g.id, g.name]));
  const cols = TABLE.filter((k) => last.kpis.includes(k) || k === "aov");
  $("dash-table").innerHTML = `<thead><tr><th scope="col">${last.by}</th>${cols.map((k) => `<th scope="col">${NAMES[k]}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr data-group="${esc(r.group)}"><th scope="row" title="${esc(last.by === "rep" ? r.group : name.get(r.group) || "")}">${
      esc(last.by === "rep" ? groupLabel(r.group) : r.group)}</th>${
      cols.map((k) => `<td>${show(k, r[k])}</td>`).join("")}</tr>`).join("") + "</tbody>";
}

const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

const MAX_LINES = 6;

/** One line per group picked, over ``periods``; above MAX_LINES groups the MAX_LINES - 1
 *  largest (by the measure over the window) and one line for all the others together. */
function lineSeries(groups, m, periods, total) {
  const per = new Map([...groups].map((g) => [g, new Map()]));
  for (const r of last.series) if (per.has(r.group)) per.get(r.group).set(r.period, (per.get(r.group).get(r.period) || 0) + (r[m] || 0));
  const sum = (g) => [...per.get(g).values()].reduce((a, b) => a + b, 0);
  const ranked = [...groups].sort((a, b) => sum(b) - sum(a) || a.localeCompare(b));
  const shown = ranked.length > MAX_LINES ? ranked.slice(0, MAX_LINES - 1) : ranked;
  const series = shown.map((g) => ({ name: groupLabel(g), group: g, values: periods.map((p) => per.get(g).get(p) || 0) }));
  if (shown.length < ranked.length) {
    const rest = ranked.length - shown.length;
    series.push({ name: `${rest} others`, group: null, values: periods.map((p, i) =>
      total[i] - series.reduce((a, s) => a + s.values[i], 0)) });
  }
  return series;
}

/** A group as the legend names it: a rep by name, a territory by id and name (its id alone
 *  when it has no other name); the id when the answer names nobody. */
function groupLabel(g) {
  const nm = last.groups.find((x) => x.id === g)?.name;
  if (!nm || nm === g) return g;
  return last.by === "rep" ? nm : `${g} – ${nm}`;
}

function exportCSV() {
  const groups = new Set(picked());
  const name = new Map(last.groups.map((g) => [g.id, g.name]));
  const rows = last.totals.filter((r) => groups.has(r.group))
    .map((r) => ({ ...r, [last.by]: r.group, name: name.get(r.group) ?? "", start: last.start, end: last.end }));
  downloadCSV(`${slug(last.plan)}-kpis-by-${last.by}-${last.start}-${last.end}.csv`, rows,
    [last.by, "name", "start", "end", ...last.kpis]);
}
