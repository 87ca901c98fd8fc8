"""The stylesheet and the one small script of the HTML report (inline; nothing is loaded from anywhere).

Every rule is scoped to ``.calib-report`` so the same HTML can sit inside a
notebook page (``_repr_html_``) without restyling it. Colours are the
Okabe-Ito palette of the figures; a dark scheme follows ``prefers-color-scheme``;
``@media print`` lays the report out on A4. The script only makes the tables
marked ``sortable`` sortable by a click on a column head; without it the tables
read the same, in the order stated in their captions.
"""

from __future__ import annotations

#: Okabe-Ito colours used for status marks (the figures use the same palette)
PASS, FAIL, WARN, ACCENT, SKY = "#009E73", "#D55E00", "#E69F00", "#0072B2", "#56B4E9"

CSS = """
.calib-report{--bg:#ffffff;--ink:#1f1f1f;--muted:#595959;--line:#d0d0d0;--soft:#f3f5f7;--accent:%(accent)s;
  --pass:%(pass)s;--fail:%(fail)s;--warn:%(warn)s;
  color:var(--ink);background:var(--bg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
  "DejaVu Sans",sans-serif;max-width:72rem;margin:0 auto;padding:1rem 1.25rem 3rem;box-sizing:border-box;
  overflow-wrap:break-word;color-scheme:light dark}
.calib-report *{box-sizing:border-box}
body.calib-body{margin:0;background:#ffffff}
.calib-report h1{font-size:1.6rem;margin:.5rem 0 .25rem;line-height:1.25}
.calib-report h2{font-size:1.25rem;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid var(--line)}
.calib-report h3{font-size:1.05rem;margin:1.25rem 0 .4rem}
.calib-report p,.calib-report li,.calib-report dd{max-width:46rem}
.calib-report .sub{color:var(--muted);margin:0 0 1rem}
.calib-report a{color:var(--accent)}
.calib-report code,.calib-report .mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;
  font-size:.88em;overflow-wrap:anywhere;word-break:break-word}
.calib-report nav ol{padding-left:1.25rem;margin:.25rem 0}
.calib-report .verdict{border-left:.45rem solid var(--accent);background:var(--soft);padding:.6rem 1rem;margin:1rem 0;
  border-radius:0 .3rem .3rem 0}
.calib-report .verdict.pass{border-left-color:var(--pass)}
.calib-report .verdict.fail{border-left-color:var(--fail)}
.calib-report .verdict.warn{border-left-color:var(--warn)}
.calib-report .verdict p{margin:.2rem 0}
.calib-report .verdict ul{margin:.3rem 0;padding-left:1.2rem}
.calib-report .badge{display:inline-block;font-weight:700;padding:0 .45rem;border-radius:.25rem;border:2px solid var(--accent)}
.calib-report .badge.pass{border-color:var(--pass)}
.calib-report .badge.fail{border-color:var(--fail)}
.calib-report .badge.warn{border-color:var(--warn)}
.calib-report .badge.info{border-color:var(--line);color:var(--muted);font-weight:600}
.calib-report .verdict ul.uses{list-style:none;padding-left:0}
.calib-report .verdict ul.uses li{margin:.3rem 0}
.calib-report .verdict ul.uses + .gate-line{margin-top:.6rem;padding-top:.5rem;border-top:1px solid var(--line)}
.calib-report td.gate-fail,.calib-report td.verdict-fail{color:var(--fail);font-weight:600}
.calib-report td.gate-warn,.calib-report td.verdict-warn{color:var(--warn);font-weight:600}
.calib-report td.gate-pass,.calib-report td.verdict-ok{color:var(--pass);font-weight:600}
.calib-report .scroll{overflow-x:auto;max-width:100%%;margin:.5rem 0 1rem}
.calib-report table{border-collapse:collapse;font-variant-numeric:tabular-nums;min-width:50%%}
.calib-report caption{caption-side:top;text-align:left;color:var(--muted);padding:.2rem 0 .4rem;font-size:.92em}
.calib-report th,.calib-report td{padding:.3rem .6rem;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
.calib-report th:first-child,.calib-report td:first-child,.calib-report td.text,.calib-report th.text{text-align:left}
.calib-report thead th{background:var(--soft);font-weight:600;white-space:nowrap}
.calib-report tbody th{font-weight:600}
.calib-report td{white-space:nowrap}
.calib-report td.text{white-space:normal;min-width:8rem}
.calib-report td.mono{min-width:12rem}
.calib-report td.ci{color:var(--muted)}
.calib-report th button{all:inherit;cursor:pointer;text-decoration:underline dotted}
.calib-report th[aria-sort=ascending] button::after{content:" \\25B2"}
.calib-report th[aria-sort=descending] button::after{content:" \\25BC"}
.calib-report th button:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.calib-report figure{margin:1rem 0;max-width:100%%}
.calib-report figure img{display:block;max-width:100%%;height:auto;background:#ffffff;border:1px solid var(--line);
  border-radius:.3rem}
.calib-report figcaption{color:var(--muted);font-size:.92em;margin-top:.3rem}
.calib-report dl{display:grid;grid-template-columns:minmax(7rem,max-content) minmax(0,1fr);gap:.25rem 1rem;margin:.5rem 0}
.calib-report dt{font-weight:600}
.calib-report dd{margin:0;min-width:0}
.calib-report .note{color:var(--muted);font-size:.92em}
.calib-report .pass-text{color:var(--pass)}
.calib-report .fail-text{color:var(--fail)}
@media (prefers-color-scheme:dark){
  body.calib-body{background:#161616}
  .calib-report{--bg:#161616;--ink:#ececec;--muted:#b4b4b4;--line:#444444;--soft:#242628;--accent:%(sky)s;--pass:#2FC99B;
    --fail:#FF8A4C;--warn:%(warn)s}
  .calib-report figure img{border-color:#444444}
}
@media (max-width:40rem){
  .calib-report{padding:.75rem .75rem 2rem;font-size:14px}
  .calib-report dl{grid-template-columns:minmax(0,1fr)}
  .calib-report dd{margin-bottom:.4rem}
  .calib-report th,.calib-report td{padding:.25rem .4rem}
}
@media print{
  @page{size:A4;margin:14mm 12mm}
  body.calib-body{background:#ffffff}
  .calib-report{--bg:#ffffff;--ink:#000000;--muted:#333333;--line:#bbbbbb;--soft:#f0f0f0;--accent:%(accent)s;
    max-width:none;padding:0;font-size:10.5pt}
  .calib-report nav{display:none}
  .calib-report h2{break-after:avoid;page-break-after:avoid}
  .calib-report figure,.calib-report .verdict,.calib-report tr{break-inside:avoid;page-break-inside:avoid}
  .calib-report figure img{max-height:24cm;width:auto;border:none}
  .calib-report .scroll{overflow:visible}
  .calib-report th button{text-decoration:none}
  .calib-report th[aria-sort] button::after{content:""}
}
""" % {"accent": ACCENT, "pass": PASS, "fail": FAIL, "warn": WARN, "sky": SKY}

#: Makes ``table.sortable`` sortable by clicking a column head; cells sort by ``data-v`` (numbers) or text,
#: empty values last. Runs once per table (a notebook may show the same report twice).
SCRIPT = """
(function(){
  "use strict";
  var tables = document.querySelectorAll("table.sortable");
  for (var t = 0; t < tables.length; t++) { setUp(tables[t]); }
  function key(cell){
    var v = cell.getAttribute("data-v");
    if (v === null) { return {n: false, s: cell.textContent.trim().toLowerCase()}; }
    if (v === "") { return null; }
    return {n: true, x: parseFloat(v)};
  }
  function setUp(table){
    if (table.getAttribute("data-ready") === "1" || !table.tHead || !table.tBodies.length) { return; }
    table.setAttribute("data-ready", "1");
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { wire(table, heads, i); }
  }
  function wire(table, heads, col){
    var th = heads[col];
    var b = document.createElement("button");
    b.type = "button";
    while (th.firstChild) { b.appendChild(th.firstChild); }
    th.appendChild(b);
    b.addEventListener("click", function(){
      var up = th.getAttribute("aria-sort") !== "ascending";
      for (var h = 0; h < heads.length; h++) { heads[h].removeAttribute("aria-sort"); }
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(r1, r2){
        var a = key(r1.cells[col]), c = key(r2.cells[col]);
        if (a === null || c === null) { return (a === null) - (c === null); }
        var d = a.n ? a.x - c.x : (a.s < c.s ? -1 : a.s > c.s ? 1 : 0);
        return up ? d : -d;
      });
      for (var r = 0; r < rows.length; r++) { body.appendChild(rows[r]); }
    });
  }
})();
"""
