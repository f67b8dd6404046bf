"""Style and script of ``viewer.html`` (inlined into the page; plotly.js comes before it)."""

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:.6em 1.2em;
color:#222}
header h1{font-size:1.2em;margin:.2em 0}#seq{font-weight:600;margin:.2em 0}
.hint{color:#666;font-size:.85em;margin:.2em 0}
main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.8em 1.2em}
#left,#right{min-width:0}#bottom{grid-column:1/-1}
#map{height:72vh;min-height:420px}#pattern{height:48vh;min-height:320px}#lattice{height:78vh;min-height:560px}
#pattern-title{font-size:1em;margin:.2em 0}
table{border-collapse:collapse;font-size:.82em;margin-top:.4em}
th,td{border:1px solid #ccc;padding:.15em .45em;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}td.ph{text-align:left;font-weight:700}
"""

SCRIPT = r"""
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('phasetrace-data').textContent);
  function f32(s) {
    if (!s) return null;
    var bin = atob(s), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return Array.from(new Float32Array(bytes.buffer));
  }
  function fin(v) { return v !== null && v !== undefined && isFinite(v); }
  function nanToNull(a) { return a.map(function (v) { return fin(v) ? v : null; }); }
  var scans = D.scan_numbers, n = scans.length;
  var axisVals = f32(D.axis.values);
  var rwp = f32(D.rwp), gof = f32(D.gof);
  var side = D.side.map(function (s) { return {label: s.label, name: s.name, v: f32(s.values)}; });
  if (!side.length && D.axis.used !== 'scan') side.push({label: D.axis.label, name: 'axis', v: axisVals});
  var phases = D.phases.map(function (p) {
    var o = {label: p.label, color: p.color, cell: p.cell_component};
    Object.keys(p).forEach(function (k) {
      if (['label', 'color', 'cell_component'].indexOf(k) < 0) o[k] = f32(p[k]);
    });
    return o;
  });
  var P = D.patterns, tt = f32(P.two_theta), m = P.n_points;
  var obsAll = f32(P.obs), calcAll = f32(P.calc), bgAll = f32(P.background);
  function row(a, j) { return a ? a.slice(j * m, (j + 1) * m) : null; }
  var pickOf = {};
  P.picks.forEach(function (pos, j) { pickOf[pos] = j; });
  function nearestPick(pos) {
    var best = 0, d = Infinity;
    P.picks.forEach(function (p, j) { if (Math.abs(p - pos) < d) { d = Math.abs(p - pos); best = j; } });
    return best;
  }
  function posOfScan(s) {
    var best = 0, d = Infinity;
    for (var i = 0; i < n; i++) { var e = Math.abs(scans[i] - s); if (e < d) { d = e; best = i; } }
    return best;
  }
  function posOfAxis(x) {
    var best = 0, d = Infinity;
    for (var i = 0; i < n; i++) {
      if (!fin(axisVals[i])) continue;
      var e = Math.abs(axisVals[i] - x); if (e < d) { d = e; best = i; }
    }
    return best;
  }

  // ---- map + side curves, shared y = scan number ----
  var M = D.map, mtt = f32(M.two_theta), zf = f32(M.z), z = [];
  for (var r = 0; r < M.shape[0]; r++) z.push(nanToNull(zf.slice(r * M.shape[1], (r + 1) * M.shape[1])));
  var mapY = M.rows.map(function (i) { return scans[i]; });
  var nside = side.length, mapW = nside ? 0.64 : 1.0;
  var mapTraces = [{type: 'heatmap', x: mtt, y: mapY, z: z, colorscale: 'Viridis', zmin: 0, zmax: M.zmax,
    colorbar: {title: {text: '√I'}, x: 1.01, len: 0.6, thickness: 12}, hovertemplate: '2θ %{x:.3f}°<br>scan %{y}<extra></extra>'}];
  var mapLayout = {margin: {l: 60, r: 60, t: 30, b: 45}, showlegend: false, hovermode: 'closest',
    xaxis: {title: {text: '2θ (°, λ = ' + (fin(D.wavelength_A) ? D.wavelength_A.toPrecision(5) : '?') + ' Å)'},
            domain: [0, mapW]},
    yaxis: {title: {text: 'Scan number'}}, shapes: []};
  side.forEach(function (s, k) {
    var w = (1 - mapW - 0.02) / nside, a = mapW + 0.02 + k * w;
    var ax = 'x' + (k + 2);
    mapTraces.push({type: 'scatter', mode: 'lines+markers', x: nanToNull(s.v), y: scans, xaxis: ax, yaxis: 'y',
      marker: {size: 3, color: '#222'}, line: {width: 1, color: '#222'}, name: s.label,
      hovertemplate: s.label + ' %{x:.4g}<br>scan %{y}<extra></extra>'});
    mapLayout['xaxis' + (k + 2)] = {domain: [a + 0.01, a + w], title: {text: s.label}, nticks: 4};
  });
  (D.transitions || []).forEach(function (t) {
    if (!fin(t.first_scan)) return;
    mapLayout.shapes.push({type: 'rect', xref: 'paper', yref: 'y', x0: mapW, x1: 1,
      y0: t.first_scan - 0.5, y1: t.last_scan + 0.5, fillcolor: '#ccc', opacity: 0.5, line: {width: 0}});
  });
  var nBase = mapLayout.shapes.length;
  Plotly.newPlot('map', mapTraces, mapLayout, {responsive: true, displaylogo: false});

  // ---- lattice, volume, fractions and R_wp on one shared x axis ----
  var rows = D.panels;
  var latTraces = [], latLayout = {margin: {l: 70, r: 20, t: 20, b: 45}, hovermode: 'closest',
    legend: {orientation: 'h', y: 1.04}, shapes: []};
  var nrow = rows.length + 1, gap = 0.02, h = (1 - gap * (nrow - 1)) / nrow;
  function dom(k) { var top = 1 - k * (h + gap); return [top - h, top]; }
  var seen = {};
  rows.forEach(function (rw, k) {
    var ya = k ? 'y' + (k + 1) : 'y';
    latLayout[k ? 'yaxis' + (k + 1) : 'yaxis'] = {domain: dom(k), title: {text: rw.label, font: {size: 10}}};
    rw.series.forEach(function (sr) {
      var v = f32(sr.values), esd = f32(sr.esd);
      latTraces.push({type: 'scatter', mode: 'lines+markers', x: nanToNull(axisVals), y: nanToNull(v),
        yaxis: ya, xaxis: 'x', name: sr.phase, legendgroup: sr.phase, showlegend: !seen[sr.phase],
        marker: {size: 4, color: sr.color}, line: {width: 1, color: sr.color, dash: sr.dash},
        error_y: esd ? {type: 'data', array: nanToNull(esd), visible: true, thickness: 0.8, width: 0} : undefined,
        customdata: scans, hovertemplate: sr.name + ' %{y:.5g}<br>scan %{customdata}<extra></extra>'});
      seen[sr.phase] = true;
    });
  });
  var kq = rows.length, yq = kq ? 'y' + (kq + 1) : 'y';
  latLayout[kq ? 'yaxis' + (kq + 1) : 'yaxis'] = {domain: dom(kq), title: {text: 'R_wp (%)', font: {size: 11}}, rangemode: 'tozero'};
  latTraces.push({type: 'scatter', mode: 'lines+markers', x: nanToNull(axisVals), y: nanToNull(rwp), yaxis: yq,
    name: 'R_wp', marker: {size: 3, color: '#333'}, line: {width: 1, color: '#333'}, customdata: scans,
    hovertemplate: 'R_wp %{y:.1f} %<br>scan %{customdata}<extra></extra>'});
  latLayout.xaxis = {title: {text: D.axis.label}, anchor: yq};
  (D.transitions || []).forEach(function (t) {
    if (!fin(t.first_scan)) return;
    var a = axisVals[posOfScan(t.first_scan)], b = axisVals[posOfScan(t.last_scan)];
    if (fin(a) && fin(b)) latLayout.shapes.push({type: 'rect', xref: 'x', yref: 'paper', x0: Math.min(a, b),
      x1: Math.max(a, b), y0: 0, y1: 1, fillcolor: '#ccc', opacity: 0.35, line: {width: 0}, layer: 'below'});
  });
  var latBase = latLayout.shapes.length;
  Plotly.newPlot('lattice', latTraces, latLayout, {responsive: true, displaylogo: false});

  // ---- pattern of one scan ----
  function fmt(v, d) { return fin(v) ? v.toFixed(d) : '—'; }
  function describe(pos) {
    var parts = ['Scan ' + scans[pos]];
    side.forEach(function (s) { if (fin(s.v[pos])) parts.push(s.label.split(' (')[0] + ' ' + s.v[pos].toPrecision(4)); });
    if (fin(rwp[pos])) parts.push('R_wp ' + rwp[pos].toFixed(1) + ' %');
    if (fin(gof[pos])) parts.push('GoF ' + gof[pos].toFixed(2));
    return parts.join(' · ');
  }
  function cellsTable(pos) {
    var head = '<tr><th>phase</th><th>fraction</th><th>a</th><th>b</th><th>c</th><th>α</th><th>β</th><th>γ</th><th>V/f.u.</th></tr>';
    var body = '';
    phases.forEach(function (p) {
      if (!p.a || !fin(p.a[pos])) return;
      var c = function (k, d) { return p[k] ? fmt(p[k][pos], d) : '—'; };
      body += '<tr><td class=ph style="color:' + p.color + '">' + p.label + '</td><td>' + c('fraction', 3) +
        '</td><td>' + c('a', 4) + '</td><td>' + c('b', 4) + '</td><td>' + c('c', 4) + '</td><td>' +
        c('alpha', 2) + '</td><td>' + c('beta', 2) + '</td><td>' + c('gamma', 2) + '</td><td>' +
        c('volume_per_fu', 2) + '</td></tr>';
    });
    return body ? '<table>' + head + body + '</table>' : '<p class=hint>No phase in this scan.</p>';
  }
  var current = -1, pinned = false;
  function show(pos) {
    if (pos === current) return;
    current = pos;
    var j = (pos in pickOf) ? pickOf[pos] : nearestPick(pos);
    var shown = P.picks[j], o = row(obsAll, j), c = row(calcAll, j), b = row(bgAll, j);
    var traces = [{type: 'scatter', mode: 'markers', x: tt, y: nanToNull(o), name: 'observed',
      marker: {size: 3, color: '#777'}}];
    var lo = Math.min.apply(null, o.filter(fin)), hi = Math.max.apply(null, o.filter(fin));
    if (b) traces.push({type: 'scatter', mode: 'lines', x: tt, y: nanToNull(b), name: 'background',
      line: {width: 1, dash: 'dash', color: '#999'}});
    if (c) {
      traces.push({type: 'scatter', mode: 'lines', x: tt, y: nanToNull(c), name: 'calculated', line: {width: 1.2, color: '#D55E00'}});
      var diff = o.map(function (v, i) { return fin(v) && fin(c[i]) ? v - c[i] : null; });
      var dmax = Math.max.apply(null, diff.filter(fin)), base = lo - 0.1 * hi - dmax;
      traces.push({type: 'scatter', mode: 'lines', x: tt, y: diff.map(function (v) { return v === null ? null : v + base; }),
        name: 'obs − calc', line: {width: 1, color: '#333'}});
    }
    var tick = D.ticks[j] || {}, names = Object.keys(tick);
    names.forEach(function (label, k) {
      var ph = phases.filter(function (p) { return p.label === label; })[0], xs = [], ys = [];
      tick[label].forEach(function (t) { xs.push(t, t, null); ys.push(-k - 0.9, -k - 0.1, null); });
      traces.push({type: 'scatter', mode: 'lines', x: xs, y: ys, yaxis: 'y2', name: label + ' ticks',
        line: {width: 1, color: ph ? ph.color : '#444'}, hoverinfo: 'skip'});
    });
    var title = describe(shown);
    var layout = {margin: {l: 60, r: 10, t: 30, b: 45},
      xaxis: {title: {text: '2θ (°)'}, anchor: 'y2'}, legend: {orientation: 'h', y: 1.08},
      yaxis: {domain: [0.22, 1], title: {text: 'Intensity'}},
      yaxis2: {domain: [0, 0.18], range: [-Math.max(1, names.length), 0], showticklabels: true,
               tickvals: names.map(function (_, k) { return -k - 0.5; }), ticktext: names, zeroline: false}};
    Plotly.react('pattern', traces, layout, {responsive: true, displaylogo: false});
    document.getElementById('pattern-title').textContent = title;
    document.getElementById('cells').innerHTML = cellsTable(shown);
    var mapShapes = (mapLayout.shapes.slice(0, nBase)).concat([{type: 'line', xref: 'paper', yref: 'y',
      x0: 0, x1: 1, y0: scans[shown], y1: scans[shown], line: {color: '#ff4040', width: 1.5}}]);
    Plotly.relayout('map', {shapes: mapShapes});
    if (fin(axisVals[shown])) Plotly.relayout('lattice', {shapes: latLayout.shapes.slice(0, latBase).concat(
      [{type: 'line', xref: 'x', yref: 'paper', x0: axisVals[shown], x1: axisVals[shown], y0: 0, y1: 1,
        line: {color: '#ff4040', width: 1}}])});
    window.phasetraceViewer.current = scans[shown];
  }
  window.phasetraceViewer = {show: function (scanNumber) { show(posOfScan(scanNumber)); }, current: null,
                             n_scans: n};
  function fromMap(ev) { var p = ev.points && ev.points[0]; return p ? posOfScan(p.y) : -1; }
  function fromLattice(ev) {
    var p = ev.points && ev.points[0];
    if (!p) return -1;
    return (p.customdata !== undefined) ? posOfScan(p.customdata) : posOfAxis(p.x);
  }
  var mapDiv = document.getElementById('map'), latDiv = document.getElementById('lattice');
  mapDiv.on('plotly_hover', function (ev) { if (!pinned) { var k = fromMap(ev); if (k >= 0) show(k); } });
  mapDiv.on('plotly_click', function (ev) { var k = fromMap(ev); if (k >= 0) { pinned = true; current = -1; show(k); } });
  latDiv.on('plotly_hover', function (ev) { if (!pinned) { var k = fromLattice(ev); if (k >= 0) show(k); } });
  latDiv.on('plotly_click', function (ev) { var k = fromLattice(ev); if (k >= 0) { pinned = true; current = -1; show(k); } });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') pinned = false; });
  var th = D.thinned, note = [];
  if (th.map_scans > 1 || th.map_points > 1) note.push('the map shows 1 in ' + th.map_scans + ' scans and 1 in ' + th.map_points + ' points');
  if (th.pattern_scans > 1 || th.pattern_points > 1) note.push('patterns: 1 in ' + th.pattern_scans + ' scans, 1 in ' + th.pattern_points + ' points');
  document.getElementById('note').textContent = note.length ? 'Thinned for the page: ' + note.join('; ') + '.' : '';
  show(0);
  document.body.setAttribute('data-ready', '1');
})();
"""
