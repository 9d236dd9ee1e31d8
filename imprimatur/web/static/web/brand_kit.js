// The brand kit page: a live preview of the palette and a colour picker that adds to it, and
// a confirmation before removing a reference image. A static file, not an inline script: the
// Content-Security-Policy allows scripts from this origin only (settings.py).
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
(function () {
  var preview = document.getElementById("palette-preview");
  var area = preview && document.getElementById(preview.dataset.paletteInput);
  var picker = document.getElementById("palette-picker");
  var add = document.getElementById("palette-add");
  if (!area || !preview) return;
  var hex = /^#?[0-9a-fA-F]{6}$/;
  function render() {
    preview.textContent = "";
    var lines = area.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean);
    if (!lines.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No colours yet.";
      preview.appendChild(none);
    }
    lines.forEach(function (line) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      var code = document.createElement("code");
      code.textContent = line;
      if (hex.test(line)) {
        swatch.className = "swatch";
        swatch.style.background = line.charAt(0) === "#" ? line : "#" + line;
      } else {
        swatch.className = "swatch swatch-invalid";
        swatch.title = "Not a colour";
        item.className = "invalid";
      }
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(code);
      preview.appendChild(item);
    });
  }
  area.addEventListener("input", render);
  add.hidden = false;
  document.getElementById("palette-add-button").addEventListener("click", function () {
    var value = picker.value.toUpperCase();
    area.value = area.value.replace(/\s*$/, "") + (area.value.trim() ? "\n" : "") + value;
    render();
  });
  render();
})();
