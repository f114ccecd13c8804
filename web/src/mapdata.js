// The map's data and drawing: MapLibre sources and layers from the server's map document,
// territory colours, territory borders, choropleth classes and territory labels. The page's
// state (S) and a few UI helpers are bound by main.js (bindMap) before anything is drawn.
import maplibregl from "maplibre-gl";

export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#86bcb6", "#d37295"];
export const RAMP = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];

let S = null;
let ui = null;
const $ = (id) => ui.$(id);

/** Bind the page state and its helpers ({$, say, fmt, LABELS, setupInteraction}). */
export function bindMap(state, helpers) { S = state; ui = helpers; }

export function colourOf(ti) { return ti < 0 ? "#dddddd" : PALETTE[S.data.territories[ti].colour % PALETTE.length]; }

export function drawMap(d) {
  const bounds = new maplibregl.LngLatBounds();
  for (const [x, y] of d.centroids) bounds.extend([x, y]);
  if (!S.map) {
    S.map = new maplibregl.Map({
      container: "map", attributionControl: false, boxZoom: false, doubleClickZoom: false,
      style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#eef1f4" } }] },
      bounds: bounds.isEmpty() ? [[-125, 24], [-66, 50]] : bounds, fitBoundsOptions: { padding: 30 },
    });
    S.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    S.map.on("load", () => addLayers(d));
    ui.setupInteraction();
  } else {
    for (const m of S.labels) m.remove();
    S.labels = [];
    for (const id of ["units", "states", "accounts", "reps", "borders"]) if (S.map.getSource(id)) {
      S.map.getSource(id).setData(id === "units" ? d.units : id === "states" ? d.state_outlines : id === "borders" ? d.borders
        : id === "accounts" ? accountsGeo(d) : repsGeo(d));
    }
    if (!bounds.isEmpty()) S.map.fitBounds(bounds, { padding: 30, duration: 0 });
    paintAll();
    placeLabels();
  }
}

export const accountsGeo = (d) => ({ type: "FeatureCollection", features: d.accounts.map((a) => ({ type: "Feature",
  properties: { id: a.id, name: a.name, t: a.t }, geometry: { type: "Point", coordinates: [a.lon, a.lat] } })) });
export const repsGeo = (d) => ({ type: "FeatureCollection", features: d.reps.map((r) => ({ type: "Feature",
  properties: { id: r.id, name: r.name, t: r.t }, geometry: { type: "Point", coordinates: [r.lon, r.lat] } })) });

function addLayers(d) {
  const m = S.map;
  m.addSource("units", { type: "geojson", data: d.units });
  m.addSource("states", { type: "geojson", data: d.state_outlines });
  m.addSource("borders", { type: "geojson", data: d.borders });
  m.addSource("accounts", { type: "geojson", data: accountsGeo(d), cluster: true, clusterRadius: 28, clusterMaxZoom: 10 });
  m.addSource("reps", { type: "geojson", data: repsGeo(d) });
  m.addLayer({ id: "units-fill", type: "fill", source: "units", paint: {
    "fill-color": ["coalesce", ["feature-state", "colour"], "#dddddd"],
    "fill-opacity": ["case", ["boolean", ["feature-state", "sel"], false], 0.95, 0.78] } });
  m.addLayer({ id: "units-line", type: "line", source: "units", paint: {
    "line-color": ["case", ["boolean", ["feature-state", "sel"], false], "#111111",
      ["boolean", ["feature-state", "locked"], false], "#7a0019", "#ffffff"],
    "line-width": ["case", ["boolean", ["feature-state", "sel"], false], 2,
      ["boolean", ["feature-state", "locked"], false], 2, 0.3] } });
  m.addLayer({ id: "units-proposed", type: "fill", source: "units", paint: {
    "fill-color": ["coalesce", ["feature-state", "proposed"], "rgba(0,0,0,0)"],
    "fill-opacity": ["case", ["to-boolean", ["feature-state", "proposed"]], 0.95, 0] } });
  m.addLayer({ id: "units-proposed-line", type: "line", source: "units", paint: {
    "line-color": "#d40000", "line-width": ["case", ["to-boolean", ["feature-state", "proposed"]], 2.2, 0] } });
  m.addLayer({ id: "borders", type: "line", source: "borders", paint: { "line-color": "#1d232a",
    "line-width": 1.6, "line-opacity": ["case", ["boolean", ["feature-state", "on"], false], 1, 0] } });
  m.addLayer({ id: "states-line", type: "line", source: "states", paint: { "line-color": "#333", "line-width": 1.2 } });
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
  paintAll();
  placeLabels();
  m.once("idle", () => {
    S.painted = performance.now();
    document.body.dataset.ready = "1";
    ui.say(`${S.data.plan.name}: ${S.leaves.length} territories` + (S.data.editable ? " — select units and move them" : ""));
  });
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

export function paintAll() {
  if (!S.map || !S.map.getSource("units")) return;
  const mode = $("colour-by").value || "territory";
  let values = null;
  if (mode.startsWith("unit:")) values = S.data.measures[mode.slice(5)];
  else if (mode.startsWith("territory:")) {
    const tot = S.totals[mode.slice(10)];
    values = Array.from(S.unitT, (t) => (t < 0 ? 0 : tot[t]));
  }
  let breaks = null;
  if (values) {
    // class 0: zero; four quantile classes of the positive values
    const sorted = Float64Array.from(values.filter((v) => v > 0)).sort();
    breaks = sorted.length ? [0, 1 / 3, 2 / 3].map((q) => sorted[Math.floor(q * (sorted.length - 1))]) : [0, 0, 0];
    breaks = [0, ...breaks.slice(1)];
    breaks.push(sorted.length ? sorted[sorted.length - 1] : 0);
  }
  S.breaks = breaks;
  for (let i = 0; i < S.unitT.length; i++) {
    let colour;
    if (!values) colour = colourOf(S.unitT[i]);
    else { let k = 0; while (k < 4 && values[i] > breaks[k]) k++; colour = RAMP[k === 0 ? 0 : Math.min(k + 1, 4)]; }
    S.map.setFeatureState({ source: "units", id: i }, { colour, sel: S.sel.has(i), locked: S.locked.has(i) });
  }
  renderLegend(mode, breaks);
  paintBorders(null);
}

export function paintBorders(units) {
  // a unit border is a territory border where the two units lie in different territories
  const feats = S.data.borders.features;
  if (!S.bordersOf) {
    S.bordersOf = new Map();
    feats.forEach((f, k) => { for (const u of [f.properties.a, f.properties.b]) {
      if (!S.bordersOf.has(u)) S.bordersOf.set(u, []); S.bordersOf.get(u).push(k); } });
  }
  const ks = units ? new Set([...units].flatMap((u) => S.bordersOf.get(u) || [])) : feats.keys();
  for (const k of ks) {
    const p = feats[k].properties;
    S.map.setFeatureState({ source: "borders", id: k }, { on: S.unitT[p.a] !== S.unitT[p.b] });
  }
}

function renderLegend(mode, breaks) {
  const el = $("legend");
  if (!breaks) {
    el.innerHTML = `<strong>Territories</strong> coloured so that neighbours differ<br>
      <span class="sw rep"></span> rep home <span class="sw acc"></span> accounts (grey discs: clusters)`;
    return;
  }
  const [kind, m] = mode.split(":");
  // breaks: [0, q1, q2, max] -> classes 0 | (0, q1] | (q1, q2] | (q2, max]
  const text = ["0", `up to ${ui.fmt(breaks[1])}`, `${ui.fmt(breaks[1])}–${ui.fmt(breaks[2])}`, `${ui.fmt(breaks[2])}–${ui.fmt(breaks[3])}`];
  el.innerHTML = `<strong>${ui.LABELS[m] || m} per ${kind}</strong><br>` + text.map((t, k) =>
    `<span class="sw" style="background:${RAMP[k === 0 ? 0 : k + 1]}"></span>${t}`).join("<br>");
}

export function paintUnits(ids) {
  const mode = $("colour-by").value || "territory";
  if (mode !== "territory") return paintAll();
  paintBorders(ids);
  for (const i of ids) S.map.setFeatureState({ source: "units", id: i },
    { colour: colourOf(S.unitT[i]), sel: S.sel.has(i), locked: S.locked.has(i) });
}

