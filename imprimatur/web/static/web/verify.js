// The verify page: a preview of the chosen image before it is sent, and a progress bar while
// it uploads and is verified. Without JavaScript the form is a plain upload that works alike.
(function () {
  "use strict";
  var form = document.querySelector("[data-verify-form]");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var preview = form.querySelector("[data-verify-preview]");
  var previewImage = form.querySelector("[data-verify-preview-image]");
  var previewName = form.querySelector("[data-verify-preview-name]");
  var progress = form.querySelector("[data-verify-progress]");
  var bar = form.querySelector("[data-verify-progress-bar]");
  var text = form.querySelector("[data-verify-progress-text]");
  var button = form.querySelector("button[type=submit]");
  var objectUrl = null;

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "") + " MB";
  }

  input.addEventListener("change", function () {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    var file = input.files && input.files[0];
    if (!file || !/^image\//.test(file.type)) {
      preview.hidden = true;
      return;
    }
    objectUrl = URL.createObjectURL(file);
    previewImage.src = objectUrl;
    previewName.textContent = file.name + " · " + megabytes(file.size);
    preview.hidden = false;
  });

  function show(message, percent) {
    progress.hidden = false;
    text.textContent = message;
    if (percent === null) bar.removeAttribute("value");
    else bar.value = percent;
  }

  form.addEventListener("submit", function (event) {
    if (!input.files || !input.files.length || !window.XMLHttpRequest || !window.FormData) return;
    event.preventDefault();
    button.disabled = true;
    show("Uploading… 0 %", 0);
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var percent = Math.round((100 * e.loaded) / e.total);
      if (percent < 100) show("Uploading… " + percent + " %", percent);
      else show("Checking the signature, the pixels and the watermark…", null);
    });
    request.upload.addEventListener("load", function () {
      show("Checking the signature, the pixels and the watermark…", null);
    });
    request.addEventListener("load", function () {
      // The answer is the whole page with the result (or the error): show it as the page.
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      var fresh = page.querySelector("main") || page.body;
      var here = document.querySelector("main") || document.body;
      here.replaceWith(fresh);
      document.title = page.title;
      var result = document.querySelector(".verify-result, .form-errors");
      if (result) {
        result.setAttribute("tabindex", "-1");
        result.focus();
      }
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      // The fresh form needs its handlers: run this file again on it.
      var again = document.createElement("script");
      again.src = scriptUrl;
      document.body.appendChild(again);
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      show("The upload failed: check the connection and try again.", 0);
    });
    request.send(new FormData(form));
  });
  var scriptUrl = document.currentScript ? document.currentScript.src : "";
})();
