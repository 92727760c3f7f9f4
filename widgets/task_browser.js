// CodeSelf task browser (anywidget): a searchable task list; the selected task's prompt, public
// tests and hidden tests side by side. Synced state: `query`, `selected_task_id` (read in Python).
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

function render({ model, el }) {
  const root = h("div", { class: "cs-widget cs-task-browser" });
  const search = h("input", { type: "search", placeholder: "filter task ids / prompts…", "data-testid": "task-search" });
  const count = h("span", { class: "cs-muted" });
  const list = h("ul", { class: "cs-list", "data-testid": "task-list" });
  const detail = h("div", { class: "cs-detail", "data-testid": "task-detail" });
  root.append(h("div", { class: "cs-bar" }, search, count), h("div", { class: "cs-main" }, list, detail));
  el.append(root);

  function matches(t, q) {
    if (!q) return true;
    q = q.toLowerCase();
    return t.task_id.toLowerCase().includes(q) || t.prompt.toLowerCase().includes(q);
  }
  function drawList() {
    const q = model.get("query") || "";
    const sel = model.get("selected_task_id");
    const tasks = model.get("tasks") || [];
    const shown = tasks.filter((t) => matches(t, q));
    count.textContent = `${shown.length} of ${tasks.length} tasks`;
    list.replaceChildren(...shown.slice(0, 2000).map((t) => h("li", {
      class: t.task_id === sel ? "cs-selected" : "", "data-task-id": t.task_id,
      onclick: () => { model.set("selected_task_id", t.task_id); model.save_changes(); },
    }, h("span", {}, t.task_id), h("span", { class: "cs-badge" }, t.split || "—"))));
  }
  function tests(items, cls) {
    if (!items.length) return [h("p", { class: "cs-muted" }, "none")];
    return items.map((s) => h("pre", { class: cls }, s));
  }
  function drawDetail() {
    const sel = model.get("selected_task_id");
    const t = (model.get("tasks") || []).find((x) => x.task_id === sel);
    if (!t) { detail.replaceChildren(h("p", { class: "cs-muted" }, "Select a task.")); return; }
    detail.replaceChildren(
      h("div", { class: "cs-bar" }, h("strong", {}, t.task_id), h("span", { class: "cs-badge" }, t.source),
        h("span", { class: "cs-muted" }, `entry point ${t.entry_point} · ${t.public_tests.length} public · ${t.hidden_tests.length} hidden`)),
      h("div", { class: "cs-cols" },
        h("div", { "data-testid": "task-prompt" }, h("h4", {}, "Prompt"), h("pre", {}, t.prompt),
          t.starter_code ? h("div", {}, h("h4", {}, "Starter code"), h("pre", {}, t.starter_code)) : ""),
        h("div", { "data-testid": "task-public" }, h("h4", {}, `Public tests (${t.public_tests.length})`), ...tests(t.public_tests, "")),
        h("div", { "data-testid": "task-hidden" }, h("h4", {}, `Hidden tests (${t.hidden_tests.length}) — never shown to a model`),
          ...tests(t.hidden_tests, "cs-hidden-test"))),
    );
  }
  search.value = model.get("query") || "";
  search.addEventListener("input", () => { model.set("query", search.value); model.save_changes(); });
  const onQuery = () => { if (search.value !== model.get("query")) search.value = model.get("query"); drawList(); };
  const onSel = () => { drawList(); drawDetail(); };
  model.on("change:query", onQuery);
  model.on("change:selected_task_id", onSel);
  model.on("change:tasks", onSel);
  drawList(); drawDetail();
  return () => {
    model.off("change:query", onQuery);
    model.off("change:selected_task_id", onSel);
    model.off("change:tasks", onSel);
  };
}

export default { render };
