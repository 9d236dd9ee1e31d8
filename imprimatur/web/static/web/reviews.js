// Keyboard shortcuts of the review pages. Without JavaScript every action is a plain link
// or button; these only save reaching for the mouse. Keys typed into a field are ignored.
(function () {
  "use strict";
  function typing(event) {
    var tag = event.target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable;
  }
  var form = document.getElementById("decision-form");
  var list = document.querySelector("[data-keyboard-list]");
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && form) {
      if (typing(event)) { event.target.blur(); return; }
      window.location.href = form.dataset.queueUrl;
      return;
    }
    if (typing(event)) return;
    if (form && event.key === "a") {
      event.preventDefault();
      form.querySelector('button[value="approve"]').click();
    } else if (form && (event.key === "r" || event.key === "c")) {
      event.preventDefault();
      var comment = form.querySelector("textarea[name=comment]");
      if (comment && !comment.value.trim()) { comment.focus(); return; }
      form.querySelector(event.key === "r" ? 'button[value="reject"]' : 'button[value="changes"]').click();
    } else if (list && event.key === "x" && document.activeElement) {
      var row = document.activeElement.closest("tr");
      var box = row && row.querySelector("input[type=checkbox]");
      if (box) { event.preventDefault(); box.checked = !box.checked; }
    } else if (list && (event.key === "j" || event.key === "k")) {
      event.preventDefault();
      var links = Array.prototype.slice.call(list.querySelectorAll("tbody a:not([data-lightbox-src])"));
      if (!links.length) return;
      var index = links.indexOf(document.activeElement);
      index = event.key === "j" ? Math.min(index + 1, links.length - 1) : Math.max(index - 1, 0);
      links[index].focus();
    }
  });
  // "Select all": every task the page shows with its preview (the others have no box).
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var boxes = all.form.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]');
    if (!boxes.length) return;
    all.hidden = false;
    function sync() {
      var checked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
      all.checked = checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) { box.addEventListener("change", sync); });
  });
  // A filter that applies as soon as it changes (the queue's project filter).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
