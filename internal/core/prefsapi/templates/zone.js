(function () {
  var select = document.getElementById("tz");
  if (!select || select.value !== "" || typeof Intl === "undefined") return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
  var option = document.createElement("option");
  option.value = option.textContent = zone;
  select.appendChild(option);
  select.value = zone;
})();
