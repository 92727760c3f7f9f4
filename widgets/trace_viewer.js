// CodeSelf agent trace viewer (anywidget): pick a trace, step through its turns; each turn shows
// the code, the sandbox verdict, the feedback given back to the model, and the diff against the
// previous attempt. Synced state: `selected_trace`, `selected_turn` (read in Python).
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

function diffView(text) {
  if (!text) return h("p", { class: "cs-muted" }, "first attempt (no previous code)");
  return h("pre", { class: "cs-diff", "data-testid": "turn-diff" }, ...text.split("\n").map((line) => {
    let cls = "";
    if (line.startsWith("@@")) cls = "cs-hunk";
    else if (line.startsWith("+") && !line.startsWith("+++")) cls = "cs-add";
    else if (line.startsWith("-") && !line.startsWith("---")) cls = "cs-del";
    return h("span", { class: cls }, line + "\n");
  }));
}

function render({ model, el }) {
  const root = h("div", { class: "cs-widget cs-trace-viewer" });
  const list = h("ul", { class: "cs-list", "data-testid": "trace-list" });
  const turns = h("div", { class: "cs-turns cs-bar", "data-testid": "turn-buttons" });
  const body = h("div", { "data-testid": "turn-body" });
  root.append(h("div", { class: "cs-main" }, list, h("div", { class: "cs-detail" }, turns, body)));
  el.append(root);

  function current() {
    const traces = model.get("traces") || [];
    return traces[model.get("selected_trace")] || null;
  }
  function drawList() {
    const sel = model.get("selected_trace");
    list.replaceChildren(...(model.get("traces") || []).map((t, i) => h("li", {
      class: i === sel ? "cs-selected" : "", "data-trace": String(i),
      onclick: () => { model.set("selected_trace", i); model.set("selected_turn", 0); model.save_changes(); },
    }, h("span", {}, t.sample_id === null || t.sample_id === undefined ? t.task_id : `${t.task_id} #${t.sample_id}`), h("span", { class: `cs-badge ${t.final_status}` }, `${t.turns.length}× ${t.final_status}`))));
  }
  function drawTurn() {
    const t = current();
    if (!t) { turns.replaceChildren(); body.replaceChildren(h("p", { class: "cs-muted" }, "No trace selected.")); return; }
    const k = Math.min(model.get("selected_turn") || 0, t.turns.length - 1);
    turns.replaceChildren(h("strong", {}, t.task_id), ...t.turns.map((u, i) => h("button", {
      class: i === k ? "cs-selected" : "", "data-turn": String(i), title: u.status,
      onclick: () => { model.set("selected_turn", i); model.save_changes(); },
    }, `turn ${i + 1}: ${u.status}`)));
    const u = t.turns[k];
    if (!u) { body.replaceChildren(); return; }
    body.replaceChildren(
      h("div", { class: "cs-bar" }, h("span", { class: `cs-badge ${u.status}` }, u.status),
        h("span", { class: "cs-muted" }, `public ${u.public_passed}/${u.public_total}` + (u.hidden_total ? ` · hidden ${u.hidden_passed}/${u.hidden_total}` : ""))),
      h("div", { class: "cs-cols2" },
        h("div", {}, h("h4", {}, "Code"), h("pre", { "data-testid": "turn-code" }, u.code || "(no code)")),
        h("div", {}, h("h4", {}, "Diff vs previous turn"), diffView(u.diff))),
      h("h4", {}, "Feedback given to the model (public tests only)"), h("pre", { "data-testid": "turn-feedback" }, u.feedback || "(none)"),
      u.prompt ? h("details", {}, h("summary", {}, "prompt of this turn"), h("pre", {}, u.prompt)) : "",
      h("p", { class: "cs-muted" }, `final submission: turn ${t.final_turn + 1}, ${t.final_status}` +
        (t.final_hidden ? ` (hidden ${t.final_hidden})` : "") + (t.stop_reason ? ` · stopped: ${t.stop_reason}` : "")),
    );
  }
  const redraw = () => { drawList(); drawTurn(); };
  model.on("change:traces", redraw);
  model.on("change:selected_trace", redraw);
  model.on("change:selected_turn", drawTurn);
  redraw();
  return () => {
    model.off("change:traces", redraw);
    model.off("change:selected_trace", redraw);
    model.off("change:selected_turn", drawTurn);
  };
}

export default { render };
