// Progressive enhancement of the support form: tells about too many or too
// large photos before the upload starts. The server checks everything again;
// the form works the same without this script.
(function () {
  "use strict";
  var input = document.getElementById("photos");
  var message = document.getElementById("photos-error");
  if (!input || !message) return;
  var maxFiles = Number(input.dataset.maxFiles);
  var maxFile = Number(input.dataset.maxFileBytes);
  var maxTotal = Number(input.dataset.maxTotalBytes);
  function size(bytes) {
    return bytes >= 1048576 ? Math.round(bytes / 1048576) + " MB" : Math.round(bytes / 1024) + " KB";
  }
  function problem(files) {
    if (files.length > maxFiles) return "Choose at most " + maxFiles + " photos.";
    var total = 0;
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > maxFile) return "“" + files[i].name + "” is larger than " + size(maxFile) + ".";
      total += files[i].size;
    }
    if (total > maxTotal) return "The photos add up to more than " + size(maxTotal) + ".";
    return "";
  }
  function show(text) {
    message.textContent = text;
    message.hidden = text === "";
    if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }
  input.addEventListener("change", function () { show(problem(input.files)); });
  document.getElementById("support-form").addEventListener("submit", function (event) {
    var text = problem(input.files);
    if (text) { event.preventDefault(); show(text); input.focus(); }
  });
})();
