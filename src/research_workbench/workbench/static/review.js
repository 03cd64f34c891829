// Cohort Review's keyboard: J or → next participant, K or ← previous, 1/2/3 set the status (the page's own labelled
// buttons and links are pressed, so a keystroke does exactly what a click does). Keys typed into a field are left
// alone, and so is any key with Ctrl, Alt or Meta held.
(function () {
  "use strict";

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) { return; }
    var key = event.key;
    var target = null;
    if (key === "j" || key === "J" || key === "ArrowRight") {
      target = document.getElementById("next-participant");
    } else if (key === "k" || key === "K" || key === "ArrowLeft") {
      target = document.getElementById("previous-participant");
    } else if (key === "1" || key === "2" || key === "3") {
      target = document.querySelector('#status-form button[data-key="' + key + '"]');
    }
    if (target) {
      event.preventDefault();
      target.click();
    }
  });
})();
