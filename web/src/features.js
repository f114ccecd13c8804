// The planner's and analyst's panels beside the map editing in main.js: scenario comparison
// (compare.js), the trade-off picker (tradeoff.js), KPI dashboards (dashboard.js) and locks
// stored in the plan (locks.js). main.js binds them once and tells them when a plan is shown.
import { bindCompare, closePanel } from "./compare.js";
import { bindDashboard, dashboardPlanChanged } from "./dashboard.js";
import { bindLocks, loadLocks, toggleLocks } from "./locks.js";
import { bindTradeoff } from "./tradeoff.js";

let S = null;
const $ = (id) => document.getElementById(id);

/** helpers: {api, say, fmt, paintUnits, loadPlan} */
export function bindFeatures(state, helpers) {
  S = state;
  for (const bind of [bindCompare, bindDashboard, bindLocks, bindTradeoff]) bind(state, helpers);
}

/** A plan was drawn (first load, another plan picked, reload): refresh what depends on it. */
export function planShown() {
  const editor = ["admin", "planner"].includes(S.user?.role);
  $("planner-tools").hidden = !editor;
  if (S.compare) closePanel();
  $("tro").hidden = true;
  $("tro-result").hidden = true;
  $("tro-form").hidden = false;
  S.tradeoff = null;
  dashboardPlanChanged();
  loadLocks();
}

export { toggleLocks };
