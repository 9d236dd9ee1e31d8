// The galleries' lightbox: a thumbnail opens its image large in a modal dialog; the left and
// right arrow keys (or the buttons) go to the previous and next image of the same grid, Esc
// closes it and focus goes back to the thumbnail. Without JavaScript each thumbnail is a
// plain link to its request. No inline script or style: the CSP allows only 'self'.
(function () {
  "use strict";
  var grids = document.querySelectorAll("[data-gallery]");
  if (!grids.length || typeof HTMLDialogElement !== "function") return;

  var dialog = document.createElement("dialog");
  dialog.className = "lightbox";
  dialog.setAttribute("aria-label", "Image viewer");
  dialog.innerHTML =
    '<figure class="lightbox-figure"><img class="lightbox-image" alt="">' +
    '<figcaption class="lightbox-caption"></figcaption></figure>' +
    '<div class="lightbox-controls">' +
    '<button type="button" class="button lightbox-prev" aria-label="Previous image">←</button>' +
    '<span class="lightbox-position" aria-live="polite"></span>' +
    '<button type="button" class="button lightbox-next" aria-label="Next image">→</button>' +
    '<a class="button lightbox-open">Open its request</a>' +
    '<button type="button" class="button lightbox-close" aria-label="Close the image viewer">Close</button>' +
    "</div>";
  document.body.appendChild(dialog);
  var image = dialog.querySelector(".lightbox-image");
  var caption = dialog.querySelector(".lightbox-caption");
  var position = dialog.querySelector(".lightbox-position");
  var open = dialog.querySelector(".lightbox-open");
  var links = [];
  var current = -1;
  var opener = null;

  function show(index) {
    if (index < 0 || index >= links.length) return;
    current = index;
    var link = links[index];
    var thumb = link.querySelector("img");
    image.src = link.dataset.lightboxSrc;
    image.alt = thumb ? thumb.alt : "";
    caption.textContent = link.dataset.lightboxCaption || "";
    position.textContent = "Image " + (index + 1) + " of " + links.length;
    open.href = link.getAttribute("href");
    dialog.querySelector(".lightbox-prev").disabled = index === 0;
    dialog.querySelector(".lightbox-next").disabled = index === links.length - 1;
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener("close", function () {
    image.removeAttribute("src");
    if (opener) opener.focus();
  });
  dialog.querySelector(".lightbox-prev").addEventListener("click", function () { show(current - 1); });
  dialog.querySelector(".lightbox-next").addEventListener("click", function () { show(current + 1); });
  dialog.querySelector(".lightbox-close").addEventListener("click", close);
  // A click on the backdrop (outside the figure and controls) closes it too.
  dialog.addEventListener("click", function (event) { if (event.target === dialog) close(); });
  dialog.addEventListener("keydown", function (event) {
    if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
    else if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
    // Esc: the dialog's own cancel closes it (and the "close" handler restores focus).
  });

  grids.forEach(function (grid) {
    grid.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-lightbox-src]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      links = Array.prototype.slice.call(grid.querySelectorAll("a[data-lightbox-src]"));
      opener = link;
      show(links.indexOf(link));
      dialog.showModal();
      dialog.querySelector(".lightbox-close").focus();
    });
  });
})();
