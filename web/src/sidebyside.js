// Side-by-side comparison: a second MapLibre map beside the main one, with the same style
// (sources and layers copied from the main map, so it draws what the main map draws) and the
// same camera (each map's moves are copied to the other). The left map shows the plan on
// screen as it is; the right one the other plan: units whose territory differs from the
// loaded geometry's get their colour from the feature state, the units that change are
// outlined in red (feature state "proposed", as in the diff layer), and territory borders follow
// the other plan.
import maplibregl from "maplibre-gl";
import { colourOf } from "./mapdata.js";

const $ = (id) => document.getElementById(id);
let side = null;   // {map, off: [[map, event, fn]]}

/** Open the right-hand map for ``changed`` ([[unit, from, to], ...] against the page's units),
 *  captioned ``leftName`` / ``rightName``. Resolves when both maps are drawn. */
export function openSide(S, changed, leftName, rightName) {
  closeSide(S);
  const box = $("map2");
  box.hidden = false;
  document.querySelector(".main").classList.add("split");
  caption($("map"), leftName);
  S.map.resize();
  const map = new maplibregl.Map({ container: box, style: S.map.getStyle(), attributionControl: false,
    boxZoom: false, doubleClickZoom: false, center: S.map.getCenter(), zoom: S.map.getZoom(),
    bearing: S.map.getBearing(), pitch: S.map.getPitch() });
  caption(box, rightName);
  side = { map, off: [] };
  S.side = side;
  let copying = false;
  const follow = (from, to) => () => {
    if (copying) return;
    copying = true;
    to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
    copying = false;
  };
  for (const [a, b] of [[S.map, map], [map, S.map]]) {
    const fn = follow(a, b);
    a.on("move", fn);
    side.off.push([a, "move", fn]);
  }
  return new Promise((ok) => map.once("load", () => {
    if (side?.map !== map) return ok(false);
    paintOther(S, map, changed);
    map.once("idle", () => { document.body.dataset.side = "ready"; ok(true); });
  }));
}

/** The other plan's territories on ``map``: colour where it differs from the geometry's
 *  properties (the loaded version), red outline on the units that change, borders redrawn. */
function paintOther(S, map, changed) {
  const t0 = S.unitT0, other = Int32Array.from(S.unitT);
  for (const [i, , to] of changed) other[i] = to;
  for (let i = 0; i < other.length; i++) {
    if (other[i] !== t0[i]) map.setFeatureState({ source: "units", id: i }, { colour: colourOf(other[i]) });
  }
  for (const [i, , to] of changed) map.setFeatureState({ source: "units", id: i }, { proposed: colourOf(to) });
  const n = other.length;
  S.data.edges.forEach(([a, b], k) => {
    const on = other[a] !== other[b];
    if (on !== (t0[a] !== t0[b])) map.setFeatureState({ source: "units", id: n + k }, { on });
  });
  side.territories = other;
}

function caption(box, text) {
  let el = box.querySelector(":scope > .map-caption");
  if (!el) { el = document.createElement("div"); el.className = "map-caption"; box.append(el); }
  el.textContent = text;
}

/** Close the right-hand map (if open) and give the main map its full width again. */
export function closeSide(S) {
  if (!side) return;
  for (const [m, ev, fn] of side.off) m.off(ev, fn);
  side.map.remove();
  side = null;
  S.side = null;
  $("map2").hidden = true;
  $("map2").textContent = "";
  $("map").querySelector(":scope > .map-caption")?.remove();
  document.querySelector(".main").classList.remove("split");
  delete document.body.dataset.side;
  S.map.resize();
}
