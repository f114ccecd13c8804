// Small charts drawn on a canvas (no chart library): bars per label, lines over time and a
// scatter of points. The canvas is painted white first, so its PNG export looks like the page.

const INK = "#1d232a", GRID = "#dfe3e8", BAR = "#4e79a7", MUTED = "#56606b";

function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = "#fff";
  g.fillRect(0, 0, w, h);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "middle";
  return { g, w, h };
}

function niceTicks(max, n = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function title(g, text, w) {
  g.fillStyle = INK;
  g.font = "600 13px system-ui, sans-serif";
  g.textAlign = "left";
  g.fillText(text, 8, 12, w - 16);
  g.font = "12px system-ui, sans-serif";
}

/** The value axis and grid of a chart with ``n`` slots of labels below: returns y(value),
 *  the slot width and how often a label is written. */
function frame(g, { w, h, left, right, top, bottom, max, n, labels, format }) {
  const ticks = niceTicks(max);
  const topV = ticks[ticks.length - 1];
  const y = (v) => top + (h - top - bottom) * (1 - v / topV);
  g.textAlign = "right";
  for (const v of ticks) {
    g.strokeStyle = GRID;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w - right, y(v)); g.stroke();
    g.fillStyle = MUTED; g.fillText(format(v), left - 6, y(v));
  }
  const slot = (w - left - right) / Math.max(1, n);
  const every = Math.ceil(Math.max(1, n) / Math.max(1, Math.floor((w - left - right) / 56)));
  g.fillStyle = INK; g.textAlign = "center";
  labels.forEach((l, i) => { if (i % every === 0) g.fillText(l, left + (i + 0.5) * slot, h - bottom + 14, slot * every); });
  return { y, slot };
}

function baseline(g, y, left, w, right) {
  g.strokeStyle = INK;
  g.beginPath(); g.moveTo(left, y(0)); g.lineTo(w - right, y(0)); g.stroke();
}

/** Vertical bars: {title, labels, values, format}. Returns the bars' boxes (CSS pixels). */
export function barChart(canvas, { title: t, labels, values, format }) {
  const { g, w, h } = prepare(canvas);
  title(g, t, w);
  const left = 58, right = 10, top = 28, bottom = 42;
  const { y, slot } = frame(g, { w, h, left, right, top, bottom, max: Math.max(0, ...values), n: values.length, labels, format });
  const boxes = values.map((v, i) => {
    const x = left + i * slot + slot * 0.15, bw = slot * 0.7;
    g.fillStyle = BAR;
    g.fillRect(x, y(Math.max(0, v)), bw, y(0) - y(Math.max(0, v)));
    return { x, y: y(Math.max(0, v)), w: bw, h: y(0) - y(Math.max(0, v)) };
  });
  baseline(g, y, left, w, right);
  return boxes;
}

export const SERIES = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#9c755f"];

/** Lines over the same labels (periods): {title, labels, series: [{name, values}], format}, a
 *  legend row under the title. Returns each series' points (CSS pixels) and colour. */
export function lineChart(canvas, { title: t, labels, series, format }) {
  const { g, w, h } = prepare(canvas);
  title(g, t, w);
  // legend: swatch and name per series, wrapped into rows
  let lx = 8, ly = 30;
  series.forEach((s, k) => {
    const tw = g.measureText(s.name).width + 26;
    if (lx + tw > w - 8 && lx > 8) { lx = 8; ly += 16; }
    g.fillStyle = SERIES[k % SERIES.length]; g.fillRect(lx, ly - 2, 14, 4);
    g.fillStyle = INK; g.textAlign = "left"; g.fillText(s.name, lx + 18, ly);
    lx += tw;
  });
  const left = 58, right = 10, top = ly + 16, bottom = 42;
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const { y, slot } = frame(g, { w, h, left, right, top, bottom, max, n: labels.length, labels, format });
  baseline(g, y, left, w, right);
  return series.map((s, k) => {
    const colour = SERIES[k % SERIES.length];
    const pts = s.values.map((v, i) => ({ x: left + (i + 0.5) * slot, y: y(Math.max(0, v)) }));
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(p.x, p.y) : g.moveTo(p.x, p.y)));
    g.stroke(); g.lineWidth = 1;
    g.fillStyle = colour;
    for (const p of pts) { g.beginPath(); g.arc(p.x, p.y, 2.5, 0, 2 * Math.PI); g.fill(); }
    return { name: s.name, colour, points: pts };
  });
}

/** Points: {title, xLabel, yLabel, points: [{x, y, label}], selected, fx, fy}. Returns the
 *  points' centres (CSS pixels), for clicks. */
export function scatterChart(canvas, { title: t, xLabel, yLabel, points, selected, fx, fy }) {
  const { g, w, h } = prepare(canvas);
  title(g, t, w);
  const left = 52, right = 16, top = 28, bottom = 40;
  const xt = niceTicks(Math.max(0, ...points.map((p) => p.x))), yt = niceTicks(Math.max(0, ...points.map((p) => p.y)));
  const X = (v) => left + (w - left - right) * v / xt[xt.length - 1];
  const Y = (v) => top + (h - top - bottom) * (1 - v / yt[yt.length - 1]);
  g.textAlign = "right";
  for (const v of yt) {
    g.strokeStyle = GRID; g.beginPath(); g.moveTo(left, Y(v)); g.lineTo(w - right, Y(v)); g.stroke();
    g.fillStyle = MUTED; g.fillText(fy(v), left - 5, Y(v));
  }
  g.textAlign = "center";
  for (const v of xt) { g.fillStyle = MUTED; g.fillText(fx(v), X(v), h - bottom + 12); }
  g.fillStyle = INK;
  g.fillText(xLabel, left + (w - left - right) / 2, h - 10);
  g.save(); g.translate(12, top + (h - top - bottom) / 2); g.rotate(-Math.PI / 2); g.fillText(yLabel, 0, 0); g.restore();
  const sorted = points.map((p, i) => [p, i]).sort((a, b) => a[0].x - b[0].x);
  g.strokeStyle = "#8a96a3"; g.beginPath();
  sorted.forEach(([p], k) => (k ? g.lineTo(X(p.x), Y(p.y)) : g.moveTo(X(p.x), Y(p.y))));
  g.stroke();
  const centres = points.map((p) => ({ x: X(p.x), y: Y(p.y) }));
  points.forEach((p, i) => {
    const c = centres[i];
    g.beginPath(); g.arc(c.x, c.y, i === selected ? 7 : 5, 0, 2 * Math.PI);
    g.fillStyle = i === selected ? "#d40000" : BAR; g.fill();
    g.strokeStyle = "#fff"; g.lineWidth = 1.5; g.stroke(); g.lineWidth = 1;
    g.fillStyle = INK; g.textAlign = "left"; g.fillText(p.label, c.x + 8, c.y - 8);
  });
  return centres;
}
