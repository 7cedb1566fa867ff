/* FMS shell: the navigation drawer on small screens.
 * An external script (CSP: script-src 'self'). Without it the "Menu" link still jumps to
 * the navigation, which CSS shows as the link's :target. */
(function () {
  "use strict";

  // The skip link: move focus to the main region even where the browser keeps it on the link.
  var skip = document.querySelector(".fms-skip-link");
  var main = document.getElementById("content");
  if (skip && main) {
    skip.addEventListener("click", function () {
      main.focus();
    });
  }

  // A table wider than the screen scrolls inside its wrapper: keyboard users need to be
  // able to focus that region to scroll it, and screen readers a name for it.
  function scrollableTables() {
    // Tables outside a .table-responsive wrapper get one, so they scroll inside their card
    // instead of making the whole page scroll sideways on a phone.
    var bare = document.querySelectorAll("table");
    for (var t = 0; t < bare.length; t++) {
      var table = bare[t];
      if (table.closest(".table-responsive")) continue;
      var wrap = document.createElement("div");
      wrap.className = "table-responsive";
      table.parentNode.insertBefore(wrap, table);
      wrap.appendChild(table);
    }
    var wrappers = document.querySelectorAll(".table-responsive");
    for (var i = 0; i < wrappers.length; i++) {
      var wrapper = wrappers[i];
      if (wrapper.scrollWidth > wrapper.clientWidth + 1) {
        if (!wrapper.hasAttribute("tabindex")) {
          wrapper.setAttribute("tabindex", "0");
          wrapper.setAttribute("role", "region");
          var card = wrapper.closest(".fms-card");
          var title = card && card.querySelector(".fms-card-header h2, .fms-card-title");
          var caption = wrapper.querySelector("caption");
          var name = (caption || title || {}).textContent;
          wrapper.setAttribute("aria-label", (name ? name.trim() + ": " : "") + "table, scrolls sideways");
        }
      } else if (wrapper.getAttribute("role") === "region") {
        wrapper.removeAttribute("tabindex");
        wrapper.removeAttribute("role");
        wrapper.removeAttribute("aria-label");
      }
    }
  }
  scrollableTables();
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(scrollableTables, 150);
  });

  var button = document.getElementById("fms-menu-button");
  var link = document.getElementById("fms-menu-link");
  var sidebar = document.getElementById("fms-sidebar");
  var closer = document.getElementById("fms-menu-close");
  var backdrop = document.getElementById("fms-backdrop");
  if (!button || !sidebar) return;

  link.hidden = true;
  button.hidden = false;
  closer.hidden = false;

  function isOpen() {
    return button.getAttribute("aria-expanded") === "true";
  }

  function open() {
    button.setAttribute("aria-expanded", "true");
    sidebar.classList.add("is-open");
    backdrop.hidden = false;
    var target = sidebar.querySelector(".nav-link.active") || sidebar.querySelector("a[href]");
    if (target) target.focus();
  }

  function close(returnFocus) {
    if (!isOpen()) return;
    button.setAttribute("aria-expanded", "false");
    sidebar.classList.remove("is-open");
    backdrop.hidden = true;
    if (returnFocus) button.focus();
  }

  button.addEventListener("click", function () {
    if (isOpen()) close(true);
    else open();
  });
  closer.addEventListener("click", function () {
    close(true);
  });
  backdrop.addEventListener("click", function () {
    close(true);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      close(true);
    }
  });
  // Tabbing out of the open drawer closes it, so focus never sits behind the backdrop.
  sidebar.addEventListener("focusout", function (event) {
    if (isOpen() && event.relatedTarget && !sidebar.contains(event.relatedTarget)) close(false);
  });
  // Back on a wide screen the sidebar is always shown: forget the drawer's state.
  var wide = window.matchMedia("(min-width: 992px)");
  var onChange = function (query) {
    if (query.matches) close(false);
  };
  if (wide.addEventListener) wide.addEventListener("change", onChange);

})();
