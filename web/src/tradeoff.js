// The balance–disruption trade-off: a `tradeoff` job (POST /api/plans/{name}/jobs) stores one
// draft scenario per disruption cap; its points are drawn as moved units against the largest
// deviation from each territory's target (its capacity target on a plan with targets, unless
// "Balance towards" says equal territories; else the mean), and picking a point shows that scenario against the plan (the
// comparison's diff layer, table and review buttons). Scenarios stored earlier
// (`{plan}~cap…`) can be drawn without running the job again.
import { scatterChart } from "./charts.js";
import { show as showComparison } from "./compare.js";

let S = null, ui = null;
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

export function bindTradeoff(state, helpers) {
  S = state; ui = helpers;
  $("tradeoff").addEventListener("click", () => { const p = $("tro"); p.hidden = !p.hidden;
    $("tradeoff").setAttribute("aria-pressed", String(!p.hidden)); if (!p.hidden) $("tro-caps").focus(); });
  $("tro-start").addEventListener("click", run);
  $("tro-stored").addEventListener("click", stored);
  $("tro-cancel").addEventListener("click", () => S.troJob && ui.api(`/api/jobs/${S.troJob}/cancel`, { method: "POST" }));
  $("tro-chart").addEventListener("click", (e) => {
    const r = $("tro-chart").getBoundingClientRect();
    const k = (S.tradeoff?.centres || []).findIndex((c) => Math.hypot(c.x - (e.clientX - r.left), c.y - (e.clientY - r.top)) < 10);
    if (k >= 0) pick(k);
  });
}

function parseCaps(text) {
  const caps = text.split(/[,;\s]+/).filter(Boolean).map(Number);
  const bad = caps.find((c) => !Number.isFinite(c) || c < 0 || c > 100);
  if (bad !== undefined || !caps.length) return null;
  return caps.map((c) => c / 100);
}

async function run() {
  const caps = parseCaps($("tro-caps").value);
  if (!caps) { ui.say("Caps: percentages from 0 to 100, separated by commas", "error"); $("tro-caps").focus(); return; }
  const name = S.data.plan.name;
  const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/jobs`, { method: "POST", body: {
    kind: "tradeoff", caps, time_limit: Number($("tro-time").value), seed: 1,
    targets: S.data.targets ? $("tro-targets").value : "plan", expected_version: S.data.plan.version } });
  if (!r.ok) { ui.say(`Could not start the trade-off: ${r.body?.detail || r.status}`, "error"); return; }
  S.troJob = r.body.id;
  panel("run");
  while (true) {
    await sleep(500);
    const j = await ui.api(`/api/jobs/${r.body.id}`);
    if (!j.ok) { panel("form"); ui.say(`Job lost: ${j.body?.detail || j.status}`, "error"); return; }
    $("tro-progress").value = j.body.progress;
    $("tro-message").textContent = j.body.message || j.body.status;
    if (j.body.status === "succeeded") { draw(j.body.result.points.map((p) => ({ ...p, worst: worst(p.max_deviation) })), "job"); return; }
    if (j.body.status === "failed" || j.body.status === "cancelled") {
      panel("form");
      ui.say(`Trade-off ${j.body.status}: ${j.body.message || ""} (no scenario stored)`, j.body.status === "failed" ? "error" : "warn");
      return;
    }
  }
}

const worst = (dev) => Math.max(0, ...Object.values(dev || {}).filter(Number.isFinite));

/** The scenarios stored by an earlier trade-off (`{plan}~cap…`), measured here on the map's
 *  balance measure: moved units against the plan and the largest deviation from each
 *  territory's capacity target (its share of the total, from the head) when the bars compare
 *  with the targets, else from the mean. */
async function stored() {
  const name = S.data.plan.name;
  const r = await ui.api("/api/plans?limit=500");
  const cands = (r.body?.items || []).filter((p) => p.name.startsWith(`${name}~cap`) && p.status !== "archived");
  if (!cands.length) { ui.say(`No stored trade-off scenarios of ${name} (run the trade-off)`, "warn"); return; }
  const m = $("bal-measure").value, arr = S.data.measures[m];
  const points = [];
  for (const p of cands) {
    const u = await ui.api(`/api/plans/${encodeURIComponent(p.name)}/units?limit=100000`);
    if (!u.ok) continue;
    const terr = new Map(u.body.items.map((x) => [x.unit_id, x.territory_id]));
    const tot = new Map();
    let moved = 0;
    S.data.members.forEach((ids, i) => {
      const own = S.data.units.features[i].properties.u;
      const t = terr.get(terr.has(own) ? own : ids.find((z) => terr.has(z)));
      if (t === undefined) return;
      tot.set(t, (tot.get(t) || 0) + arr[i]);
      if ((S.tIndex.get(t) ?? -1) !== S.unitT[i]) moved++;
    });
    const vals = [...tot.values()], sum = vals.reduce((a, b) => a + b, 0), mean = sum / Math.max(1, vals.length);
    const byTarget = S.data.targets && $("bal-basis").value === "target";
    const share = (t) => S.data.territories[S.tIndex.get(t)]?.target;
    const dev = byTarget
      ? Math.max(0, ...[...tot].filter(([t]) => share(t) > 0).map(([t, v]) => Math.abs(v / (share(t) * sum) - 1)))
      : mean > 0 ? Math.max(...vals.map((v) => Math.abs(v / mean - 1))) : 0;
    const cap = Number(p.name.slice(`${name}~cap`.length)) / 100;
    points.push({ cap: Number.isFinite(cap) ? cap : null, scenario: p.name, moved_units: moved, max_deviation: { [m]: dev }, worst: dev });
  }
  draw(points.sort((a, b) => a.moved_units - b.moved_units), "stored");
}

function panel(which) { for (const k of ["form", "run"]) $("tro-" + k).hidden = which !== k && !(k === "form" && which === "result"); $("tro-result").hidden = which !== "result"; }

function draw(points, source) {
  S.tradeoff = { points, selected: -1, source };
  panel("result");
  $("tro-points").innerHTML = "<legend>Pick a point to see that plan</legend>";
  points.forEach((p, k) => {
    const id = `tro-p${k}`;
    const lab = document.createElement("label");
    lab.innerHTML = `<input type="radio" name="tro-point" id="${id}" value="${k}"> ${p.scenario}: ${p.moved_units} units moved, ` +
      `max deviation ${(100 * p.worst).toFixed(1)}%` + (p.cap !== null && p.cap !== undefined ? ` (cap ${+(100 * p.cap).toFixed(2)}%)` : "");
    lab.querySelector("input").addEventListener("change", () => pick(k));
    $("tro-points").append(lab);
  });
  paint();
  document.body.dataset.tradeoff = `${source}:${points.length}`;
  ui.say(`${points.length} points on the trade-off curve: pick one to see that plan`, "ok");
}

function paint() {
  const { points, selected } = S.tradeoff;
  S.tradeoff.centres = scatterChart($("tro-chart"), { title: `Balance against disruption — ${S.data.plan.name}`,
    xLabel: "units moved", yLabel: "max deviation", selected, fx: (v) => String(Math.round(v)),
    fy: (v) => (100 * v).toFixed(0) + "%",
    points: points.map((p) => ({ x: p.moved_units, y: p.worst, label: p.cap !== null && p.cap !== undefined ? `${+(100 * p.cap).toFixed(2)}%` : "" })) });
}

async function pick(k) {
  S.tradeoff.selected = k;
  $(`tro-p${k}`).checked = true;
  paint();
  await showComparison({ plan: S.tradeoff.points[k].scenario, fromTradeoff: true });
}
