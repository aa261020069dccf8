// Fluoro console: the little behaviour the server-rendered pages need. No inline handlers
// (the Content-Security-Policy forbids them); every value from the server is inserted as text.
"use strict";

// Detail panels: a node, an edge or a timeline row names its panel in data-detail.
function showDetail(el) {
  const id = el.getAttribute("data-detail");
  const panel = document.getElementById(id);
  if (!panel) return;
  document.querySelectorAll(".panel").forEach((p) => { p.hidden = true; });
  document.querySelectorAll(".selected").forEach((s) => s.classList.remove("selected"));
  panel.hidden = false;
  el.classList.add("selected");
  const hint = document.getElementById("detail-hint");
  if (hint) hint.hidden = true;
}

document.addEventListener("click", (ev) => {
  const el = ev.target.closest("[data-detail]");
  if (el && !ev.target.closest("a")) showDetail(el);
});
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter" && ev.key !== " ") return;
  const el = ev.target.closest && ev.target.closest("[data-detail]");
  if (el) { ev.preventDefault(); showDetail(el); }
});

// Response-time histogram: dragging across bars narrows the filter to their range.
function narrow(filter, loMs, hiMs) {
  const range = "responsetime >= " + (Math.max(loMs, 0) / 1000).toFixed(3) +
    " AND responsetime <= " + (hiMs / 1000).toFixed(3);
  const f = filter.trim();
  return f === "" ? range : "(" + f + ") AND " + range;
}

(function histogramSelection() {
  const svg = document.getElementById("rt-histogram");
  if (!svg) return;
  let first = null;
  svg.addEventListener("mousedown", (ev) => {
    const bin = ev.target.closest(".bin");
    if (bin) { first = bin; ev.preventDefault(); }
  });
  svg.addEventListener("mouseover", (ev) => {
    if (!first) return;
    const bin = ev.target.closest(".bin");
    if (!bin) return;
    const bins = Array.from(svg.querySelectorAll(".bin"));
    const a = bins.indexOf(first), b = bins.indexOf(bin);
    bins.forEach((x, i) => x.classList.toggle("selecting", i >= Math.min(a, b) && i <= Math.max(a, b)));
  });
  document.addEventListener("mouseup", (ev) => {
    if (!first) return;
    const start = first;
    first = null;
    const bin = ev.target.closest && ev.target.closest(".bin");
    if (!bin || bin === start) {
      // A plain click: follow the bar's own link.
      if (bin) window.location.assign(bin.getAttribute("href"));
      return;
    }
    const lo = Math.min(+start.dataset.lo, +bin.dataset.lo);
    const hi = Math.max(+start.dataset.hi, +bin.dataset.hi);
    const input = document.getElementById("filter");
    const form = document.getElementById("trace-query");
    input.value = narrow(input.getAttribute("value") || "", lo, hi);
    form.submit();
  });
})();

// Live tail: new traces matching the filter arrive as server-sent events.
(function liveTail() {
  const box = document.getElementById("live-tail");
  if (!box) return;
  const status = document.getElementById("live-status");
  const body = document.querySelector("#traces tbody");
  const count = document.getElementById("trace-count");
  let source = null;
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function addRow(t) {
    if (body.querySelector('tr[data-id="' + CSS.escape(t.id) + '"]')) return;
    const tr = document.createElement("tr");
    tr.className = t.class + " new";
    tr.dataset.id = t.id;
    const idCell = document.createElement("td");
    idCell.className = "id";
    const a = document.createElement("a");
    a.href = "/traces/" + encodeURIComponent(t.id);
    a.textContent = t.id;
    idCell.appendChild(a);
    tr.appendChild(idCell);
    tr.appendChild(cell(t.start));
    tr.appendChild(cell(t.method));
    tr.appendChild(cell(t.url, "url"));
    tr.appendChild(cell(t.status, "status"));
    tr.appendChild(cell(t.response_ms, "num"));
    body.insertBefore(tr, body.firstChild);
    count.textContent = String(body.rows.length);
  }
  function start() {
    const q = new URLSearchParams({ filter: box.dataset.filter || "", since: box.dataset.since || "" });
    source = new EventSource("/traces/live?" + q.toString());
    source.addEventListener("open", () => { status.textContent = "live"; });
    source.addEventListener("trace", (ev) => addRow(JSON.parse(ev.data)));
    source.addEventListener("problem", (ev) => { status.textContent = ev.data; });
    source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  }
  function stop() {
    if (source) source.close();
    source = null;
    status.textContent = "";
  }
  box.addEventListener("change", () => (box.checked ? start() : stop()));
  if (new URLSearchParams(window.location.search).get("live") === "1") {
    box.checked = true;
    start();
  }
})();
