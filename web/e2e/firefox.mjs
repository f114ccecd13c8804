// The map app in a stock Firefox (Debian's firefox-esr) driven over WebDriver BiDi by
// puppeteer-core (no browser download). Run by tests/e2e/test_web_firefox.py, which starts the
// server, checks what this script reports against the database and the API, and fails on any
// console error. Usage: node e2e/firefox.mjs '{"url": ..., "firefox": ..., "planner": ...,
// "rep": ..., "password": ..., "out": DIR, "headerJs": ...}'; writes DIR/report.json and DIR/firefox.png.
//
// Headless Firefox has no WebGL on Linux (Mozilla bug 1375585: "WebGL creation failed:
// tryNativeGL () Exhausted GL driver options (FEATURE_FAILURE_WEBGL_EXHAUSTED_DRIVERS)"), so
// the test runs Firefox with a window on a virtual X display (Xvfb; DISPLAY set), where Mesa's
// llvmpipe draws WebGL in software; without DISPLAY this script runs headless.
import { writeFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2]);
const VIEW = { width: 1366, height: 768 };
const report = { errors: [], browser: null };

function watch(page, who) {
  page.on("console", (m) => { if (m.type() === "error") report.errors.push(`${who} console.error: ${m.text()}`); });
  page.on("pageerror", (e) => report.errors.push(`${who} uncaught: ${e.message || e}`));
}

async function login(browser, who, user) {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  watch(page, who);
  await page.setViewport(VIEW);
  await page.goto(cfg.url + "/");
  await page.waitForSelector("#username", { visible: true });
  await page.type("#username", user);
  await page.type("#password", cfg.password);
  const t0 = Date.now();
  await page.click("#login-button");
  await page.waitForSelector("body[data-ready='1']", { timeout: 120_000 });
  return { page, ctx, readyMs: Date.now() - t0 };
}

const idle = (page) => page.evaluate(() => new Promise((ok) => {
  const m = window.__territorium.map;
  if (m.loaded() && !m.isMoving()) m.once("idle", ok); else m.once("idle", ok);
  m.triggerRepaint();
}));

/** Every unit's centroid on screen (page pixels), its territory and that territory's colour
 *  (the swatch of its balance row, as the page drew it). */
const unitPixels = (page) => page.evaluate(() => {
  const S = window.__territorium, r = S.map.getCanvas().getBoundingClientRect();
  const colour = (id) => document.querySelector(`#bars .row[data-t="${id}"] .sw`)?.style.backgroundColor ?? null;
  return S.data.centroids.map((c, i) => {
    const p = S.map.project(c), t = S.unitT[i], id = t < 0 ? null : S.data.territories[t].id;
    return { i, x: r.left + p.x, y: r.top + p.y, t: id, colour: id && colour(id) };
  });
});

const bars = (page) => page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#bars .row")]
  .map((r) => [r.dataset.t, Number(r.querySelector(".val").dataset.value)])));

async function planner(browser) {
  const { page, readyMs } = await login(browser, "planner", cfg.planner);
  const out = { readyMs };
  out.webgl = await page.evaluate(() => {
    const gl = window.__territorium.map.painter.context.gl;
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    return { version: gl.getParameter(gl.VERSION), renderer: gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) };
  });
  Object.assign(out, await page.evaluate(() => {
    const S = window.__territorium;
    return { plan: S.data.plan.name, version: S.data.plan.version, mapBox: (({ left, top, width, height }) =>
      ({ left, top, width, height }))(S.map.getCanvas().getBoundingClientRect()) };
  }));
  out.header = await page.evaluate(`(${cfg.headerJs})()`);   // the layout test's reading (tests/e2e/_e2e.py)
  await page.select("#bal-measure", "workload");
  await idle(page);
  out.units = await unitPixels(page);
  await page.screenshot({ path: `${cfg.out}/firefox.png` });

  // a unit with a neighbour in another territory, clicked where the map draws it
  const pick = await page.evaluate(async () => {
    const S = window.__territorium, m = S.map, w = S.data.measures.workload;
    const cands = [];
    for (const [a, b] of S.data.edges) {
      if (S.unitT[a] >= 0 && S.unitT[b] >= 0 && S.unitT[a] !== S.unitT[b] && S.data.territories[S.unitT[b]].leaf && w[a] > 0) cands.push([a, b]);
    }
    for (const [a, b] of cands.slice(0, 40)) {
      m.jumpTo({ center: S.data.centroids[a], zoom: 10.5 });
      await new Promise((ok) => m.once("idle", ok));
      const p = m.project(S.data.centroids[a]);
      const hits = m.queryRenderedFeatures(p, { layers: ["units-fill"] }).map((f) => f.id);
      if (hits.length === 1 && hits[0] === a) {
        const r = m.getCanvas().getBoundingClientRect();
        return { unit: a, members: S.data.members[a], from: S.data.territories[S.unitT[a]].id,
          to: S.data.territories[S.unitT[b]].id, x: r.left + p.x, y: r.top + p.y };
      }
    }
    return null;
  });
  out.move = pick;
  if (!pick) return out;
  await page.mouse.click(pick.x, pick.y);
  pick.selected = await page.evaluate(() => [...window.__territorium.sel]);
  // the unit's workload as the server states it (not the page's own arrays)
  pick.workload = await page.evaluate(async (i) => {
    const S = window.__territorium;
    const r = await fetch(`/api/plans/${encodeURIComponent(S.data.plan.name)}/map?detail=0&part=head`, { credentials: "same-origin" });
    return (await r.json()).measures.workload[i];
  }, pick.unit);
  pick.before = await bars(page);
  await page.select("#target", pick.to);
  await page.click("#move");
  pick.after = await bars(page);   // drawn before the server answers
  await page.waitForSelector(`body[data-version='${out.version + 1}']`, { timeout: 30_000 });
  pick.saved = await page.evaluate(() => window.__territorium.data.plan.version);
  // the dashboard panel opens and computes in Firefox too
  await page.click("#dashboard");
  await page.waitForSelector("body[data-dash='ready']", { timeout: 60_000 });
  out.dashboard = await page.evaluate(() => window.__territorium.dashboard.cards);
  await page.click("#dash-close");
  // the plan against its version before the move, side by side on two synced WebGL maps
  await page.click("#compare");
  await page.waitForSelector("#cmp-with option[value='@version']");
  await page.select("#cmp-with", "@version");
  await page.click("#cmp-show");
  await page.waitForSelector(`body[data-compare='${out.plan}@${out.version}']`, { timeout: 30_000 });
  await page.click("#cmp-side");
  await page.waitForSelector("body[data-side='ready']", { timeout: 60_000 });
  out.side = await page.evaluate(() => {
    const S = window.__territorium;
    return { changed: S.compare.changed.map((c) => c[0]),
      right: S.compare.changed.map(([i]) => S.side.map.getFeatureState({ source: "units", id: i }).proposed ?? null),
      cameras: [S.map, S.side.map].map((m) => [m.getCenter().lng, m.getCenter().lat, m.getZoom()]),
      widths: ["map", "map2"].map((id) => document.getElementById(id).getBoundingClientRect().width) };
  });
  return out;
}

async function rep(browser) {
  const { page, readyMs } = await login(browser, "rep", cfg.rep);
  return { readyMs, ...(await page.evaluate(async () => {
    const S = window.__territorium;
    const csrf = sessionStorage.getItem("territorium-csrf");
    const other = S.data.territories.find((t) => t.id !== S.data.territories[S.unitT[0]]?.id);
    const write = await fetch(`/api/plans/${encodeURIComponent(S.data.plan.name)}/moves`, { method: "POST",
      credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ moves: { [S.data.members[0][0]]: other?.id ?? "T00" }, expected_version: S.data.plan.version }) });
    return { plan: S.data.plan.name, territories: S.data.territories.map((t) => t.id),
      unitTerritories: [...new Set(Array.from(S.unitT, (t) => (t < 0 ? null : S.data.territories[t].id)))],
      units: S.data.members.flat(), accounts: S.data.accounts.length, editToolsHidden: document.getElementById("edit-tools").hidden,
      plannerToolsHidden: document.getElementById("planner-tools").hidden, writeStatus: write.status };
  })) };
}

let browser = null;
try {
  browser = await puppeteer.launch({ browser: "firefox", executablePath: cfg.firefox, headless: !process.env.DISPLAY,
    extraPrefsFirefox: { "webgl.force-enabled": true }, args: [`--width=${VIEW.width + 40}`, `--height=${VIEW.height + 160}`] });
  report.browser = await browser.version();
  report.planner = await planner(browser);
  report.rep = await rep(browser);
} catch (e) {
  report.failure = String(e.stack || e);
} finally {
  if (browser) await browser.close();
}
writeFileSync(`${cfg.out}/report.json`, JSON.stringify(report));
process.exitCode = report.failure ? 1 : 0;
