// Compare the plan on screen with another plan (a scenario) or one of its earlier versions:
// a diff layer (the units that change territory, outlined in red and filled with their
// territory in the other plan), the per-territory changes and the reps affected by name (from
// GET /api/compare), side by side on two synced maps or as the diff layer, and the next step: propose / approve / promote the scenario, or restore
// the earlier version.
import { colourOf } from "./mapdata.js";
import { closeSide, openSide } from "./sidebyside.js";

let S = null, ui = null;
const $ = (id) => document.getElementById(id);

export function bindCompare(state, helpers) {
  S = state; ui = helpers;
  $("compare").addEventListener("click", () => ($("cmp").hidden ? openPanel() : closePanel()));
  $("cmp-with").addEventListener("change", () => { $("cmp-version-label").hidden = $("cmp-with").value !== "@version"; });
  $("cmp-show").addEventListener("click", () => {
    const w = $("cmp-with").value;
    show(w === "@version" ? { version: Number($("cmp-version").value) } : { plan: w });
  });
  $("cmp-close").addEventListener("click", closePanel);
  $("cmp-diff").addEventListener("click", () => setView("diff"));
  $("cmp-side").addEventListener("click", () => setView("side"));
  $("cmp-open").addEventListener("click", () => {
    const other = S.compare?.other;
    closePanel();
    if (other && !other.includes("@")) { $("plan").value = other; $("plan").dispatchEvent(new Event("change")); }
  });
}

async function openPanel() {
  if (S.proposal) { ui.say("Accept or discard the rebalance proposal first", "warn"); return; }
  $("cmp").hidden = false;
  $("compare").setAttribute("aria-pressed", "true");
  $("cmp-result").hidden = true;
  await fillWith();
  $("cmp-with").focus();
}

/** The plans to compare with (this plan's scenarios first) and "an earlier version". */
async function fillWith(selected) {
  const r = await ui.api("/api/plans?limit=500");
  const sel = $("cmp-with");
  sel.innerHTML = "";
  const here = S.data.plan.name;
  const items = (r.body?.items || []).filter((p) => p.name !== here)
    .sort((a, b) => (b.name.startsWith(here + "~") - a.name.startsWith(here + "~")) || a.name.localeCompare(b.name));
  for (const p of items) sel.add(new Option(`${p.name} (${p.status})`, p.name));
  sel.add(new Option("an earlier version of this plan…", "@version"));
  $("cmp-version").max = Math.max(1, S.data.plan.version - 1);
  $("cmp-version").value = Math.max(1, S.data.plan.version - 1);
  if (selected && [...sel.options].some((o) => o.value === selected)) sel.value = selected;
  $("cmp-version-label").hidden = sel.value !== "@version";
}

export function closePanel() {
  closeSide(S);
  clearLayer();
  S.compare = null;
  $("cmp").hidden = true;
  $("compare").setAttribute("aria-pressed", "false");
}

function clearLayer() {
  for (const [i] of S.compare?.changed || []) S.map.setFeatureState({ source: "units", id: i }, { proposed: null });
}

/** "diff": the diff layer on the map; "side": the two plans side by side (sidebyside.js), the
 *  left map showing this plan as it is. */
async function setView(view) {
  if (!S.compare) return;
  const c = S.compare;
  c.view = view;
  $("cmp-diff").setAttribute("aria-pressed", String(view === "diff"));
  $("cmp-side").setAttribute("aria-pressed", String(view === "side"));
  if (view === "side") {
    clearLayer();
    await openSide(S, c.changed, `${c.base} (on screen)`, c.other);
  } else {
    closeSide(S);
    for (const [i, , to] of c.changed) S.map.setFeatureState({ source: "units", id: i }, { proposed: colourOf(to) });
  }
}

/** Show the differences to ``{plan}`` (another plan) or ``{version}`` (of this plan). */
export async function show({ plan, version }) {
  const base = S.data.plan.name;
  const other = plan ?? `${base}@${version}`;
  const unitsUrl = plan ? `/api/plans/${encodeURIComponent(plan)}/units?limit=100000`
    : `/api/plans/${encodeURIComponent(base)}/units?limit=100000&version=${version}`;
  ui.say(`Comparing with ${other}…`);
  if ($("cmp").hidden || !$("cmp-with").options.length) await fillWith(plan ?? "@version");
  $("cmp").hidden = false;
  $("compare").setAttribute("aria-pressed", "true");
  const [u, c] = await Promise.all([ui.api(unitsUrl),
    ui.api(`/api/compare?plan=${encodeURIComponent(base)}&plan=${encodeURIComponent(other)}`)]);
  if (!u.ok || !c.ok) { ui.say(`Could not compare: ${(u.ok ? c : u).body?.detail || (u.ok ? c : u).status}`, "error"); return; }
  clearLayer();
  const view = S.compare?.view ?? "diff";
  const terr = new Map(u.body.items.map((x) => [x.unit_id, x.territory_id]));
  const changed = [];
  S.data.members.forEach((ids, i) => {
    // a map unit's territory is its own id's (else its first member's), as the map endpoint does
    const own = S.data.units.features[i].properties.u;
    const t = terr.get(terr.has(own) ? own : ids.find((z) => terr.has(z)));
    const to = t !== undefined && S.tIndex.has(t) ? S.tIndex.get(t) : -1;
    if (t !== undefined && to !== S.unitT[i]) changed.push([i, S.unitT[i], to, t]);
  });
  S.compare = { base, other, plan: plan ?? null, version: version ?? null, changed };
  await setView(view);
  renderTable(c.body, other);
  await renderReview();
  $("cmp-result").hidden = false;
  document.body.dataset.compare = other;
  ui.say(`${other}: ${changed.length} units on the map change territory (outlined in red)`, "ok");
}

function renderTable(cmp, other) {
  const s = cmp.summary.find((r) => r.plan === cmp.plans[1]) || {};
  const base = cmp.plans[0];
  const rows = new Map();
  for (const r of cmp.territories) {
    const e = rows.get(r.territory_id) || { a: null, b: null };
    if (r.plan === base) e.a = r; else if (r.plan === cmp.plans[1]) e.b = r;
    rows.set(r.territory_id, e);
  }
  const v = (r, k) => (r ? r[k] || 0 : 0);
  const sign = (x, f = ui.fmt) => (x > 0 ? "+" : x < 0 ? "−" : "") + f(Math.abs(x));
  const diff = [...rows.entries()].filter(([, e]) => !e.a || !e.b || ["units", "accounts", "revenue", "head_count"]
    .some((k) => Math.abs(v(e.a, k) - v(e.b, k)) > 1e-9)).sort((x, y) => x[0].localeCompare(y[0]));
  $("cmp-summary").innerHTML = `<strong>${other}</strong> against <strong>${base}</strong>: ` +
    `<span data-k="units_moved">${s.units_moved ?? 0}</span> units and <span data-k="accounts_moved">${s.accounts_moved ?? 0}</span> accounts change territory or owner ` +
    `(revenue ${ui.fmt(s.revenue_moved ?? 0)}); <span data-k="reps_affected">${s.reps_affected ?? 0}</span> reps affected` +
    (s.reps ? `: <span class="reps">${s.reps.split(";").map((id) => repName(id, cmp.rep_names || {})).join(", ")}</span>` : "") + ".";
  $("cmp-table").innerHTML = `<table><caption>Territories that change (${diff.length})</caption>
    <tr><th scope="col">territory</th><th scope="col">units</th><th scope="col">Δ units</th><th scope="col">Δ accounts</th><th scope="col">Δ revenue</th></tr>` +
    diff.map(([t, e]) => `<tr data-t="${t}" data-units-from="${v(e.a, "units")}" data-units-to="${v(e.b, "units")}">
      <td>${t}</td><td>${v(e.a, "units")}→${v(e.b, "units")}</td><td>${sign(v(e.b, "units") - v(e.a, "units"), String)}</td>
      <td>${sign(v(e.b, "accounts") - v(e.a, "accounts"), String)}</td><td>${sign(v(e.b, "revenue") - v(e.a, "revenue"))}</td></tr>`).join("") + "</table>";
}

const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** A rep affected, by name (the id on hover); by id when the reps table has no name. */
const repName = (id, names) => `<span class="rep" data-rep="${esc(id)}" title="${esc(id)}">${esc(names[id] ?? id)}</span>`;

const NEXT = { draft: ["proposed", "Propose"], proposed: ["approved", "Approve"], approved: ["promote", "Promote from today"] };

async function renderReview() {
  const box = $("cmp-review");
  box.innerHTML = "";
  $("cmp-open").hidden = !S.compare.plan;
  if (S.compare.version) {
    if (!S.data.editable) { box.textContent = "Only a draft plan is restored."; return; }
    const version = S.compare.version;
    const b = button(`Restore version ${version}`, async () => {
      const name = S.data.plan.name;
      const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/restore`, { method: "POST",
        body: { version, expected_version: S.data.plan.version, reason: "restored from the map's comparison" } });
      if (!r.ok) { ui.say(`Not restored: ${r.body?.detail || r.status}`, "error"); return; }
      closePanel();
      await ui.loadPlan(name);
      ui.say(`Restored version ${version} as version ${r.body.version}`, "ok");
    });
    box.append(b);
    return;
  }
  const p = await ui.api(`/api/plans/${encodeURIComponent(S.compare.plan)}`);
  if (!p.ok) return;
  box.append(`${p.body.name} is ${p.body.status} (v${p.body.version}). `);
  const next = NEXT[p.body.status];
  if (!next) return;
  box.append(button(`${next[1]} ${p.body.name}`, async () => {
    const name = p.body.name;
    const r = next[0] === "promote"
      ? await ui.api(`/api/plans/${encodeURIComponent(name)}/promote`, { method: "POST",
        body: { expected_version: p.body.version, reason: "promoted from the map's comparison" } })
      : await ui.api(`/api/plans/${encodeURIComponent(name)}/status`, { method: "POST",
        body: { status: next[0], expected_version: p.body.version, reason: "from the map's comparison" } });
    if (!r.ok) { ui.say(`${next[1]}: ${r.body?.detail || r.status}`, "error"); return; }
    ui.say(`${name} is now ${r.body.status} (v${r.body.version})`, "ok");
    document.body.dataset.reviewed = `${name}:${r.body.status}`;
    await renderReview();
  }));
}

function button(text, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onclick);
  return b;
}
