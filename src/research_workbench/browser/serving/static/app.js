// Search suggestions for the header search box, from /api/search (progressive enhancement: the form works without it).
(function () {
  "use strict";
  var input = document.querySelector(".searchbox input[name=q]");
  var list = document.getElementById("suggestions");
  if (!input || !list || !window.fetch) return;
  var timer = null, last = "";
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      if (q.length < 2 || q === last) return;
      last = q;
      fetch("/api/search?limit=8&q=" + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) {
          list.textContent = "";
          data.results.forEach(function (r) {
            var option = document.createElement("option");
            option.value = r.name;
            list.appendChild(option);
          });
        })
        .catch(function () {});
    }, 200);
  });
})();
