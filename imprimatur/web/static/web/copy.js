// Copy buttons: a <button data-copy="ID"> copies the value (or text) of the element with that
// id to the clipboard and says so in its status element (data-copy-status="ID"). A static
// file, not an inline script: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copyStatus || "");
    if (!source) return;
    button.hidden = false;
    function said(text) {
      if (status) status.textContent = text;
    }
    button.addEventListener("click", function () {
      var value = "value" in source ? source.value : source.textContent;
      function fallback() {
        source.focus();
        if (source.select) source.select();
        var done = false;
        try {
          done = document.execCommand("copy");
        } catch (error) {
          done = false;
        }
        said(done ? "Copied." : "Select the token and copy it with your keyboard.");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(function () {
          said("Copied.");
        }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
