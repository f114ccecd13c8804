// The map's data and drawing: MapLibre sources and layers from the server's map document,
// territory colours, territory borders, choropleth classes and territory labels. The page's
// state (S) and a few UI helpers are bound by main.js (bindMap) before anything is drawn.
//
// Speed (issue 15): the page reads only the map's "head" (per-unit arrays: ids, territories,
// names, centroids, measures, the unit graph) on its main thread; the geometry (units, borders,
// state outlines: one FeatureCollection, one source, so the map draws fewer frames while it
// loads) is handed to MapLibre as the URL of the same plan version, so its worker fetches
// and parses it. A unit's territory colour and a border's "territory border" flag are feature
// properties drawn by data-driven styles, so the first paint makes no per-feature calls; the
// feature state only overrides them for what changed since (moves, selection, locks,
// choropleth), see paintAll / paintUnits / paintBorders.
import maplibregl from "maplibre-gl";
import { modeValues } from "./choropleth.js";

export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#86bcb6", "#d37295"];
export const RAMP = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];
export const NONE = "#dddddd";

let S = null;
let ui = null;
const $ = (id) => ui.$(id);

/** Bind the page state and its helpers ({$, say, fmt, LABELS, api, setupInteraction}). */
export function bindMap(state, helpers) { S = state; ui = helpers; }

export function colourOf(ti) { return ti < 0 ? NONE : PALETTE[S.data.territories[ti].colour % PALETTE.length]; }

// detail 0 (the first paint) brings the territory borders alone; the borders inside
// territories (most of the bytes) come with detail 1, before anyone is likely to need them
const mapUrl = (name, version, detail, part) =>
  `/api/plans/${encodeURIComponent(name)}/map?detail=${detail}&part=${part}&version=${version}` +
  (part === "shapes" && detail === 0 ? "&borders=territory" : "");

/** The plan's map at ``detail`` as the page uses it: the head document plus ``units`` (features
 *  without geometry: ``id`` and properties ``u``, ``t``, for code that reads them) and ``shapes``,
 *  the URL of the geometry of the same version. Answers like api(): {ok, status, body}. */
export async function fetchMap(name, detail = 0) {
  const r = await ui.api(`/api/plans/${encodeURIComponent(name)}/map?detail=${detail}&part=head`);
  if (!r.ok) return r;
  const d = r.body;
  const ts = d.unit_territories;
  d.units = { type: "FeatureCollection", features: d.unit_ids.map((u, i) => ({ type: "Feature", id: i,
    properties: { u, t: ts[i] } })) };
  d.shapes = mapUrl(name, d.plan.version, detail, "shapes");
  return r;
}

/** Sharper shapes once the first picture is there: the geometry of the loaded version at
 *  ``detail`` (feature ids are the same, so colours, selection and borders stay). */
export function upgradeDetail(detail) {
  const d = S.data;
  if (!S.map?.getSource("units")) return;
  d.shapes = mapUrl(d.plan.name, S.loadedVersion, detail, "shapes");
  setShapes(d.shapes);
  S.map.once("idle", () => { if (S.data === d) document.body.dataset.detail = String(detail); });
}

/** Create the map (WebGL context, MapLibre's workers, empty style) before the plan's head is
 *  there, so that start-up overlaps the head request. On the first load, ``version`` (the
 *  plan list's) lets the worker fetch and parse the geometry meanwhile too; the head's own
 *  version replaces it if a change came in between. With ``name``, a plan's load (and its
 *  S.timing) starts. */
export function prepareMap(name, version) {
  if (name) S.timing = { start: performance.now() };   // a plan's load starts
  if (S.map) return;
  S.map = new maplibregl.Map({
    container: "map", attributionControl: false, boxZoom: false, doubleClickZoom: false,
    style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#eef1f4" } }] },
    bounds: [[-125, 24], [-66, 50]], fitBoundsOptions: { padding: 30 },
  });
  S.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  const early = name && version != null ? mapUrl(name, version, 0, "shapes") : null;
  S.map.on("load", () => {
    S.mapLoaded = true;
    if (S.data) drawMap(S.data);
    else if (early) addUnitsSource(early);   // fetched, parsed and indexed; no tiles before the layers
  });
  ui.setupInteraction();
}

export function drawMap(d) {
  const bounds = new maplibregl.LngLatBounds();
  for (const [x, y] of d.centroids) bounds.extend([x, y]);
  S.loadedVersion = d.plan.version;
  S.unitT0 = Int32Array.from(S.unitT);   // the territories the geometry's properties carry
  S.drawn = { coloured: new Set(), flagged: new Set(), borders: new Set() };
  (S.timing || (S.timing = {})).drawn = performance.now();   // the head read and the page's state set
  prepareMap();
  if (!bounds.isEmpty()) S.map.fitBounds(bounds, { padding: 30, duration: 0 });
  if (!S.mapLoaded) return;   // the map's load draws it
  if (!S.map.getSource("units")) addUnitsSource(d.shapes);
  else {
    S.map.removeFeatureState({ source: "units" });
    if (S.shapesUrl !== d.shapes) setShapes(d.shapes);
  }
  if (!S.map.getLayer("units-fill")) addLayers();   // tiles are cut for the head's bounds
  showData(d);
}

/** The units source's geometry at ``url`` (kept in S.shapesUrl). */
function setShapes(url) {
  S.shapesUrl = url;
  S.map.getSource("units").setData(url);
}

/** What the head brings to the drawn map: accounts, rep homes, colours, labels; the first
 *  time, the page is ready at the next idle (then sharper shapes), later loads only ask for
 *  the sharper shapes then. */
function showData(d) {
  for (const m of S.labels) m.remove();
  S.labels = [];
  S.map.getSource("accounts").setData(accountsGeo(d));
  S.map.getSource("reps").setData(repsGeo(d));
  paintAll();
  placeLabels();
  if (document.body.dataset.ready === "1") { afterPaint(d); return; }
  const T = S.timing;
  S.map.once("idle", () => {
    S.painted = performance.now();
    S.map.off("render", S.countFrames);
    document.body.dataset.ready = "1";
    ui.say(`${S.data.plan.name}: ${S.leaves.length} territories` + (S.data.editable ? " — select units and move them" : ""));
    setTimeout(warmGraph, 0);
    if (T === S.timing) T.idle = S.painted;
    upgradeDetail(1);
  });
}

/** Once ``d`` is drawn (the map's next idle): sharper shapes (detail 1). */
function afterPaint(d) {
  S.map.once("idle", () => { if (S.data === d) upgradeDetail(1); });
}

export const accountsGeo = (d) => ({ type: "FeatureCollection", features: d.accounts.map((a) => ({ type: "Feature",
  properties: { id: a.id, name: a.name, t: a.t }, geometry: { type: "Point", coordinates: [a.lon, a.lat] } })) });
export const repsGeo = (d) => ({ type: "FeatureCollection", features: d.reps.map((r) => ({ type: "Feature",
  properties: { id: r.id, name: r.name, t: r.t }, geometry: { type: "Point", coordinates: [r.lon, r.lat] } })) });

// a unit's territory colour: the feature state's (set after a move or for a choropleth), else
// its territory's palette colour from the property ``c`` (the colour index, -1: none)
const TERRITORY_FILL = ["match", ["%", ["get", "c"], PALETTE.length], ...PALETTE.flatMap((p, k) => [k, p]), NONE];
const SEL = ["boolean", ["feature-state", "sel"], false];
const LOCKED = ["boolean", ["feature-state", "locked"], false];

/** The units source (one source: units with property c, borders with on, state outlines with
 *  state) at ``url``. MapLibre's worker fetches, parses and indexes it at once, but cuts no
 *  tile before a layer uses the source. Stamps where the first paint's time goes in S.timing
 *  (bench/web_map.py prints it): the geometry indexed, every visible tile built, the frames
 *  drawn until idle. */
function addUnitsSource(url) {
  const m = S.map;
  S.shapesUrl = url;
  // geojson-vt simplifies per tile a little more than MapLibre's default (tolerance 0.375) and
  // copies less across tile edges: fewer vertices for the software renderer at country zoom
  m.addSource("units", { type: "geojson", data: url, tolerance: 1, buffer: 32 });
  const T = S.timing || (S.timing = {});
  T.source = performance.now();
  T.frames = 0;
  S.countFrames = () => { T.frames++; };
  m.on("render", S.countFrames);
  const stamp = (e) => {
    if (e.sourceId !== "units") return;
    if (e.sourceDataType === "metadata" && !T.geometry) T.geometry = performance.now();
    if (e.isSourceLoaded && T.geometry && T.layers && !T.tiles) { T.tiles = performance.now(); m.off("sourcedata", stamp); }
  };
  m.on("sourcedata", stamp);
}

function addLayers() {
  const m = S.map;
  S.timing.layers = performance.now();
  const none = { type: "FeatureCollection", features: [] };   // the head's accounts and reps come in showData
  m.addSource("accounts", { type: "geojson", data: none, cluster: true, clusterRadius: 28, clusterMaxZoom: 10 });
  m.addSource("reps", { type: "geojson", data: none });
  // one fill and one line layer for the units (a proposed move's colour and red outline from
  // the feature state "proposed"); unit outlines only from zoom 4 on (below, selected, locked
  // and proposed units are outlined): fewer fragments for the software renderer
  const proposed = ["to-boolean", ["feature-state", "proposed"]];
  const fill = ["case", proposed, ["feature-state", "proposed"], ["coalesce", ["feature-state", "colour"], TERRITORY_FILL]];
  // the fill's own 1 px outline (drawn with the fill anyway) marks proposed, selected and
  // locked units at every zoom, so the wider outlines of units-line can start at zoom 5
  m.addLayer({ id: "units-fill", type: "fill", source: "units", filter: ["has", "c"], paint: {
    "fill-color": fill,
    "fill-outline-color": ["case", proposed, "#d40000", SEL, "#111111", LOCKED, "#7a0019", fill],
    "fill-opacity": ["case", proposed, 0.95, SEL, 0.95, 0.78] } });
  const width = (plain) => ["case", proposed, 2.2, SEL, 2, LOCKED, 2, plain];
  // unit outlines from zoom 5 (below they are thinner than 0.3 px): at country zoom the
  // worker would build and the software renderer draw every ring of every tile in view
  // (seconds for all-US ZIPs)
  m.addLayer({ id: "units-line", type: "line", source: "units", filter: ["has", "c"], minzoom: 5, paint: {
    "line-color": ["case", proposed, "#d40000", SEL, "#111111", LOCKED, "#7a0019", "#ffffff"],
    "line-width": ["interpolate", ["linear"], ["zoom"], 3.5, width(0), 5, width(0.3)] } });
  // a border is drawn where its two units lie in different territories: the property ``on``
  // for the loaded version, the feature state once a move changed it (width 0, not opacity 0:
  // a line of no width costs the renderer no pixels)
  m.addLayer({ id: "borders", type: "line", source: "units", filter: ["has", "on"], paint: { "line-color": "#1d232a",
    "line-width": ["case", ["boolean", ["feature-state", "on"], ["==", ["get", "on"], 1]], 1.6, 0] } });
  m.addLayer({ id: "states-line", type: "line", source: "units", filter: ["has", "state"], paint: { "line-color": "#333", "line-width": 1.2 } });
  m.addLayer({ id: "accounts-cluster", type: "circle", source: "accounts", filter: ["has", "point_count"], paint: {
    "circle-color": "rgba(40,40,40,0.55)", "circle-stroke-color": "#fff", "circle-stroke-width": 1,
    "circle-radius": ["step", ["get", "point_count"], 6, 10, 9, 50, 13, 200, 18] } });
  m.addLayer({ id: "accounts-point", type: "circle", source: "accounts", filter: ["!", ["has", "point_count"]],
    paint: { "circle-color": "#222", "circle-radius": 2.5, "circle-stroke-color": "#fff", "circle-stroke-width": 0.5 } });
  m.addLayer({ id: "reps", type: "circle", source: "reps", paint: { "circle-color": "#fff", "circle-radius": 5,
    "circle-stroke-color": "#000", "circle-stroke-width": 2 } });
  m.on("click", "accounts-cluster", (e) => {
    const f = e.features[0];
    m.getSource("accounts").getClusterExpansionZoom(f.properties.cluster_id).then((z) =>
      m.easeTo({ center: f.geometry.coordinates, zoom: z }));
  });
}

/** The unit graph as lists of neighbours (S.adj, as main.js's contiguity check reads it), built
 *  once the map is drawn, so the first move does not pay for it (tens of ms at 30k units). */
function warmGraph() {
  if (S.adj || !S.data) return;
  const adj = Array.from({ length: S.unitT.length }, () => []);
  for (const [a, b] of S.data.edges) { adj[a].push(b); adj[b].push(a); }
  S.adj = adj;
}

export function placeLabels() {
  // territory labels as HTML markers (no glyph server needed): at the unit nearest the mean
  for (const mk of S.labels) mk.remove();
  S.labels = [];
  const sum = new Map();
  S.unitT.forEach((t, i) => {
    if (t < 0) return;
    const s = sum.get(t) || [0, 0, 0];
    s[0] += S.data.centroids[i][0]; s[1] += S.data.centroids[i][1]; s[2]++;
    sum.set(t, s);
  });
  for (const [t, s] of sum) {
    const el = document.createElement("div");
    el.className = "tlabel";
    el.textContent = S.data.territories[t].id;
    S.labels.push(new maplibregl.Marker({ element: el }).setLngLat([s[0] / s[2], s[1] / s[2]]).addTo(S.map));
  }
}

/** Colour every unit by the chosen mode and mark selection, locks and territory borders. In
 *  territory mode only units whose drawing differs from their properties get a feature state
 *  (moved since the load, selected, locked, or coloured before). */
export function paintAll() {
  if (!S.map || !S.map.getSource("units")) return;
  const mode = $("colour-by").value || "territory";
  const shown = mode === "territory" ? null : modeValues(mode, { measures: S.data.measures, totals: S.totals,
    unitT: S.unitT, territories: S.data.territories, unitIds: S.data.unit_ids, file: S.file });
  const values = shown ? shown.values : null;
  let breaks = null;
  if (values) {
    // class 0: zero (or less); four quantile classes of the positive values; NaN: no value (grey)
    const sorted = Float64Array.from(values.filter((v) => v > 0)).sort();
    breaks = sorted.length ? [0, 1 / 3, 2 / 3].map((q) => sorted[Math.floor(q * (sorted.length - 1))]) : [0, 0, 0];
    breaks = [0, ...breaks.slice(1)];
    breaks.push(sorted.length ? sorted[sorted.length - 1] : 0);
  }
  S.breaks = breaks;
  S.shown = shown ? { ...shown, mode } : null;   // the hover box shows the unit's value
  const { coloured, flagged } = S.drawn;
  const units = values ? S.unitT.keys() : new Set([...coloured, ...flagged, ...S.sel, ...S.locked, ...moved()]);
  const nowColoured = new Set(), nowFlagged = new Set();
  for (const i of units) {
    let colour = null;
    if (!values) { if (S.unitT[i] !== S.unitT0[i]) colour = colourOf(S.unitT[i]); }
    else if (Number.isNaN(values[i])) colour = NONE;
    else { let k = 0; while (k < 4 && values[i] > breaks[k]) k++; colour = RAMP[k === 0 ? 0 : Math.min(k + 1, 4)]; }
    const sel = S.sel.has(i), locked = S.locked.has(i);
    S.map.setFeatureState({ source: "units", id: i }, { colour, sel, locked });
    if (colour !== null) nowColoured.add(i);
    if (sel || locked) nowFlagged.add(i);
  }
  S.drawn.coloured = nowColoured;
  S.drawn.flagged = nowFlagged;
  renderLegend(mode, breaks, shown, values && values.some(Number.isNaN));
  paintBorders(null);
}

function moved() {
  const out = [];
  for (let i = 0; i < S.unitT.length; i++) if (S.unitT[i] !== S.unitT0[i]) out.push(i);
  return out;
}

/** Territory borders around ``units`` (null: every border); a feature state only where the
 *  border differs from the loaded version's (or had one before). The unit graph's edge
 *  ``S.data.edges[k]`` is the border feature ``n + k`` of the units source (n units); a state
 *  set before the feature arrives (detail 0 has the territory borders only) applies then. */
export function paintBorders(units) {
  const edges = S.data.edges;
  if (!S.bordersOf) {
    S.bordersOf = new Map();
    edges.forEach(([a, b], k) => { for (const u of [a, b]) {
      if (!S.bordersOf.has(u)) S.bordersOf.set(u, []); S.bordersOf.get(u).push(k); } });
  }
  const set = S.drawn.borders;
  const t = S.unitT, t0 = S.unitT0, n = t.length;
  const ks = units ? new Set([...units].flatMap((u) => S.bordersOf.get(u) || [])) : edges.keys();
  for (const k of ks) {
    const [a, b] = edges[k];
    const on = t[a] !== t[b];
    if (!set.has(k) && on === (t0[a] !== t0[b])) continue;
    S.map.setFeatureState({ source: "units", id: n + k }, { on });
    set.add(k);
  }
}

function renderLegend(mode, breaks, shown, anyMissing) {
  const el = $("legend");
  if (!breaks) {
    el.innerHTML = `<strong>Territories</strong> coloured so that neighbours differ<br>
      <span class="sw rep"></span> rep home <span class="sw acc"></span> accounts (grey discs: clusters)`;
    return;
  }
  const [kind, m] = [mode.slice(0, mode.indexOf(":")), mode.slice(mode.indexOf(":") + 1)];
  const f = shown.fmt || ui.fmt;
  // breaks: [0, q1, q2, max] -> classes 0 | (0, q1] | (q1, q2] | (q2, max]
  const text = [f(0), `up to ${f(breaks[1])}`, `${f(breaks[1])}–${f(breaks[2])}`, `${f(breaks[2])}–${f(breaks[3])}`];
  const title = shown.title || `${ui.LABELS[m] || m} per ${kind}`;
  el.innerHTML = `<strong></strong><br>` + text.map((t, k) =>
    `<span class="sw" style="background:${RAMP[k === 0 ? 0 : k + 1]}"></span>${t}`).join("<br>") +
    (anyMissing ? `<br><span class="sw" style="background:${NONE}"></span><span class="missing"></span>` : "");
  el.querySelector("strong").textContent = title;   // a file's name is the user's text
  if (anyMissing) el.querySelector(".missing").textContent = shown.missing || "no value";
}

export function paintUnits(ids) {
  const mode = $("colour-by").value || "territory";
  if (mode !== "territory") return paintAll();
  paintBorders(ids);
  for (const i of ids) {
    const sel = S.sel.has(i), locked = S.locked.has(i);
    S.map.setFeatureState({ source: "units", id: i }, { colour: colourOf(S.unitT[i]), sel, locked });
    S.drawn.coloured.add(i);
    if (sel || locked) S.drawn.flagged.add(i);
  }
}
