/* The static attention viewer's script (lstmattn.viz.static_viewer): reads the JSON data
   block of its viewer <div> and draws the slice, the alpha-weighted RoI boxes (SVG), the
   alpha bar chart, the class probabilities and the top RoIs' mask features. @ID@ is
   replaced by the viewer's element id. Loads nothing from anywhere. */
(function () {
  var root = (document.currentScript && document.currentScript.parentNode && document.currentScript.parentNode.id === "@ID@")
    ? document.currentScript.parentNode : document.getElementById("@ID@");
  if (!root || root.getAttribute("data-ready") === "1") { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
  var $ = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
  var state = { slice: 0, branch: "positive", order: data.trainedOrder, hl: -1 };
  var esc = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
  var fmt = function (v, n) { return Number(v).toFixed(n); };
  var current = function () {
    var s = data.slices[state.slice];
    var order = s.orders[state.order] ? state.order : Object.keys(s.orders)[0];
    return { s: s, order: order, r: s.orders[order] };
  };

  var select = $("slice"), thumbs = $("thumbs");
  data.slices.forEach(function (s, i) {
    var option = document.createElement("option");
    option.value = String(i);
    option.textContent = i + ": " + s.name + (s.label ? " (" + s.label + ")" : "");
    select.appendChild(option);
    var thumb = document.createElement("img");
    thumb.src = s.image;
    thumb.alt = s.name;
    thumb.title = s.name + (s.label ? " (true class " + s.label + ")" : "");
    thumb.setAttribute("data-index", String(i));
    thumb.addEventListener("click", function () { state.slice = i; state.hl = -1; render(); });
    thumbs.appendChild(thumb);
  });
  select.addEventListener("change", function () { state.slice = Number(select.value); state.hl = -1; render(); });
  Array.prototype.forEach.call(root.querySelectorAll("button[data-branch]"), function (button) {
    button.addEventListener("click", function () { state.branch = button.getAttribute("data-branch"); render(); });
  });
  Array.prototype.forEach.call(root.querySelectorAll("button[data-order]"), function (button) {
    var order = button.getAttribute("data-order");
    button.textContent = order + (order === data.trainedOrder ? " (trained)" : " (what-if)");
    button.addEventListener("click", function () { state.order = order; state.hl = -1; render(); });
  });

  function drawBoxes(c) {
    var s = c.s, r = c.r, alpha = r.alpha[state.branch], colour = data.colours[state.branch];
    var peak = Math.max.apply(null, alpha) || 1, side = Math.max(s.width, s.height);
    var svg = $("boxes");
    svg.setAttribute("viewBox", "0 0 " + s.width + " " + s.height);
    var positions = alpha.map(function (_, k) { return k; }).sort(function (a, b) { return alpha[a] - alpha[b]; });
    var parts = [];
    positions.forEach(function (k) {
      var b = r.boxes[k], w = alpha[k] / peak;
      if (b[2] <= b[0] || b[3] <= b[1]) { return; }
      parts.push('<rect data-k="' + k + '" x="' + b[0] + '" y="' + b[1] + '" width="' + (b[2] - b[0]) + '" height="' + (b[3] - b[1]) +
        '" fill="none" stroke="' + colour + '" stroke-opacity="' + fmt(Math.max(0.1, w), 3) + '" stroke-width="' + fmt(0.5 + 3.5 * w, 2) +
        '" vector-effect="non-scaling-stroke"><title>RoI ' + k + ": α=" + fmt(alpha[k], 4) + ", " + esc(r.labels[k]) +
        " (score " + fmt(r.scores[k], 3) + ")</title></rect>");
    });
    var font = side / 18;
    r.top[state.branch].forEach(function (t, rank) {
      var b = r.boxes[t.pos];
      parts.push('<text x="' + (b[0] + font * 0.2) + '" y="' + (b[1] + font) + '" font-size="' + fmt(font, 1) +
        '" font-weight="bold" fill="' + colour + '" stroke="#000" stroke-width="' + fmt(font / 8, 2) + '" paint-order="stroke">' + (rank + 1) + "</text>");
    });
    if (state.hl >= 0) {
      var b = r.boxes[state.hl];
      parts.push('<rect x="' + b[0] + '" y="' + b[1] + '" width="' + (b[2] - b[0]) + '" height="' + (b[3] - b[1]) +
        '" fill="#ffffff" fill-opacity="0.15" stroke="#ffffff" stroke-width="2" stroke-dasharray="4 3" vector-effect="non-scaling-stroke"></rect>');
    }
    svg.innerHTML = parts.join("");
  }

  function drawBars(c) {
    var r = c.r, alpha = r.alpha[state.branch], colour = data.colours[state.branch], beta = alpha.length;
    var W = 480, H = 230, left = 46, right = 10, top = 26, bottom = 40;
    var plotW = W - left - right, plotH = H - top - bottom;
    var ymax = Math.max(Math.max.apply(null, alpha), 1 / beta) * 1.15;
    var step = plotW / beta, bw = Math.max(1, step * 0.8);
    var y = function (v) { return top + plotH * (1 - v / ymax); };
    var topSet = {};
    r.top[state.branch].forEach(function (t, rank) { topSet[t.pos] = rank + 1; });
    var parts = ['<rect x="0" y="0" width="' + W + '" height="' + H + '" fill="#ffffff"></rect>'];
    parts.push('<text x="' + (W / 2) + '" y="16" text-anchor="middle" font-size="13">' + esc(state.branch) + " branch (x_" +
      esc(state.branch.slice(0, 3).toUpperCase()) + "): α over β = " + beta + " RoIs</text>");
    for (var tick = 0; tick <= 4; tick++) {
      var v = ymax * tick / 4;
      parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + fmt(y(v), 1) + '" y2="' + fmt(y(v), 1) + '" stroke="#eee"></line>');
      parts.push('<text x="' + (left - 4) + '" y="' + fmt(y(v) + 4, 1) + '" text-anchor="end" font-size="10">' + fmt(v, 3) + "</text>");
    }
    alpha.forEach(function (a, k) {
      var x = left + k * step + (step - bw) / 2, rank = topSet[k];
      parts.push('<rect class="lsa-bar" data-k="' + k + '" data-alpha="' + a + '" x="' + fmt(x, 2) + '" y="' + fmt(y(a), 2) + '" width="' + fmt(bw, 2) +
        '" height="' + fmt(top + plotH - y(a), 2) + '" fill="' + colour + '"' + (rank ? ' stroke="#000" stroke-width="1.5"' : "") +
        (k === state.hl ? ' fill-opacity="0.6"' : "") + "><title>RoI " + k + ": α=" + fmt(a, 4) + ", " + esc(r.labels[k]) +
        " (score " + fmt(r.scores[k], 3) + ")</title></rect>");
      if (rank) {
        parts.push('<text x="' + fmt(x + bw / 2, 2) + '" y="' + fmt(y(a) - 3, 2) + '" text-anchor="middle" font-size="10">' + rank + "</text>");
      }
      if (beta <= 24 || k % 4 === 0) {
        parts.push('<text x="' + fmt(x + bw / 2, 2) + '" y="' + (top + plotH + 13) + '" text-anchor="middle" font-size="10">' + k + "</text>");
      }
    });
    parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + fmt(y(1 / beta), 2) + '" y2="' + fmt(y(1 / beta), 2) +
      '" stroke="#666" stroke-dasharray="5 4"><title>uniform 1/β</title></line>');
    parts.push('<text x="' + (left + 3) + '" y="' + fmt(y(1 / beta) - 4, 2) + '" font-size="10" fill="#666">uniform 1/β</text>');
    parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + (top + plotH) + '" y2="' + (top + plotH) + '" stroke="#333"></line>');
    parts.push('<text x="' + (left + plotW / 2) + '" y="' + (H - 6) + '" text-anchor="middle" font-size="11">position in the RoI sequence (' +
      esc(c.order) + " order)</text>");
    var bars = $("bars");
    bars.setAttribute("viewBox", "0 0 " + W + " " + H);
    bars.innerHTML = parts.join("");
  }

  function drawProbs(c) {
    var s = c.s, r = c.r, rows = "";
    data.classNames.forEach(function (name, k) {
      var p = r.probs[k];
      rows += '<tr style="font-weight:' + (k === r.predicted ? "bold" : "normal") + '"><td>' + esc(name) + '</td><td>' + fmt(p, 3) +
        '</td><td><div class="lsa-pbar" style="width:' + Math.round(100 * p) + 'px"></div></td></tr>';
    });
    $("probs").innerHTML = "<div>" + (s.label ? "true class: <b>" + esc(s.label) + "</b> · " : "") + "predicted: <b>" +
      esc(data.classNames[r.predicted]) + "</b></div><table><tr><th>class</th><th>σ(Δ)</th><th></th></tr>" + rows + "</table>" +
      '<div class="lsa-small">σ(Δ) per class (Eq. 9, multilabel: need not sum to 1). Detected lesions: ' + s.lesions.GGO +
      " GGO, " + s.lesions.consolidation + " consolidation. RoIs before padding to β: " + r.numDistinct + ".</div>";
  }

  function drawFeatures(c) {
    var s = c.s, r = c.r, box = $("features");
    box.innerHTML = "";
    r.top[state.branch].forEach(function (t, rank) {
      var figure = document.createElement("figure"), img = document.createElement("img"), caption = document.createElement("figcaption");
      img.src = s.features[t.feature];
      img.alt = "mask features of RoI " + t.pos;
      caption.textContent = "#" + (rank + 1) + ": RoI " + t.pos + ", α=" + fmt(t.alpha, 3) + ", " + r.labels[t.pos];
      figure.appendChild(img);
      figure.appendChild(caption);
      figure.addEventListener("mouseenter", function () { state.hl = t.pos; drawBoxes(c); });
      figure.addEventListener("mouseleave", function () { state.hl = -1; drawBoxes(c); });
      box.appendChild(figure);
    });
  }

  $("bars").addEventListener("mouseover", function (event) {
    var k = event.target.getAttribute && event.target.getAttribute("data-k");
    if (k !== null && k !== undefined) { state.hl = Number(k); drawBoxes(current()); }
  });
  $("bars").addEventListener("mouseleave", function () { state.hl = -1; drawBoxes(current()); });

  function render() {
    var c = current();
    state.order = c.order;
    select.value = String(state.slice);
    Array.prototype.forEach.call(thumbs.children, function (thumb, i) { thumb.className = i === state.slice ? "lsa-current" : ""; });
    Array.prototype.forEach.call(root.querySelectorAll("button[data-branch]"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-branch") === state.branch));
    });
    Array.prototype.forEach.call(root.querySelectorAll("button[data-order]"), function (button) {
      var order = button.getAttribute("data-order");
      button.setAttribute("aria-pressed", String(order === c.order));
      button.disabled = !c.s.orders[order];
    });
    var image = $("image");
    image.src = c.s.image;
    image.alt = "CT slice " + c.s.name;
    image.width = Math.round(c.s.width * data.displaySize / Math.max(c.s.width, c.s.height));
    image.height = Math.round(c.s.height * data.displaySize / Math.max(c.s.width, c.s.height));
    var note = $("note");
    note.textContent = c.r.note;
    note.className = "lsa-small" + (c.r.whatIf ? " lsa-whatif" : "");
    drawBoxes(c);
    drawBars(c);
    drawProbs(c);
    drawFeatures(c);
  }
  render();
})();
