// careslot prescriptions: progressive enhancement of two pages (both work without it).
(function () {
  "use strict";

  // Pharmacist's page: the QR code's URL carries the capability after "#", which the
  // browser never sends to a server. Put it in the code form and post it (a request body
  // is in no access log), then drop it from the address bar.
  var verify = document.getElementById("rx-verify-form");
  if (verify && location.hash.length > 1) {
    var code = verify.querySelector("input[name=c]");
    var value = decodeURIComponent(location.hash.slice(1));
    if (code && /^[A-Za-z0-9_-]{22}$/.test(value)) {
      code.value = value;
      verify.submit();
    }
  }

  // Practitioner's form: add and remove medication lines (one line works without script).
  var lines = document.getElementById("rx-lines");
  var add = document.getElementById("rx-add");
  if (!lines || !add) return;
  var max = parseInt(lines.getAttribute("data-max"), 10) || 20;
  var legend = lines.getAttribute("data-legend") || "{n}";
  var removeText = lines.getAttribute("data-remove") || "×";

  function renumber() {
    var sets = lines.querySelectorAll("fieldset.rx-line");
    sets.forEach(function (set, i) {
      var n = String(i + 1);
      set.querySelector("legend").textContent = legend.replace("{n}", n);
      set.querySelectorAll("input").forEach(function (input) {
        var id = "rx-" + input.name + "-" + n;
        var label = set.querySelector("label[for='" + input.id + "']");
        input.id = id;
        if (label) label.setAttribute("for", id);
      });
      var remove = set.querySelector("button.rx-remove");
      if (remove) remove.hidden = sets.length === 1;
    });
    add.hidden = sets.length >= max;
  }

  function withRemove(set) {
    if (set.querySelector("button.rx-remove")) return;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary rx-remove";
    b.textContent = removeText;
    b.addEventListener("click", function () {
      set.remove();
      renumber();
      add.focus();
    });
    set.appendChild(b);
  }

  lines.querySelectorAll("fieldset.rx-line").forEach(withRemove);
  add.addEventListener("click", function () {
    var sets = lines.querySelectorAll("fieldset.rx-line");
    if (sets.length >= max) return;
    var copy = sets[sets.length - 1].cloneNode(true);
    copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    var old = copy.querySelector("button.rx-remove");
    if (old) old.remove();
    withRemove(copy);
    lines.appendChild(copy);
    renumber();
    copy.querySelector("input").focus();
  });
  renumber();
})();
