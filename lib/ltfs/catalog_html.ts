/**
 * The catalog as one static HTML page that needs nothing else: the catalog's JSON is embedded,
 * and a small script searches it by name, path or digest, shows which tape(s) hold each file,
 * and draws a fill bar per tape. A search is kept in the address (`#q=…`) so it can be
 * bookmarked or sent. Everything from the catalog is put into the page as text, never as markup.
 */
import type { Catalog } from "./catalog.ts";

/** Most result rows drawn at once; the count says how many matched. */
export const MAX_ROWS = 1000;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
.tape { display: grid; grid-template-columns: 7rem 1fr 16rem; gap: .75rem; align-items: center; margin: .25rem 0; }
.bar { background: #e6e6e6; height: .9rem; border-radius: .2rem; overflow: hidden; }
.fill { background: #2f6fb3; height: 100%; }
.fill.full { background: #b3402f; }
input { font: inherit; width: 100%; max-width: 40rem; padding: .4rem .6rem; margin: 1rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.size, td.blocks { white-space: nowrap; }
td.hash { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
.muted { color: #777; }
.incomplete { color: #b3402f; font-weight: 600; grid-column: 2 / 4; }
`;

/** The page's script, run once the DOM is read: everything it shows comes from the embedded JSON. */
const SCRIPT = `
(function () {
  var catalog = JSON.parse(document.getElementById("catalog").textContent);
  var MAX_ROWS = ${MAX_ROWS};
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function bytes(n) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }
  var tapes = document.getElementById("tapes");
  catalog.tapes.forEach(function (t) {
    var row = el("div", { class: "tape", "data-serial": t.serial, "data-status": t.status || "unknown" });
    row.appendChild(el("strong", {}, t.serial));
    var bar = el("div", { class: "bar", title: t.source });
    var share = t.capacityBytes ? Math.min(1, t.bytes / t.capacityBytes) : 0;
    var fill = el("div", { class: "fill" + (share > 0.98 ? " full" : "") });
    fill.style.width = (share * 100).toFixed(1) + "%";
    bar.appendChild(fill);
    row.appendChild(bar);
    row.appendChild(el("span", { class: "muted" }, t.files + " files, " + bytes(t.bytes) +
      (t.capacityBytes ? " (" + (share * 100).toFixed(1) + "% of " + bytes(t.capacityBytes) + ")" : " (capacity unknown)")));
    if (t.status === "incomplete") {
      var missing = (t.notWritten || []).map(function (f) { return f.path; }).concat((t.changed || []).map(function (f) { return f.path + " (" + f.reason + ")"; }));
      row.appendChild(el("span", {}, ""));
      row.appendChild(el("span", { class: "incomplete" }, "INCOMPLETE: " + t.note + (missing.length ? ": " + missing.join(", ") : "")));
    }
    (t.indexProblems || []).forEach(function (problem) {
      row.appendChild(el("span", {}, ""));
      row.appendChild(el("span", { class: "incomplete" }, "INDEX DAMAGED: " + problem));
    });
    tapes.appendChild(row);
  });
  // One row per distinct file: same path and size, and digests that agree in every format both
  // copies have; the tapes holding it are listed together.
  var byPath = new Map();
  var all = [];
  function agrees(a, b) {
    var common = Object.keys(a).filter(function (k) { return k in b; });
    if (common.length === 0) return Object.keys(a).length === 0 && Object.keys(b).length === 0;
    return common.every(function (k) { return a[k] === b[k]; });
  }
  catalog.files.forEach(function (f) {
    var key = f.path + "\u0000" + f.size;
    var variants = byPath.get(key);
    if (!variants) { variants = []; byPath.set(key, variants); }
    var g = variants.find(function (v) { return agrees(v.hashes, f.hashes); });
    if (!g) { g = { path: f.path, size: f.size, hashes: {}, copies: [] }; variants.push(g); all.push(g); }
    for (var k in f.hashes) g.hashes[k] = f.hashes[k];
    g.copies.push({ tape: f.tape, startBlock: f.startBlock });
  });
  all.forEach(function (g) {
    g.text = (g.path + " " + Object.keys(g.hashes).map(function (k) { return g.hashes[k]; }).join(" ") + " " +
      g.copies.map(function (c) { return c.tape; }).join(" ")).toLowerCase();
  });
  var input = document.getElementById("q");
  var body = document.getElementById("results");
  var count = document.getElementById("count");
  function show() {
    var terms = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var hits = terms.length === 0 ? all : all.filter(function (g) { return terms.every(function (t) { return g.text.indexOf(t) >= 0; }); });
    body.textContent = "";
    hits.slice(0, MAX_ROWS).forEach(function (g) {
      var tr = el("tr", { class: "file", "data-path": g.path });
      tr.appendChild(el("td", { class: "path" }, g.path));
      tr.appendChild(el("td", { class: "size" }, bytes(g.size)));
      tr.appendChild(el("td", { class: "tapes" }, g.copies.map(function (c) { return c.tape; }).join(", ")));
      tr.appendChild(el("td", { class: "blocks" }, g.copies.map(function (c) { return c.tape + (c.startBlock === undefined ? "" : " @" + c.startBlock); }).join(", ")));
      tr.appendChild(el("td", { class: "hash" }, Object.keys(g.hashes).map(function (k) { return k + " " + g.hashes[k]; }).join("\\n")));
      body.appendChild(tr);
    });
    count.textContent = hits.length + (hits.length === 1 ? " file" : " files") + (terms.length ? " match" : "") +
      (hits.length > MAX_ROWS ? " (first " + MAX_ROWS + " shown)" : "");
    var hash = terms.length ? "#q=" + encodeURIComponent(input.value) : "";
    if (location.hash !== hash && history.replaceState) history.replaceState(null, "", hash || location.pathname);
  }
  var initial = /^#q=(.*)$/.exec(location.hash);
  if (initial) {
    // A hand-made address may hold a lone or broken escape ("#q=%"): search for it as written.
    try { input.value = decodeURIComponent(initial[1]); } catch (e) { input.value = initial[1]; }
  }
  input.addEventListener("input", show);
  show();
})();
`;

/**
 * The page for a catalog.
 * @example
 * import { writeFileSync } from "node:fs";
 * import { buildCatalog } from "./catalog.ts";
 * writeFileSync("catalog/index.html", catalogHtml(buildCatalog(["vt1", "vt2"])));
 */
export function catalogHtml(catalog: Catalog): string {
  // Inside <script type="application/json"> only "</" could end the element early; "<" is escaped.
  const data = JSON.stringify(catalog).replace(/</g, "\\u003c");
  const title = `Tape catalog: ${catalog.tapes.map((t) => t.serial).join(", ")}`.replace(/[<&]/g, (c) => (c === "<" ? "&lt;" : "&amp;"));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${title}</h1>
<section id="tapes" aria-label="Tapes"></section>
<input id="q" type="search" placeholder="Search name, path or hash (all words must match)" autofocus>
<p id="count" class="muted"></p>
<table>
<thead><tr><th>Path</th><th>Size</th><th>Tapes</th><th>Start block</th><th>Hashes</th></tr></thead>
<tbody id="results"></tbody>
</table>
<p class="muted">Catalog made ${catalog.created} by ltfs-pack.</p>
<script type="application/json" id="catalog">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
