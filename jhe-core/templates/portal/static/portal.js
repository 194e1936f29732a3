// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) { el.form.submit(); }
    if (el.hasAttribute && el.hasAttribute("data-select-all-prefix")) {
      var boxes = document.querySelectorAll("input[type=checkbox][name^='" + el.getAttribute("data-select-all-prefix") + "']");
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = el.checked; }
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.value || source.textContent;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { source.select && source.select(); });
    } else if (source.select) {
      source.select();
    }
  });
  var copies = document.querySelectorAll("[data-copy]");
  for (var i = 0; i < copies.length; i++) { copies[i].hidden = false; }
})();
