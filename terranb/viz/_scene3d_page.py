"""The HTML page and JavaScript of the 3D viewer (three.js inlined, no network).

:func:`page_shell` returns the document with everything but the scene data; the
scene's JSON replaces ``__DATA__`` (see :class:`terranb.viz.scene3d.Scene3D`).
"""

from __future__ import annotations

import html as html_mod

import terranb.viz._assets as _assets

__all__ = ["page_shell"]


def page_shell(title: str, background: str) -> str:
    """The viewer page with ``__DATA__`` left for the scene JSON."""
    return (_TEMPLATE.replace("__TITLE__", html_mod.escape(title or "terranb 3D view"))
            .replace("__BG__", html_mod.escape(background))
            .replace("__VIEWER_JS__", _VIEWER_JS).replace("__THREE__", _assets.three_js()))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>__TITLE__</title>
<style>
html,body{margin:0;height:100%;overflow:hidden;background:__BG__;
  font:12px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;color:#e8e8e8}
#c{display:block;width:100%;height:100%;touch-action:none;cursor:grab;outline:none}
#hud{position:absolute;left:8px;top:6px;background:rgba(0,0,0,.5);padding:4px 8px;
  border-radius:4px;max-width:70%;user-select:none}
#hud label{display:block;white-space:nowrap}
#hud small{color:#aaa}
#hud button{margin-top:3px;font-size:11px}
#hud .bar{height:8px;width:160px;margin:2px 0 0 22px;border-radius:2px}
#hud .lg{margin-left:22px;color:#ccc}
#hud .sw{display:inline-block;width:9px;height:9px;margin-right:4px;border-radius:2px}
#msg{position:absolute;inset:0;display:none;align-items:center;justify-content:center;
  text-align:center;padding:2em}
</style></head><body>
<canvas id="c" tabindex="0"></canvas>
<div id="hud"><b>__TITLE__</b><div id="layers"></div>
<small>drag: rotate &middot; right-drag/shift: pan &middot; wheel: zoom
&middot; double-click: reset</small><br>
<button id="reset" type="button">reset view</button></div>
<div id="msg"></div>
<script>__THREE__</script>
<script type="application/json" id="terranb-data">__DATA__</script>
<script>__VIEWER_JS__</script>
</body></html>
"""

# The viewer: decode the typed arrays, build three.js objects, and a small orbit
# control (z up; drag rotates, right-drag or shift-drag pans, wheel zooms,
# double-click resets). It renders on demand only, so idle notebooks stay idle.
_VIEWER_JS = r"""
(function () {
"use strict";
var state = window.terranbViewer = {ready: false, frames: 0, pending: 0, error: null};
function fail(m) {
  var e = document.getElementById("msg"); e.style.display = "flex"; e.textContent = m;
  state.error = m;
}
function bytes(s) {
  var bin = atob(s), n = bin.length, u = new Uint8Array(n);
  for (var i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
  return u.buffer;
}
var D = JSON.parse(document.getElementById("terranb-data").textContent);
if (typeof THREE === "undefined") { fail("three.js did not load"); return; }
// Colours in the data are display (sRGB) values already: draw them as given.
THREE.ColorManagement.enabled = false;
var canvas = document.getElementById("c"), renderer;
try {
  renderer = new THREE.WebGLRenderer({canvas: canvas, antialias: true});
} catch (err) {
  fail("WebGL is not available here (" + err.message + "). " +
       "Scene3D.to_png() gives a static picture.");
  return;
}
renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
renderer.setClearColor(new THREE.Color(D.background));
var scene = new THREE.Scene();
var camera = new THREE.PerspectiveCamera(45, 1, 0.01, 10);
camera.up.set(0, 0, 1);
scene.add(new THREE.AmbientLight(0xffffff, 1.1));
var head = new THREE.DirectionalLight(0xffffff, 2.0);
head.position.set(0.3, 0.4, 1.0);
camera.add(head);
scene.add(camera);
var request;
var list = document.getElementById("layers");
D.layers.forEach(function (L) {
  var g = new THREE.BufferGeometry(), obj, mat;
  g.setAttribute("position", new THREE.BufferAttribute(new Uint16Array(bytes(L.pos)), 3, true));
  if (L.col) {
    g.setAttribute("color", new THREE.BufferAttribute(new Uint8Array(bytes(L.col)), 3, true));
  }
  if (L.kind === "points") {
    mat = new THREE.PointsMaterial({size: L.size, sizeAttenuation: false,
      vertexColors: !!L.col, color: L.col ? 0xffffff : 0xcccccc});
    obj = new THREE.Points(g, mat);
  } else {
    var idx = L.idx32 ? new Uint32Array(bytes(L.idx)) : new Uint16Array(bytes(L.idx));
    g.setIndex(new THREE.BufferAttribute(idx, 1));
    if (L.uv && L.tex) {
      g.setAttribute("uv", new THREE.BufferAttribute(new Uint16Array(bytes(L.uv)), 2, true));
      var tex = new THREE.Texture();
      tex.repeat.set(L.uvScale[0], L.uvScale[1]);
      tex.offset.set(L.uvOffset[0], L.uvOffset[1]);
      tex.wrapS = tex.wrapT = THREE.RepeatWrapping;
      tex.anisotropy = renderer.capabilities.getMaxAnisotropy();
      var img = new Image();
      state.pending++;
      img.onload = function () {
        tex.image = img; tex.needsUpdate = true; state.pending--; request();
      };
      img.onerror = function () {
        state.pending--; fail("texture of " + L.name + " did not decode");
      };
      img.src = L.tex;
      mat = new THREE.MeshBasicMaterial({map: tex, side: THREE.DoubleSide});
    } else {
      g.computeVertexNormals();
      mat = new THREE.MeshLambertMaterial({vertexColors: !!L.col,
        color: L.col ? 0xffffff : 0xc8c8c8, side: THREE.DoubleSide});
    }
    obj = new THREE.Mesh(g, mat);
  }
  obj.scale.set(L.scale[0], L.scale[1], L.scale[2]);
  obj.position.set(L.offset[0], L.offset[1], L.offset[2]);
  scene.add(obj);
  var row = document.createElement("label"), box = document.createElement("input");
  box.type = "checkbox"; box.checked = true;
  box.onchange = function () { obj.visible = box.checked; request(); };
  row.appendChild(box);
  var what = L.kind === "points" ? " points" : " faces";
  var note = L.count < L.source ? " of " + L.source.toLocaleString() : "";
  var text = " " + L.name + ": " + L.count.toLocaleString() + note + what;
  row.appendChild(document.createTextNode(text));
  list.appendChild(row);
  legend(L.legend);
});

function legend(lg) {
  if (!lg) return;
  if (lg.ramp) {
    var bar = document.createElement("div");
    bar.className = "bar"; bar.style.background = lg.ramp;
    var txt = document.createElement("div");
    txt.className = "lg"; txt.textContent = "z " + lg.min + " \u2026 " + lg.max;
    list.appendChild(bar); list.appendChild(txt);
  }
  (lg.classes || []).forEach(function (c) {
    var d = document.createElement("div"), sw = document.createElement("span");
    d.className = "lg"; sw.className = "sw"; sw.style.background = c[2];
    d.appendChild(sw);
    d.appendChild(document.createTextNode(c[0] + " " + c[1] + " (" + c[3].toLocaleString() + ")"));
    list.appendChild(d);
  });
}

var R = D.radius, target = new THREE.Vector3(), view = {};
function reset() {
  target.set(0, 0, 0);
  view.az = D.azimuth * Math.PI / 180; view.el = D.elevation * Math.PI / 180;
  var aspect = Math.max(canvas.clientWidth, 1) / Math.max(canvas.clientHeight, 1);
  var half = Math.atan(Math.tan(camera.fov * Math.PI / 360) * Math.min(1, aspect));
  view.r = 1.05 * R / Math.sin(half);
}
function place() {
  var ce = Math.cos(view.el);
  camera.position.set(target.x + view.r * Math.sin(view.az) * ce,
                      target.y + view.r * Math.cos(view.az) * ce,
                      target.z + view.r * Math.sin(view.el));
  camera.near = Math.max(view.r / 1000, R / 1e5);
  camera.far = view.r + 4 * R;
  camera.lookAt(target);
  camera.updateProjectionMatrix();
}
var queued = false;
function draw() {
  queued = false;
  var w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) ||
      canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
    renderer.setSize(w, h, false);
  }
  camera.aspect = Math.max(w, 1) / Math.max(h, 1);
  place();
  renderer.render(scene, camera);
  state.frames++;
  state.ready = state.pending === 0;
}
request = function () { if (!queued) { queued = true; requestAnimationFrame(draw); } };

// Orbit control.
var pointers = {}, last = null, pinch = 0;
function panBy(dx, dy) {
  var k = 2 * view.r * Math.tan(camera.fov * Math.PI / 360) / Math.max(canvas.clientHeight, 1);
  var right = new THREE.Vector3().setFromMatrixColumn(camera.matrix, 0);
  var up = new THREE.Vector3().setFromMatrixColumn(camera.matrix, 1);
  target.addScaledVector(right, -dx * k).addScaledVector(up, dy * k);
}
canvas.addEventListener("pointerdown", function (e) {
  canvas.setPointerCapture(e.pointerId);
  pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
  last = {x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey || e.ctrlKey};
  canvas.style.cursor = "grabbing";
});
canvas.addEventListener("pointermove", function (e) {
  if (!pointers[e.pointerId] || !last) return;
  pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
  var ids = Object.keys(pointers);
  if (ids.length === 2) {
    var a = pointers[ids[0]], b = pointers[ids[1]];
    var d = Math.hypot(a.x - b.x, a.y - b.y);
    if (pinch) view.r *= pinch / Math.max(d, 1);
    pinch = d; request(); return;
  }
  var dx = e.clientX - last.x, dy = e.clientY - last.y;
  last.x = e.clientX; last.y = e.clientY;
  if (last.pan) { panBy(dx, dy); } else {
    view.az -= dx * 0.008;
    view.el = Math.min(1.55, Math.max(-1.4, view.el + dy * 0.008));
  }
  request();
});
function up(e) {
  delete pointers[e.pointerId]; pinch = 0;
  if (!Object.keys(pointers).length) { last = null; canvas.style.cursor = "grab"; }
}
canvas.addEventListener("pointerup", up);
canvas.addEventListener("pointercancel", up);
canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
canvas.addEventListener("wheel", function (e) {
  e.preventDefault();
  view.r = Math.min(50 * R, Math.max(R / 1000, view.r * Math.exp(e.deltaY * 0.0015)));
  request();
}, {passive: false});
canvas.addEventListener("dblclick", function () { reset(); request(); });
document.getElementById("reset").onclick = function () { reset(); request(); };
window.addEventListener("resize", request);
reset();
request();
})();
"""
