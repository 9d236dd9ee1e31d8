// The page shell at phone width: the navigation folds behind a menu button, and a table
// wider than its card scrolls inside it (keyboard users can focus it to scroll). Without
// JavaScript the navigation simply wraps and every link stays visible.
(function () {
  "use strict";
  var bar = document.querySelector(".topbar");
  var button = bar && bar.querySelector(".menu-button");
  if (button) {
    bar.classList.add("has-menu-button");
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      bar.classList.toggle("menu-open", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("menu-open")) {
        button.setAttribute("aria-expanded", "false");
        bar.classList.remove("menu-open");
        button.focus();
      }
    });
  }
  // A table wider than the screen scrolls sideways inside its own frame, not the page, and
  // the frame can be reached with the keyboard while it overflows (focusable then).
  function frameTables(root) {
    root.querySelectorAll("main table").forEach(function (table) {
      var frame = table.parentElement;
      if (!frame.classList.contains("table-scroll")) {
        frame = document.createElement("div");
        frame.className = "table-scroll";
        table.parentNode.insertBefore(frame, table);
        frame.appendChild(table);
      }
      var label = table.querySelector("caption") || table.closest("section, .card");
      var heading = label && (label.tagName === "CAPTION" ? label : label.querySelector("h2, h3"));
      if (frame.scrollWidth > frame.clientWidth + 1) {
        frame.setAttribute("tabindex", "0");
        frame.setAttribute("role", "region");
        frame.setAttribute("aria-label", (heading ? heading.textContent.trim() : "Table") + " (scrolls sideways)");
      } else {
        frame.removeAttribute("tabindex");
        frame.removeAttribute("role");
        frame.removeAttribute("aria-label");
      }
    });
  }
  document.documentElement.classList.add("js");
  frameTables(document);
  window.addEventListener("resize", function () { frameTables(document); });
  document.body.addEventListener("htmx:afterSettle", function () { frameTables(document); });
})();
