// Small charts drawn on a canvas (no chart library): bars per label and a scatter of points.
// The canvas is painted white first, so its PNG export looks like the page.

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

/** Vertical bars: {title, labels, values, format}. Returns the bars' boxes (CSS pixels). */
export function barChart(canvas, { title: t, labels, values, format }) {
  const { g, w, h } = prepare(canvas);
  title(g, t, w);
  const left = 58, right = 10, top = 28, bottom = 42;
  const ticks = niceTicks(Math.max(0, ...values));
  const top_v = ticks[ticks.length - 1];
  const y = (v) => top + (h - top - bottom) * (1 - v / top_v);
  g.textAlign = "right";
  for (const v of ticks) {
    g.strokeStyle = GRID;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w - right, y(v)); g.stroke();
    g.fillStyle = MUTED; g.fillText(format(v), left - 6, y(v));
  }
  const n = Math.max(1, values.length), slot = (w - left - right) / n;
  const every = Math.ceil(n / Math.max(1, Math.floor((w - left - right) / 56)));
  const boxes = [];
  values.forEach((v, i) => {
    const x = left + i * slot + slot * 0.15, bw = slot * 0.7;
    g.fillStyle = BAR;
    g.fillRect(x, y(Math.max(0, v)), bw, y(0) - y(Math.max(0, v)));
    boxes.push({ x, y: y(Math.max(0, v)), w: bw, h: y(0) - y(Math.max(0, v)) });
    if (i % every === 0) {
      g.fillStyle = INK; g.textAlign = "center";
      g.fillText(labels[i], x + bw / 2, h - bottom + 14, slot * every);
    }
  });
  g.strokeStyle = INK;
  g.beginPath(); g.moveTo(left, y(0)); g.lineTo(w - right, y(0)); g.stroke();
  return boxes;
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
