#include "report/html_assets.h"

namespace leakscope::html {

const std::string_view kStyle = R"CSS(
:root {
  --bg: #f3f5f8; --panel: #ffffff; --text: #1c2330; --muted: #5d6878; --faint: #8a94a3;
  --border: #dfe4ea; --accent: #2457a6;
  --leak: #c0262d; --leak-bg: #fdeceb; --growing: #9a5200; --growing-bg: #fdf0d8;
  --stable: #2f6340; --stable-bg: #e4f1e7; --shrinking: #1d4f8c; --shrinking-bg: #e2ecf8;
  --early: #4d5766; --early-bg: #eceff3;
  --ok: #1f6b3a; --ok-bg: #e6f4ea; --warn: #8a4b00; --warn-bg: #fff4dc;
  --sans: system-ui, -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
  --mono: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { background: var(--bg); }
body { margin: 0; font: 14px/1.45 var(--sans); color: var(--text); }
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
code, .mono { font-family: var(--mono); font-size: 12.5px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }

header.top { background: #18212f; color: #fff; }
header.top .wrap { display: flex; align-items: center; justify-content: space-between; height: 54px; }
.brand { font-size: 18px; font-weight: 700; letter-spacing: .01em; }
.brand .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: #f05a4f;
  margin-right: 9px; vertical-align: 1px; box-shadow: 0 0 0 3px rgba(240,90,79,.25); }
.brand .sub { font-weight: 400; color: #aeb8c7; margin-left: 10px; font-size: 14px; }
.status { font-size: 12px; color: #cfd6e0; border: 1px solid #3a4657; border-radius: 999px; padding: 3px 10px; }

main.wrap { padding-top: 20px; padding-bottom: 36px; }
section.card { background: var(--panel); border: 1px solid var(--border); border-radius: 10px;
  padding: 18px 20px 20px; margin-bottom: 18px; box-shadow: 0 1px 2px rgba(20,30,50,.04); }
h1 { font-size: 22px; margin: 0 0 12px; font-weight: 650; word-break: break-all; }
h2 { font-size: 16px; margin: 0 0 4px; font-weight: 650; }
.lede { color: var(--muted); margin: 0 0 14px; font-size: 13px; }

dl.meta { display: flex; flex-wrap: wrap; gap: 12px 40px; margin: 0 0 16px; }
dl.meta div { min-width: 0; max-width: 420px; }
dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--faint); font-weight: 600; }
dl.meta dd { margin: 2px 0 0; font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
dl.meta dd .badge { margin-right: 4px; }

.trust { border-radius: 8px; padding: 10px 14px; font-size: 13.5px; border: 1px solid; }
.trust strong { margin-right: 6px; }
.trust.ok { background: var(--ok-bg); color: var(--ok); border-color: #bfe0c9; }
.trust.warn { background: var(--warn-bg); color: var(--warn); border-color: #f1d49b; }
.trust .detail { color: var(--text); opacity: .85; }

.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 11px; font-weight: 700;
  letter-spacing: .05em; text-transform: uppercase; line-height: 18px; white-space: nowrap; }
.badge.leak { background: var(--leak); color: #fff; }
.badge.growing { background: var(--growing-bg); color: var(--growing); border: 1px solid #f0cf95; line-height: 16px; }
.badge.stable { background: var(--stable-bg); color: var(--stable); }
.badge.shrinking { background: var(--shrinking-bg); color: var(--shrinking); }
.badge.early { background: var(--early-bg); color: var(--early); }
.badge.exited { background: #eceff3; color: var(--muted); }

/* Flame graph */
.toolbar { display: flex; gap: 10px; align-items: center; margin: 0 0 10px; flex-wrap: wrap; }
.toolbar input { font: 13px var(--sans); padding: 5px 9px; border: 1px solid var(--border); border-radius: 6px; width: 220px; }
.toolbar button, button.plain { font: 12.5px var(--sans); padding: 5px 11px; border: 1px solid var(--border);
  border-radius: 6px; background: #f7f9fb; cursor: pointer; color: var(--text); }
.toolbar button:hover, button.plain:hover { background: #eef2f6; }
.toolbar button:disabled { opacity: .45; cursor: default; background: #f7f9fb; }
.toolbar .hint { color: var(--muted); font-size: 12.5px; }
html:not([data-js]) .js-only { display: none !important; }
svg.flame { display: block; width: 100%; height: auto; background: #fbfcfd; border: 1px solid #edf0f3; border-radius: 6px; }
svg.flame g.f { cursor: pointer; }
svg.flame text { font: 12px var(--mono); fill: #1b1b1b; pointer-events: none; }
svg.flame g.f rect { stroke: #fbfcfd; stroke-width: .6; }
svg.flame g.f:hover rect { stroke: #1b1b1b; stroke-width: 1; }
svg.flame g.site rect { stroke: #6d0c10; stroke-width: 1.2; }
svg.flame g.site text { font-weight: 700; }
svg.flame g.match rect { fill: #c43bd6; }
svg.flame g.match text { fill: #fff; }
svg.flame g.dim { opacity: .55; }
.legend { display: flex; gap: 16px; margin-top: 8px; font-size: 12px; color: var(--muted); flex-wrap: wrap; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -2px; margin-right: 5px; }

/* Growth charts */
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
.chartcard { border: 1px solid var(--border); border-radius: 8px; padding: 12px 14px 8px; min-width: 0; }
.chartcard.leak { border-color: #efc2c2; }
.chartcard h3 { font-size: 14px; margin: 0; display: flex; align-items: center; gap: 8px; min-width: 0; }
.chartcard h3 .rank { color: var(--faint); font-weight: 600; }
.chartcard h3 code { font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.chartcard .sub { font-size: 12px; color: var(--muted); margin: 2px 0 4px; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font: 11px var(--sans); fill: var(--muted); }
svg.chart .ylab { text-anchor: end; }
svg.chart .xlab { text-anchor: middle; }
svg.chart .grid { stroke: #e9edf1; stroke-width: 1; }
svg.chart .axis, svg.chart .tick { stroke: #aab3bf; stroke-width: 1; }
svg.chart .window { fill: #f1f4f9; }
svg.chart .wlabel { fill: var(--faint); font-size: 10.5px; }
svg.chart .series { fill: none; stroke: var(--c); stroke-width: 2; stroke-linejoin: round; }
svg.chart .area { fill: var(--c); opacity: .10; }
svg.chart .last { fill: var(--c); }
svg.chart .floor { stroke: #39424e; stroke-width: 1.3; stroke-dasharray: 5 4; }
svg.chart .guide, svg.chart .gdot { pointer-events: none; }
svg.chart .guide { stroke: #39424e; stroke-width: 1; stroke-dasharray: 2 3; }
svg.chart .gdot { fill: #fff; stroke: var(--c); stroke-width: 2; }
svg.chart.leak { --c: #c0262d; }
svg.chart.growing { --c: #d17a00; }
svg.chart.stable { --c: #3f7d56; }
svg.chart.shrinking { --c: #2563b0; }
svg.chart.early { --c: #6b7686; }
.nochart { font-size: 13px; margin: 20px 0; }

/* Ranked table */
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--faint);
  font-weight: 650; padding: 8px 8px; border-bottom: 2px solid var(--border); white-space: nowrap; }
th.num { text-align: right; }
td { padding: 9px 8px; border-bottom: 1px solid #edf0f3; vertical-align: top; }
tr.leak td { background: #fff8f8; }
tr.leak td:first-child { box-shadow: inset 3px 0 0 var(--leak); }
tr:target td { background: #fff6cf; }
td.rank { color: var(--faint); font-weight: 600; }
td.comm { max-width: 150px; overflow-wrap: anywhere; }
td.evidence { font-size: 12px; color: var(--muted); min-width: 210px; max-width: 270px; }
td.evidence b { color: var(--text); font-weight: 600; }
td.site { min-width: 230px; }
td.site .fn { font-family: var(--mono); font-size: 12.5px; font-weight: 700; overflow-wrap: anywhere; }
td.site .loc { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
details summary { cursor: pointer; color: var(--accent); font-size: 12px; margin-top: 3px; }
details ol { margin: 6px 0 0; padding-left: 22px; font-size: 12px; }
details li { margin: 1px 0; overflow-wrap: anywhere; }
details li code { font-size: 12px; }
details li .loc { color: var(--muted); }
details li.leak-site code { font-weight: 700; }
details li .mark { color: var(--leak); font-weight: 600; }
.conf { display: inline-block; width: 44px; height: 6px; background: #e7eaee; border-radius: 3px; vertical-align: middle; margin-right: 6px; overflow: hidden; }
.conf span { display: block; height: 100%; background: #5b6b80; border-radius: 3px; }
tr.leak .conf span { background: var(--leak); }
.more { font-size: 12.5px; color: var(--muted); margin-top: 10px; }
.subtable td, .subtable th { padding: 6px 8px; }
footer { color: var(--faint); font-size: 12px; text-align: center; padding: 6px 0 0; }

#tip { position: fixed; z-index: 10; display: none; pointer-events: none; max-width: 460px;
  background: rgba(24,33,47,.96); color: #f3f5f8; padding: 7px 10px; border-radius: 6px; font: 12px/1.45 var(--mono);
  white-space: pre-line; box-shadow: 0 4px 14px rgba(0,0,0,.2); overflow-wrap: anywhere; }
@media print { .toolbar, details summary { display: none; } section.card { break-inside: avoid; } }
)CSS";

const std::string_view kScript = R"JS(
(function () {
  'use strict';
  var tip = document.createElement('div');
  tip.id = 'tip';
  tip.setAttribute('role', 'tooltip');
  document.body.appendChild(tip);

  function moveTip(ev) {
    var pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - pad;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - pad;
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function showTip(text, ev) {
    tip.textContent = text;
    tip.style.display = 'block';
    moveTip(ev);
  }
  function hideTip() { tip.style.display = 'none'; }

  function fmtBytes(b) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], v = Math.abs(b), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    var s = i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1);
    return (b < 0 ? '-' : '') + s + ' ' + units[i];
  }
  function fmtTime(t) {
    if (t < 60) return t.toFixed(t < 10 ? 1 : 0) + 's';
    var s = Math.round(t), m = Math.floor(s / 60);
    return m + 'm ' + ('0' + (s % 60)).slice(-2) + 's';
  }

  // ---- Flame graph: hover details, click to zoom, search.
  function initFlame(svg) {
    var width = parseFloat(svg.getAttribute('data-width')) || 1200;
    var charWidth = 7.3;
    var nodes = Array.prototype.map.call(svg.querySelectorAll('g.f'), function (g) {
      var title = g.querySelector('title');
      var text = title ? title.textContent : '';
      if (title) g.removeChild(title);  // the custom tooltip replaces the native one
      return {
        g: g, d: +g.getAttribute('data-d'), x: +g.getAttribute('data-x'), w: +g.getAttribute('data-w'),
        name: g.getAttribute('data-n') || '', tip: text,
        rect: g.querySelector('rect'), text: g.querySelector('text')
      };
    });
    var reset = document.getElementById('flame-reset');
    var zoomed = null;

    function label(name, w) {
      var fits = Math.floor((w - 6) / charWidth);
      if (fits < 3) return '';
      return name.length <= fits ? name : name.slice(0, fits - 2) + '..';
    }
    function layout(x0, w0, d0) {
      var eps = 1e-9;
      nodes.forEach(function (n) {
        var visible, nx, nw, ancestor = n.d < d0;
        if (ancestor) {
          visible = n.x <= x0 + eps && n.x + n.w >= x0 + w0 - eps;
          nx = 0; nw = width;
        } else {
          visible = n.x >= x0 - eps && n.x + n.w <= x0 + w0 + eps;
          nx = (n.x - x0) / w0 * width; nw = n.w / w0 * width;
        }
        n.g.style.display = visible ? '' : 'none';
        if (!visible) return;
        n.rect.setAttribute('x', nx.toFixed(2));
        n.rect.setAttribute('width', nw.toFixed(2));
        n.text.setAttribute('x', (nx + 3).toFixed(2));
        n.text.textContent = label(n.name, nw);
        n.g.classList.toggle('dim', ancestor && d0 > 0);
      });
    }
    function zoom(n) {
      if (!n || n.d === 0 || n === zoomed) {
        zoomed = null;
        layout(0, 1, 0);
      } else {
        zoomed = n;
        layout(n.x, n.w, n.d);
      }
      if (reset) reset.disabled = zoomed === null;
    }
    nodes.forEach(function (n) {
      n.g.addEventListener('mouseenter', function (ev) { showTip(n.tip, ev); });
      n.g.addEventListener('mousemove', moveTip);
      n.g.addEventListener('mouseleave', hideTip);
      n.g.addEventListener('click', function () { zoom(n); });
    });
    if (reset) {
      reset.disabled = true;
      reset.addEventListener('click', function () { zoom(null); });
    }

    var search = document.getElementById('flame-search');
    var found = document.getElementById('flame-found');
    if (search) {
      search.addEventListener('input', function () {
        var q = search.value.trim().toLowerCase(), spans = [];
        nodes.forEach(function (n) {
          var hit = q !== '' && n.name.toLowerCase().indexOf(q) >= 0;
          n.g.classList.toggle('match', hit);
          if (hit) spans.push([n.x, n.x + n.w]);
        });
        spans.sort(function (a, b) { return a[0] - b[0]; });
        var total = 0, end = -1;
        spans.forEach(function (s) {
          if (s[0] >= end) { total += s[1] - s[0]; end = s[1]; }
          else if (s[1] > end) { total += s[1] - end; end = s[1]; }
        });
        if (found) {
          found.textContent = q === '' ? '' :
            spans.length ? 'matches ' + (100 * total).toFixed(1) + '% of live bytes' : 'no match';
        }
      });
    }
  }

  // ---- Growth charts: a guide line and readout under the pointer.
  function initChart(svg) {
    var holder = svg.querySelector('g.hover');
    var guide = svg.querySelector('.guide'), dot = svg.querySelector('.gdot');
    if (!holder || !guide || !dot) return;
    var pts = (holder.getAttribute('data-pts') || '').split(';').filter(Boolean).map(function (p) {
      var kv = p.split(':');
      return [parseFloat(kv[0]), parseFloat(kv[1])];
    });
    if (!pts.length) return;
    var a = function (k) { return parseFloat(svg.getAttribute('data-' + k)); };
    var x0 = a('x0'), x1 = a('x1'), y0 = a('y0'), y1 = a('y1'), t0 = a('t0'), t1 = a('t1'), vmax = a('vmax');
    var bytes = svg.getAttribute('data-unit') === 'bytes';
    var vb = svg.viewBox.baseVal;
    svg.addEventListener('mousemove', function (ev) {
      var r = svg.getBoundingClientRect();
      if (!r.width) return;
      var vx = (ev.clientX - r.left) / r.width * vb.width;
      var t = t0 + (vx - x0) / (x1 - x0) * (t1 - t0);
      var lo = 0, hi = pts.length - 1;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (pts[mid][0] < t) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && Math.abs(pts[lo - 1][0] - t) < Math.abs(pts[lo][0] - t)) lo--;
      var p = pts[lo];
      var px = x0 + (p[0] - t0) / (t1 - t0) * (x1 - x0);
      var py = y0 - p[1] / vmax * (y0 - y1);
      guide.setAttribute('x1', px); guide.setAttribute('x2', px);
      dot.setAttribute('cx', px); dot.setAttribute('cy', py);
      guide.style.visibility = 'visible'; dot.style.visibility = 'visible';
      showTip('t = ' + fmtTime(p[0]) + '\n' + (bytes ? fmtBytes(p[1]) : p[1] + ' objects') + ' live', ev);
    });
    svg.addEventListener('mouseleave', function () {
      guide.style.visibility = 'hidden'; dot.style.visibility = 'hidden';
      hideTip();
    });
  }

  // ---- Ranked table: expand or collapse every stack at once.
  function initTable() {
    var button = document.getElementById('expand-all');
    if (!button) return;
    button.addEventListener('click', function () {
      var all = document.querySelectorAll('#ranked details');
      var open = button.getAttribute('data-open') !== '1';
      Array.prototype.forEach.call(all, function (d) { d.open = open; });
      button.setAttribute('data-open', open ? '1' : '0');
      button.textContent = open ? 'Collapse all stacks' : 'Expand all stacks';
    });
  }

  var flame = document.getElementById('flame');
  if (flame) initFlame(flame);
  Array.prototype.forEach.call(document.querySelectorAll('svg.chart'), initChart);
  initTable();
  document.documentElement.setAttribute('data-js', 'ready');
})();
)JS";

}  // namespace leakscope::html
