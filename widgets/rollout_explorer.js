// CodeSelf rollout / result explorer (anywidget). Filters (status, task substring, reward range)
// are synced to Python, which filters with polars and sends back one page of `rows`; clicking a row
// sets `selected_key`, and Python answers with `detail` (the code and the first failing test).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const fmt = (x) => (x === null || x === undefined ? "—" : typeof x === "number" ? (Math.round(x * 1000) / 1000).toString() : String(x));

function render({ model, el }) {
  const root = h("div", { class: "cs-widget cs-rollout-explorer" });
  const statusBox = h("span", { class: "cs-bar", "data-testid": "status-filters" });
  const taskInput = h("input", { type: "search", placeholder: "task id contains…", "data-testid": "task-filter" });
  const rmin = h("input", { type: "number", step: "0.05", "data-testid": "reward-min", title: "reward ≥" });
  const rmax = h("input", { type: "number", step: "0.05", "data-testid": "reward-max", title: "reward ≤" });
  const count = h("span", { class: "cs-muted", "data-testid": "match-count" });
  const table = h("table", { class: "cs-table", "data-testid": "rollout-rows" });
  const detail = h("div", { class: "cs-detail", "data-testid": "rollout-detail" });
  const filterBars = [h("div", { class: "cs-bar" }, statusBox),
    h("div", { class: "cs-bar" }, taskInput, h("span", {}, "reward"), rmin, h("span", {}, "to"), rmax)];
  const sharedNote = h("span", { class: "cs-muted", "data-testid": "shared-filters" }, "filtered by the controls above · ");
  root.append(
    ...filterBars,
    h("div", { class: "cs-bar" }, sharedNote, count),
    h("div", { class: "cs-main" }, h("div", { class: "cs-detail", style: "flex: 0 0 56%; overflow-x: auto" }, table), detail),
  );
  el.append(root);

  function drawStatuses() {
    const chosen = new Set(model.get("status_filter") || []);
    const opts = model.get("status_options") || [];
    statusBox.replaceChildren(h("span", { class: "cs-muted" }, "status:"), ...opts.map((o) => {
      const box = h("input", { type: "checkbox", "data-status": o.status });
      box.checked = chosen.has(o.status);
      box.addEventListener("change", () => {
        const now = new Set(model.get("status_filter") || []);
        if (box.checked) now.add(o.status); else now.delete(o.status);
        model.set("status_filter", opts.map((x) => x.status).filter((s) => now.has(s)));
        model.save_changes();
      });
      return h("label", { class: "cs-check" }, box, h("span", { class: `cs-badge ${o.status}` }, `${o.status} ${o.count}`));
    }));
  }
  function drawFilters() {
    const visible = model.get("filters_visible") !== false;
    for (const bar of filterBars) bar.style.display = visible ? "" : "none";
    sharedNote.style.display = visible ? "none" : "";
  }
  function drawRows() {
    const sel = model.get("selected_key");
    const rows = model.get("rows") || [];
    const withFile = rows.some((r) => r.file !== null && r.file !== undefined);
    count.textContent = `${model.get("n_matching")} of ${model.get("n_total")} rollouts match` +
      (rows.length < model.get("n_matching") ? ` (first ${rows.length} shown)` : "");
    const cols = [...(withFile ? ["file"] : []), "task", "sample", "status", "reward", "public", "hidden"];
    const head = h("tr", {}, ...cols.map((c) => h("th", {}, c)));
    table.replaceChildren(head, ...rows.map((r) => h("tr", {
      class: r.key === sel ? "cs-selected" : "", "data-key": r.key,
      onclick: () => { model.set("selected_key", r.key); model.save_changes(); },
    }, ...(withFile ? [h("td", { "data-col": "file" }, fmt(r.file))] : []), h("td", {}, r.task_id), h("td", {}, fmt(r.sample_id)), h("td", {}, h("span", { class: `cs-badge ${r.status}` }, r.status)),
      h("td", {}, fmt(r.reward)), h("td", {}, `${r.public_passed}/${r.public_total}`), h("td", {}, `${r.hidden_passed}/${r.hidden_total}`))));
  }
  function drawDetail() {
    const d = model.get("detail") || {};
    if (!d.key) { detail.replaceChildren(h("p", { class: "cs-muted" }, "Click a rollout to see its code and the test it fails.")); return; }
    const parts = [h("div", { class: "cs-bar" }, h("strong", {}, `${d.task_id} · sample ${fmt(d.sample_id)}`),
      h("span", { class: `cs-badge ${d.status}` }, d.status), h("span", { class: "cs-muted" }, `reward ${fmt(d.reward)}`))];
    if (d.failing) {
      const f = d.failing;
      parts.push(h("h4", {}, `First failing test (${f.kind || "program"}${f.index === null || f.index === undefined ? "" : " #" + f.index})`),
        h("pre", { class: "cs-fail", "data-testid": "failing-test" }, (f.test ? f.test + "\n\n" : "") + `${f.error_type || f.status}: ${f.error_message || ""}`));
    } else {
      parts.push(h("p", { class: "cs-muted", "data-testid": "failing-test" }, "Every test passed."));
    }
    parts.push(h("h4", {}, "Code"), h("pre", { "data-testid": "rollout-code" }, d.code || "(no code parsed: " + (d.parse_status || "?") + ")"));
    if (d.stdout) parts.push(h("h4", {}, "stdout"), h("pre", {}, d.stdout));
    if (d.stderr) parts.push(h("h4", {}, "stderr"), h("pre", {}, d.stderr));
    detail.replaceChildren(...parts);
  }
  taskInput.value = model.get("task_query") || "";
  const num = (v) => (v === "" || v === null || Number.isNaN(Number(v)) ? null : Number(v));
  rmin.value = model.get("reward_min") ?? "";
  rmax.value = model.get("reward_max") ?? "";
  taskInput.addEventListener("input", () => { model.set("task_query", taskInput.value); model.save_changes(); });
  rmin.addEventListener("change", () => { model.set("reward_min", num(rmin.value)); model.save_changes(); });
  rmax.addEventListener("change", () => { model.set("reward_max", num(rmax.value)); model.save_changes(); });
  const handlers = {
    "change:status_options": drawStatuses, "change:status_filter": drawStatuses,
    "change:rows": drawRows, "change:n_matching": drawRows, "change:selected_key": drawRows,
    "change:detail": drawDetail, "change:filters_visible": drawFilters,
    "change:task_query": () => { if (taskInput.value !== model.get("task_query")) taskInput.value = model.get("task_query"); },
    "change:reward_min": () => { rmin.value = model.get("reward_min") ?? ""; },
    "change:reward_max": () => { rmax.value = model.get("reward_max") ?? ""; },
  };
  for (const [ev, fn] of Object.entries(handlers)) model.on(ev, fn);
  drawFilters(); drawStatuses(); drawRows(); drawDetail();
  return () => { for (const [ev, fn] of Object.entries(handlers)) model.off(ev, fn); };
}

export default { render };
