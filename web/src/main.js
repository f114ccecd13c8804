// Territorium's territory map: log in, see a plan, select units (click, box, lasso), move them,
// watch the balance change at once, undo / redo, lock units; moves are saved through the plan
// API with the plan's version (409: what changed meanwhile). Everything is drawn from the
// server's own data: no tiles, no fonts, no network beyond the app's origin.
import maplibregl from "maplibre-gl";
import { bindMap, colourOf, drawMap, fetchMap, paintAll, paintUnits, prepareMap } from "./mapdata.js";
import { bindFeatures, planShown, toggleLocks } from "./features.js";
import { extraOptions, fileReport, fileValues, readAnalytic } from "./choropleth.js";

const LABELS = { account_count: "Accounts", revenue: "Revenue", potential: "Potential", workload: "Workload",
  order_count: "Orders", white_space: "White space" };

const $ = (id) => document.getElementById(id);
const S = {
  csrf: null, user: null, plan: null, data: null, map: null, unitT: null, locked: new Set(), sel: new Set(),
  undo: [], redo: [], tool: "click", tIndex: new Map(), totals: null, saving: Promise.resolve(), labels: [],
};
window.__territorium = S; // for the end-to-end tests and the benchmark (read-only use)

async function api(path, opts = {}) {
  const headers = { ...(opts.body ? { "Content-Type": "application/json" } : {}), ...(opts.headers || {}) };
  if (opts.method && opts.method !== "GET" && S.csrf) headers["X-CSRF-Token"] = S.csrf;
  const r = await fetch(path, { credentials: "same-origin", ...opts, headers,
    body: opts.body ? JSON.stringify(opts.body) : undefined });
  let body = null;
  if (r.status !== 204) {
    const text = await r.text();
    try { body = text ? JSON.parse(text) : null; } catch {
      return { status: r.status, ok: false, body: { detail: `the server's answer to ${path} is not JSON` } };
    }
  }
  return { status: r.status, ok: r.ok, body };
}

function say(text, kind = "info") {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + kind;
}

const fmt = (v) => Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + "M" : Math.abs(v) >= 1e4 ? (v / 1e3).toFixed(0) + "k"
  : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, "");

// ------------------------------------------------------------------------------ login
async function start() {
  const me = await api("/api/web/session");
  S.csrf = sessionStorage.getItem("territorium-csrf");
  if (me.ok && me.body.user && S.csrf) { S.user = me.body.user; return showApp(); }
  showLogin();
}

function showLogin() {
  $("app").hidden = true;
  $("login").hidden = false;
  $("username").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const r = await api("/api/auth/login", { method: "POST",
    body: { username: $("username").value, password: $("password").value } });
  if (!r.ok) { $("login-error").textContent = r.body?.detail || `login failed (${r.status})`; return; }
  S.csrf = r.body.csrf_token;
  sessionStorage.setItem("territorium-csrf", S.csrf);
  S.user = r.body;
  $("password").value = "";
  showApp();
});

$("logout").addEventListener("click", async () => {
  await api("/api/auth/logout", { method: "POST" });
  sessionStorage.removeItem("territorium-csrf");
  location.reload();
});

async function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = S.user.username;
  $("who").title = `${S.user.username}, ${S.user.role}`;
  const r = await api("/api/plans?limit=500");
  const sel = $("plan");
  sel.innerHTML = "";
  const items = (r.body?.items || []).slice().sort((a, b) => (a.status === "archived") - (b.status === "archived"));
  for (const p of items) sel.add(new Option(`${p.name} (${p.status})`, p.name));
  if (!sel.options.length) { say("No plan you may see. Ask a planner to share one.", "warn"); return; }
  sel.onchange = () => loadPlan(sel.value);
  S.listed = new Map(items.map((p) => [p.name, p.version]));   // the first map load's geometry starts with it
  await loadPlan(sel.value);
}

// ------------------------------------------------------------------------------ the map
async function loadPlan(name) {
  say(`Loading ${name}…`);
  const t0 = performance.now();
  prepareMap(name, S.listed?.get(name));   // the map's start-up (and first geometry) overlaps the head request
  const r = await fetchMap(name, 0);   // the head; MapLibre's worker fetches the geometry
  if (!r.ok) { say(r.body?.detail || `could not load ${name} (${r.status})`, "error"); return; }
  S.plan = r.body.plan;
  S.timing.fetched = performance.now() - t0;
  setData(r.body);   // drawMap asks for sharper shapes once the first picture is there
}

function setData(d) {
  S.data = d;
  S.tIndex = new Map(d.territories.map((t, i) => [t.id, i]));
  const n = d.units.features.length;
  S.unitT = Int32Array.from(d.units.features, (f) => (S.tIndex.has(f.properties.t) ? S.tIndex.get(f.properties.t) : -1));
  S.sel.clear(); S.locked.clear(); S.undo = []; S.redo = []; S.adj = null; S.warnings = new Map(); S.bordersOf = null;
  S.leaves = d.territories.filter((t) => t.leaf);
  $("plan-meta").textContent = `v${d.plan.version} · ${d.plan.status} · ${n.toLocaleString()} ${d.plan.unit_level} units`;
  $("edit-tools").hidden = !d.editable;
  const target = $("target");
  target.innerHTML = "";
  for (const t of S.leaves) target.add(new Option(`${t.id} ${t.name !== t.id ? "– " + t.name : ""}`, t.id));
  const measures = Object.keys(d.measures);
  const cb = $("colour-by");
  cb.innerHTML = "";
  cb.add(new Option("Territory", "territory"));
  for (const m of measures) cb.add(new Option(`${LABELS[m] || m} per unit`, "unit:" + m));
  for (const m of measures) cb.add(new Option(`${LABELS[m] || m} per territory`, "territory:" + m));
  for (const [v, label] of extraOptions(d.measures, d.territories)) cb.add(new Option(label, v));
  cb.add(new Option("From a file…", "file-pick"));
  cb.dataset.last = "territory";
  cb.onchange = () => {
    if (cb.value === "file-pick") { cb.value = cb.dataset.last; $("colour-file").click(); return; }
    cb.dataset.last = cb.value;
    $("colour-column-box").hidden = cb.value !== "file:";
    paintAll();
  };
  showFile(false);
  const bm = $("bal-measure");
  bm.innerHTML = "";
  for (const m of measures) bm.add(new Option(LABELS[m] || m, m));
  bm.value = measures.includes("workload") ? "workload" : measures[0];
  bm.onchange = () => renderBars();
  const bb = $("bal-basis");   // capacity targets when the plan has them (the head's ``targets``)
  $("bal-basis-box").hidden = !d.targets;
  for (const el of document.querySelectorAll(".targets-note")) el.hidden = !d.targets;   // the jobs' "Balance towards"
  bb.value = d.targets ? "target" : "mean";
  bb.onchange = () => renderBars();
  computeTotals();
  drawMap(d);
  renderBars();
  updateButtons();
  $("warnings").textContent = "";
  $("conflict").textContent = "";
  planShown();   // comparison, trade-off, dashboard and stored locks follow the plan shown
}

// ------------------------------------------------------------------------------ a file's choropleth
// An analytic CSV the user picks (forecast, causal lift, ...), read in the page only: keyed by
// unit or territory; its numeric column drawn as "Colour by: <file>" (see choropleth.js).
$("colour-file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  ev.target.value = "";
  if (!f) return;
  try { S.fileParsed = readAnalytic(await f.text(), f.name); } catch (e) { say(e.message, "error"); return; }
  const col = $("colour-column");
  col.innerHTML = "";
  for (const c of S.fileParsed.columns) col.add(new Option(c, c));
  const pref = ["forecast", "value", "lift", "estimate", "att"].find((c) => S.fileParsed.columns.includes(c));
  col.value = pref || S.fileParsed.columns[0];
  showFile(true);
});
$("colour-column").addEventListener("change", () => showFile(true));

/** The file's column as Colour by "file:" (``pick``: select it), its report in the status line. */
function showFile(pick) {
  const cb = $("colour-by"), P = S.fileParsed;
  let opt = [...cb.options].find((o) => o.value === "file:");
  if (!P) { $("colour-column-box").hidden = true; return; }
  if (!opt) { opt = new Option("", "file:"); cb.add(opt, cb.options.length - 1); }
  const known = new Set(P.key === "unit" ? S.data.unit_ids : S.data.territories.map((t) => t.id));
  S.file = fileValues(P, $("colour-column").value, known);
  const short = P.name.length > 20 ? P.name.slice(0, 19) + "…" : P.name;   // the header stays one line
  opt.textContent = `${short} per ${P.key}`;
  opt.title = `${P.name} per ${P.key}`;
  if (pick) { cb.value = "file:"; cb.dataset.last = "file:"; }
  $("colour-column-box").hidden = cb.value !== "file:";
  if (cb.value !== "file:") return;
  paintAll();
  say(fileReport(S.file), S.file.unknown.length || S.file.bad.length ? "warn" : "info");
}

// ------------------------------------------------------------------------------ balance
function computeTotals() {
  const k = S.data.territories.length;
  S.totals = {};
  for (const [m, arr] of Object.entries(S.data.measures)) {
    const tot = new Float64Array(k);
    for (let i = 0; i < arr.length; i++) if (S.unitT[i] >= 0) tot[S.unitT[i]] += arr[i];
    S.totals[m] = tot;
  }
}

/** Each shown leaf territory's reference for measure ``m``: its capacity target (its share of
 *  the shown leaves' total, from the head's ``target``) when the plan has targets and the page
 *  compares with them, else the plain mean. Returns { basis: "target" | "mean", ref: [..] }. */
function balanceRefs(m, leaves = S.leaves.map((t) => S.tIndex.get(t.id))) {
  const tot = S.totals[m];
  const sum = leaves.reduce((a, t) => a + tot[t], 0);
  if (S.data.targets && $("bal-basis").value === "target") {
    return { basis: "target", ref: leaves.map((t) => (S.data.territories[t].target ?? 0) * sum) };
  }
  const mean = sum / Math.max(1, leaves.length);
  return { basis: "mean", ref: leaves.map(() => mean) };
}

const TOL = 10;   // % off its reference that turns a row red
const pc = (d) => { const r = Math.round(d); return `${r > 0 ? "+" : ""}${r === 0 ? 0 : r}%`; };   // never "-0%"

function renderBars() {
  const m = $("bal-measure").value;
  const leaves = S.leaves.map((t) => S.tIndex.get(t.id));
  const tot = S.totals[m];
  const vals = leaves.map((t) => tot[t]);
  const { basis, ref } = balanceRefs(m, leaves);
  const max = Math.max(...vals, ...ref, 1e-9);
  const measures = Object.keys(S.totals);
  const tg = S.data.targets;
  const rows = leaves.map((t, k) => {
    const v = tot[t], r = ref[k];
    const dev = r > 0 ? (v / r - 1) * 100 : 0;
    const cls = Math.abs(dev) > TOL ? "off" : "ok";
    const terr = S.data.territories[t];
    const all = measures.map((mm) => `${LABELS[mm] || mm}: ${fmt(S.totals[mm][t])}`).join(", ");
    const cap = terr.capacity == null ? "" : `, capacity ${fmt(terr.capacity)}${tg.unit === "fte" ? " FTE" : " h"}`
      + (tg.vacant.includes(terr.id) ? " (vacant: the median)" : "");
    const tip = `${all}\n${basis === "target" ? "capacity target" : "mean"} ${fmt(r)}: ${dev >= 0 ? "+" : ""}${dev.toFixed(1)}%${basis === "target" ? cap : ""}`;
    return `<div class="row ${cls}" data-t="${terr.id}" data-ref="${r}" data-dev="${dev}" title="${tip}">
      <span class="tid"><span class="sw" style="background:${colourOf(t)}"></span>${terr.id}</span>
      <span class="bar"><span style="width:${(100 * v / max).toFixed(1)}%"></span><i style="left:${(100 * r / max).toFixed(1)}%"></i></span>
      <span class="val" data-value="${v}">${fmt(v)}</span><span class="dev">${pc(dev)}</span></div>`;
  });
  const hint = basis === "target"
    ? `vs capacity target (tick: ∝ its reps' capacity); more than ${TOL}% off it: red`
    : `vs mean ${fmt(ref[0] ?? 0)} (tick); rows more than ${TOL}% off are red`;
  $("bars").dataset.basis = basis;
  $("bars").innerHTML = `<div class="hint">${hint}</div>` + rows.join("");
}

// ------------------------------------------------------------------------------ moves
function applyLocal(changes) {
  // changes: [[unit, fromT, toT]]; updates territory, totals, colours and bars at once
  for (const [i, from, to] of changes) {
    for (const [m, arr] of Object.entries(S.data.measures)) {
      if (from >= 0) S.totals[m][from] -= arr[i];
      if (to >= 0) S.totals[m][to] += arr[i];
    }
    S.unitT[i] = to;
  }
  paintUnits(changes.map((c) => c[0]));
  renderBars();
  contiguity(new Set(changes.flatMap((c) => [c[1], c[2]]).filter((t) => t >= 0)));
}

function contiguity(terrs) {
  // a territory split in parts over the unit graph (borders and island links)
  const n = S.unitT.length;
  if (!S.adj) {
    S.adj = Array.from({ length: n }, () => []);
    for (const [a, b] of S.data.edges) { S.adj[a].push(b); S.adj[b].push(a); }
  }
  const msgs = [];
  for (const t of terrs) {
    const units = [];
    for (let i = 0; i < n; i++) if (S.unitT[i] === t) units.push(i);
    const seen = new Set();
    let parts = 0;
    for (const u of units) {
      if (seen.has(u)) continue;
      parts++;
      const stack = [u];
      seen.add(u);
      while (stack.length) {
        const x = stack.pop();
        for (const y of S.adj[x]) if (!seen.has(y) && S.unitT[y] === t) { seen.add(y); stack.push(y); }
      }
    }
    if (parts > 1) msgs.push(`${S.data.territories[t].id} is split into ${parts} parts`);
    if (units.length === 0) msgs.push(`${S.data.territories[t].id} has no units left`);
  }
  S.warnings = (S.warnings || new Map());
  for (const t of terrs) S.warnings.delete(t);
  msgs.forEach((msg, k) => S.warnings.set(`m${k}${msg}`, msg));
  const all = [...S.warnings.values()].filter((x) => x);
  $("warnings").innerHTML = all.length ? "<strong>Contiguity</strong><ul>" + all.map((x) => `<li>${x}</li>`).join("") + "</ul>" : "";
}

function moveSelected() {
  if (!S.data?.editable) return;
  const to = S.tIndex.get($("target").value);
  const units = [...S.sel].filter((i) => S.unitT[i] !== to);
  const locked = units.filter((i) => S.locked.has(i));
  const movable = units.filter((i) => !S.locked.has(i));
  if (!movable.length) { say(locked.length ? `${locked.length} selected units are locked; nothing moved` : "Select units first", "warn"); return; }
  const changes = movable.map((i) => [i, S.unitT[i], to]);
  const t0 = performance.now();
  applyLocal(changes);
  S.lastBalanceMs = performance.now() - t0;
  S.undo.push(changes);
  S.redo = [];
  S.sel.clear();
  paintUnits(movable);
  updateButtons();
  say(`Moved ${movable.length} units to ${$("target").value}` + (locked.length ? ` (${locked.length} locked units stayed)` : "") + " — saving…");
  save(changes, `moved on the map to ${$("target").value}`);
}

function undo() { const c = S.undo.pop(); if (!c) return; const back = c.map(([i, f, t]) => [i, t, f]).reverse(); applyLocal(back); S.redo.push(c); updateButtons(); say(`Undid a move of ${c.length} units — saving…`); save(back, "undo on the map"); }
function redo() { const c = S.redo.pop(); if (!c) return; applyLocal(c); S.undo.push(c); updateButtons(); say(`Redid a move of ${c.length} units — saving…`); save(c, "redo on the map"); }

function save(changes, reason) {
  const moves = {};
  for (const [i, , to] of changes) for (const uid of S.data.members[i]) moves[uid] = S.data.territories[to].id;
  const name = S.data.plan.name;
  S.saving = S.saving.then(async () => {
    const r = await api(`/api/plans/${encodeURIComponent(name)}/moves`, { method: "POST",
      body: { moves, expected_version: S.data.plan.version, reason } });
    if (r.ok) {
      S.data.plan.version = r.body.version;
      $("plan-meta").textContent = `v${r.body.version} · ${r.body.status} · ${S.unitT.length.toLocaleString()} ${S.data.plan.unit_level} units`;
      say(`Saved: version ${r.body.version}`, "ok");
      document.body.dataset.version = r.body.version;
    } else if (r.status === 409) {
      const ch = (r.body.changes || []).slice(0, 12).map((c) =>
        `<li>v${c.version} ${c.actor}: ${c.entity} ${c.entity_id} ${c.field} ${c.old_value ?? "–"} → ${c.new_value ?? "–"}</li>`).join("");
      $("conflict").innerHTML = `<strong>Not saved: the plan changed meanwhile</strong> (you had version ${r.body.expected_version}, it is now ${r.body.current_version}).<ul>${ch}</ul><button type="button" id="reload">Reload the plan</button>`;
      $("reload").onclick = () => { $("conflict").textContent = ""; loadPlan(name); };
      const back = changes.map(([i, f, t]) => [i, t, f]).reverse();
      applyLocal(back);
      S.undo = []; S.redo = []; updateButtons();
      say("Your last change was not saved (conflict)", "error");
    } else {
      const back = changes.map(([i, f, t]) => [i, t, f]).reverse();
      applyLocal(back);
      S.undo = []; S.redo = []; updateButtons();
      say(`Not saved: ${r.body?.detail || r.status}`, "error");
    }
  });
}

function updateButtons() {
  $("undo").disabled = !S.undo.length;
  $("redo").disabled = !S.redo.length;
  $("move").disabled = !S.sel.size;
  $("lock").disabled = !S.sel.size;
}

function select(ids, add) {
  const before = [...S.sel];
  if (!add) S.sel.clear();
  for (const i of ids) { if (add && S.sel.has(i) && ids.length === 1) S.sel.delete(i); else S.sel.add(i); }
  paintUnits(new Set([...before, ...S.sel]));
  updateButtons();
  say(`${S.sel.size} units selected`);
}

// ------------------------------------------------------------------------------ rebalance job
// The job runs on a scenario copy of the plan, so the plan itself stays as it is until the
// planner accepts: then the proposed moves are saved as one change with the plan's version.
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function jobPanel(which) {
  $("job").hidden = !which;
  for (const k of ["form", "run", "result"]) $("job-" + k).hidden = which !== k;
}

async function startJob() {
  const name = S.data.plan.name;
  const copy = `${name}~proposal-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}-${Math.random().toString(36).slice(2, 6)}`;
  jobPanel("run");
  $("job-progress").value = 0;
  $("job-message").textContent = "copying the plan…";
  let r = await api(`/api/plans/${encodeURIComponent(name)}/copy`, { method: "POST", body: { name: copy } });
  if (!r.ok) { jobPanel("form"); say(`Could not copy the plan: ${r.body?.detail || r.status}`, "error"); return; }
  const tol = Number($("job-tol").value) / 100;
  r = await api(`/api/plans/${encodeURIComponent(copy)}/jobs`, { method: "POST", body: {
    kind: "realign", balance: { workload: tol }, time_limit: Number($("job-time").value), seed: 1,
    targets: S.data.targets ? $("job-targets").value : "plan", expected_version: r.body.version } });
  if (!r.ok) { jobPanel("form"); say(`Could not start the job: ${r.body?.detail || r.status}`, "error"); return; }
  S.job = { id: r.body.id, copy, base: name, version: S.data.plan.version };
  while (true) {
    await sleep(400);
    const j = await api(`/api/jobs/${r.body.id}`);
    if (!j.ok) { jobPanel("form"); say(`Job lost: ${j.body?.detail || j.status}`, "error"); return; }
    $("job-progress").value = j.body.progress;
    $("job-message").textContent = j.body.message || j.body.status;
    if (j.body.status === "succeeded") break;
    if (j.body.status === "failed" || j.body.status === "cancelled") {
      jobPanel("form");
      say(`Rebalance ${j.body.status}: ${j.body.message || ""} (the plan is unchanged)`, j.body.status === "failed" ? "error" : "warn");
      archive(copy);
      return;
    }
  }
  await showProposal();
}

async function showProposal() {
  const { copy } = S.job;
  const r = await api(`/api/plans/${encodeURIComponent(copy)}/map?detail=0&part=head`);   // no geometry
  if (!r.ok) { jobPanel("form"); say(`Could not read the proposal: ${r.body?.detail || r.status}`, "error"); return; }
  const changes = [];
  r.body.unit_territories.forEach((t, i) => {
    const to = S.tIndex.has(t) ? S.tIndex.get(t) : -1;
    if (to >= 0 && to !== S.unitT[i]) changes.push([i, S.unitT[i], to]);
  });
  S.proposal = changes;
  for (const [i, , to] of changes) S.map.setFeatureState({ source: "units", id: i }, { proposed: colourOf(to) });
  // per territory: units and workload before and after
  const m = $("bal-measure").value;
  const arr = S.data.measures[m];
  const delta = new Map();
  for (const [i, from, to] of changes) {
    for (const [t, sgn] of [[from, -1], [to, 1]]) {
      if (t < 0) continue;
      const d = delta.get(t) || { units: 0, value: 0 };
      d.units += sgn; d.value += sgn * arr[i]; delta.set(t, d);
    }
  }
  const rows = [...delta.entries()].sort((a, b) => S.data.territories[a[0]].id.localeCompare(S.data.territories[b[0]].id))
    .map(([t, d]) => `<tr data-t="${S.data.territories[t].id}"><td>${S.data.territories[t].id}</td><td>${d.units > 0 ? "+" : ""}${d.units}</td>
      <td>${fmt(S.totals[m][t])}</td><td>${fmt(S.totals[m][t] + d.value)}</td></tr>`).join("");
  $("job-summary").textContent = `${changes.length} units would change territory (outlined in red, filled with their new territory's colour).`;
  $("job-table").innerHTML = `<table><tr><th>territory</th><th>units</th><th>${LABELS[m] || m} now</th><th>proposed</th></tr>${rows}</table>`;
  jobPanel("result");
  say("Proposal ready: accept or discard it", "ok");
}

function clearProposal() {
  for (const [i] of S.proposal || []) S.map.setFeatureState({ source: "units", id: i }, { proposed: null });
  S.proposal = null;
}

async function archive(name) {
  const p = await api(`/api/plans/${encodeURIComponent(name)}`);
  if (p.ok) await api(`/api/plans/${encodeURIComponent(name)}/status`, { method: "POST",
    body: { status: "archived", expected_version: p.body.version, reason: "rebalance proposal closed" } });
}

function acceptProposal() {
  const changes = (S.proposal || []).filter(([i]) => !S.locked.has(i));
  clearProposal();
  jobPanel(null);
  if (!changes.length) { say("Nothing to accept"); return; }
  applyLocal(changes);
  S.undo.push(changes); S.redo = []; updateButtons();
  say(`Accepted: ${changes.length} units moved — saving…`);
  save(changes, `accepted rebalance proposal ${S.job.copy} (job ${S.job.id})`);
  archive(S.job.copy);
}

// ------------------------------------------------------------------------------ interaction
function setupInteraction() {
  const m = S.map;
  m.on("mousemove", "units-fill", (e) => { m.getCanvas().style.cursor = "pointer"; hover(e.features[0].id); });
  m.on("mouseleave", "units-fill", () => { m.getCanvas().style.cursor = ""; });
  m.on("click", "units-fill", (e) => {
    if (S.tool !== "click" || !S.data.editable) return;
    select([e.features[0].id], true);
  });
  const svg = $("draw");
  let pts = null;
  const canvas = m.getCanvasContainer();
  canvas.addEventListener("mousedown", (e) => {
    if (S.tool === "click" || !S.data?.editable || e.button !== 0) return;
    e.preventDefault(); e.stopPropagation();
    m.dragPan.disable();
    const r = canvas.getBoundingClientRect();
    pts = [[e.clientX - r.left, e.clientY - r.top]];
  }, true);
  window.addEventListener("mousemove", (e) => {
    if (!pts) return;
    const r = canvas.getBoundingClientRect();
    const p = [e.clientX - r.left, e.clientY - r.top];
    if (S.tool === "lasso") pts.push(p); else pts[1] = p;
    const poly = S.tool === "box" && pts[1] ? boxPoly(pts[0], pts[1]) : pts;
    svg.innerHTML = `<polygon points="${poly.map((q) => q.join(",")).join(" ")}" />`;
  });
  window.addEventListener("mouseup", (e) => {
    if (!pts) return;
    const poly = S.tool === "box" ? (pts[1] ? boxPoly(pts[0], pts[1]) : []) : pts;
    pts = null;
    svg.innerHTML = "";
    m.dragPan.enable();
    if (poly.length < 3) return;
    const inside = [];
    S.data.centroids.forEach((c, i) => { const q = m.project(c); if (pointIn([q.x, q.y], poly)) inside.push(i); });
    select(inside, e.shiftKey);
  });
  for (const b of document.querySelectorAll(".tool")) b.addEventListener("click", () => setTool(b.dataset.tool));
  $("move").addEventListener("click", moveSelected);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", () => select([], false));
  $("rebalance").addEventListener("click", () => { if (!S.proposal) jobPanel($("job").hidden ? "form" : null); });
  $("job-start").addEventListener("click", startJob);
  $("job-cancel").addEventListener("click", async () => {
    if (S.job) await api(`/api/jobs/${S.job.id}/cancel`, { method: "POST" });
  });
  $("job-accept").addEventListener("click", acceptProposal);
  $("job-discard").addEventListener("click", () => { clearProposal(); jobPanel(null); archive(S.job.copy); say("Proposal discarded; the plan is unchanged"); });
  $("lock").addEventListener("click", toggleLocks);   // stored in the plan (locks.js)
  document.addEventListener("keydown", (e) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); e.shiftKey ? redo() : undo(); }
    else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "y") { e.preventDefault(); redo(); }
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (e.key === "Escape") select([], false);
    else if (e.key === "m") moveSelected();
    else if (e.key === "k") $("lock").click();
    else if (e.key === "s") setTool("click");
    else if (e.key === "b") setTool("box");
    else if (e.key === "l") setTool("lasso");
  });
}

function setTool(t) {
  S.tool = t;
  for (const b of document.querySelectorAll(".tool")) b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  $("draw").classList.toggle("active", t !== "click");
}

const boxPoly = (a, b) => [a, [b[0], a[1]], b, [a[0], b[1]]];

function pointIn([x, y], poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function hover(i) {
  const d = S.data;
  const t = S.unitT[i];
  const terr = t >= 0 ? d.territories[t] : null;
  const uid = d.units.features[i].properties.u;
  const rows = Object.entries(d.measures).map(([m, arr]) =>
    `<tr><th>${LABELS[m] || m}</th><td>${fmt(arr[i])}</td><td>${terr ? fmt(S.totals[m][t]) : ""}</td></tr>`).join("");
  const why = d.reasons[uid];
  $("hover").innerHTML = `<h2>${d.names[i]} <small>${uid}${d.states[i] ? ", " + d.states[i] : ""}</small></h2>
    <p>Territory <strong>${terr ? terr.id + (terr.name !== terr.id ? " – " + terr.name : "") : "none"}</strong>${S.locked.has(i) ? " · locked" : ""}</p>
    <p class="colour-value" hidden>Colour by <span class="what"></span>: <strong></strong></p>
    <table><tr><th></th><th>unit</th><th>territory</th></tr>${rows}</table>` +
    (why ? `<p class="why">Moved ${why.from} → ${why.to} in v${why.version} by ${why.actor}${why.job ? " (" + why.job + ")" : ""}${why.reason ? ": " + why.reason : ""}</p>` : "");
  const cv = S.shown && S.shown.mode === $("colour-by").value ? S.shown : null;
  if (cv) {   // the value the map is coloured by, as its legend names it (a file's column is the user's text)
    const [kind, m] = [cv.mode.slice(0, cv.mode.indexOf(":")), cv.mode.slice(cv.mode.indexOf(":") + 1)];
    const v = cv.values[i];
    const el = $("hover").querySelector(".colour-value");
    el.hidden = false;
    el.querySelector(".what").textContent = cv.title || `${LABELS[m] || m} per ${kind}`;
    const why = cv.why && t >= 0 ? cv.why(t) : cv.missing || "no value";
    el.querySelector("strong").textContent = Number.isNaN(v) ? why : (cv.fmt || fmt)(v);
    el.dataset.value = Number.isNaN(v) ? "" : String(v);
  }
}

window.addEventListener("error", (e) => say(`Error: ${e.message}`, "error"));
bindMap(S, { $, say, fmt, LABELS, api, setupInteraction });
bindFeatures(S, { api, say, fmt, paintUnits, loadPlan });
start();
