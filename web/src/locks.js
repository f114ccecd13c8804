// Locks stored in the plan: read when a plan is shown (GET /api/plans/{name}/locks), written
// when the planner locks or unlocks the selected units (POST, one new version, after any
// move still being saved). A map unit is locked when one of the plan units it stands for is.

let S = null, ui = null;
const $ = (id) => document.getElementById(id);

export function bindLocks(state, helpers) { S = state; ui = helpers; }

/** Read the plan's locks and paint them (called whenever a plan is shown). */
export async function loadLocks() {
  const name = S.data.plan.name;
  const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/locks`);
  if (!r.ok || S.data.plan.name !== name) return;
  const locked = new Set(r.body.units);
  const before = [...S.locked];
  S.locked.clear();
  S.data.members.forEach((ids, i) => { if (ids.some((u) => locked.has(u))) S.locked.add(i); });
  if (S.map?.getSource("units")) ui.paintUnits(new Set([...before, ...S.locked]));   // else the first paint shows them
  document.body.dataset.locks = String(S.locked.size);
}

/** Lock the selected units, or unlock them when all of them are locked already. */
export function toggleLocks() {
  if (!S.data?.editable) return;
  const ids = [...S.sel];
  if (!ids.length) { ui.say("Select units first", "warn"); return; }
  const unlock = ids.every((i) => S.locked.has(i));
  const units = [...new Set(ids.filter((i) => unlock || !S.locked.has(i)).flatMap((i) => S.data.members[i]))];
  for (const i of ids) (unlock ? S.locked.delete(i) : S.locked.add(i));
  ui.paintUnits(ids);
  const name = S.data.plan.name;
  ui.say(`${ids.length} units ${unlock ? "unlocked" : "locked"} — saving…`);
  S.saving = S.saving.then(async () => {
    const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/locks`, { method: "POST",
      body: { [unlock ? "unlock" : "lock"]: units, expected_version: S.data.plan.version,
        reason: unlock ? "unlocked on the map" : "locked on the map" } });
    if (r.ok) {
      S.data.plan.version = r.body.version;
      document.body.dataset.version = r.body.version;
      $("plan-meta").textContent = `v${r.body.version} · ${r.body.status} · ${S.unitT.length.toLocaleString()} ${S.data.plan.unit_level} units`;
      ui.say(`${ids.length} units ${unlock ? "unlocked" : "locked"} (${S.locked.size} locked in all): version ${r.body.version}`, "ok");
      return;
    }
    for (const i of ids) (unlock ? S.locked.add(i) : S.locked.delete(i));
    ui.paintUnits(ids);
    ui.say(`Locks not saved: ${r.body?.detail || r.status}` + (r.status === 409 ? " — reload the plan" : ""), "error");
  });
}
