/* FMS type-ahead picker: the WAI-ARIA 1.2 combobox pattern with a listbox popup.
 *
 * Markup (templates/_combobox.html): a wrapper [data-combobox][data-url] holding a hidden
 * input [data-combobox-value] (the id the form posts), a text input [data-combobox-input],
 * an empty <ul role="listbox">, a detail line and a polite status region. Without this
 * script the text input is a plain text field the server resolves (fms.forms.LookupField).
 *
 * Keys: ArrowDown/ArrowUp move (and open), Enter picks the active option, Escape closes
 * (a second Escape clears), Home/End jump, Tab leaves. Typing clears the chosen id, waits
 * 250 ms, then asks the server for one page (at most 20) of matches.
 * Picking fires "combobox:select" on the wrapper with the item as `detail`.
 * Loaded as an external script (CSP: script-src 'self').
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;

  function setup(box) {
    var input = box.querySelector("[data-combobox-input]");
    var hidden = box.querySelector("[data-combobox-value]");
    var list = box.querySelector("[role=listbox]");
    var detail = box.querySelector("[data-combobox-detail]");
    var status = box.querySelector("[data-combobox-status]");
    if (!input || !hidden || !list) return;
    var items = [];
    var active = -1;
    var timer = null;
    var asked = 0;
    var idleDetail = detail ? detail.getAttribute("data-idle") || "" : "";

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("autocomplete", "off");

    function say(text) {
      if (status) status.textContent = text;
    }

    function isOpen() {
      return !list.hidden;
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      if (!options.length) return;
      active = (index + options.length) % options.length;
      for (var i = 0; i < options.length; i++) {
        options[i].setAttribute("aria-selected", i === active ? "true" : "false");
        options[i].classList.toggle("active", i === active);
      }
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }

    function render(body) {
      items = body.items || [];
      list.textContent = "";
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (!items.length) {
        var none = document.createElement("li");
        none.className = "fms-combobox-empty";
        none.setAttribute("role", "presentation");
        none.textContent = "No matches";
        list.appendChild(none);
        say("No matches");
        open();
        return;
      }
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = list.id + "-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.setAttribute("data-index", String(i));
        var label = document.createElement("span");
        label.className = "fms-combobox-label";
        label.textContent = item.label;
        li.appendChild(label);
        if (item.detail) {
          var small = document.createElement("span");
          small.className = "fms-combobox-detail";
          small.textContent = item.detail;
          li.appendChild(small);
        }
        list.appendChild(li);
      });
      if (body.has_more) {
        var more = document.createElement("li");
        more.className = "fms-combobox-more";
        more.setAttribute("role", "presentation");
        more.textContent = "More match: type more to narrow down.";
        list.appendChild(more);
      }
      say(items.length + (body.has_more ? "+" : "") + (items.length === 1 ? " match" : " matches") +
        ", use the arrow keys to choose");
      open();
    }

    function ask() {
      var ticket = ++asked;
      var url = new URL(box.getAttribute("data-url"), window.location.href);
      url.searchParams.set("q", input.value.trim());
      fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (body) {
          if (ticket === asked && document.activeElement === input) render(body);
        })
        .catch(function () {
          if (ticket === asked) say("Could not search just now; type the full name instead.");
        });
    }

    function choose(index) {
      var item = items[index];
      if (!item) return;
      hidden.value = String(item.id);
      input.value = item.label;
      if (detail) detail.textContent = item.detail || "";
      close();
      say(item.label + " chosen");
      box.dispatchEvent(new CustomEvent("combobox:select", { detail: item, bubbles: true }));
    }

    function clearChoice() {
      if (hidden.value) {
        hidden.value = "";
        if (detail) detail.textContent = idleDetail;
        box.dispatchEvent(new CustomEvent("combobox:select", { detail: null, bubbles: true }));
      }
    }

    input.addEventListener("input", function () {
      clearChoice();
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DEBOUNCE_MS);
    });

    input.addEventListener("keydown", function (event) {
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (!isOpen() || !items.length) {
            ask();
          } else {
            highlight(active + 1);
          }
          break;
        case "ArrowUp":
          event.preventDefault();
          if (isOpen() && items.length) highlight(active < 0 ? -1 : active - 1);
          break;
        case "Home":
        case "End":
          if (isOpen() && items.length) {
            event.preventDefault();
            highlight(event.key === "Home" ? 0 : items.length - 1);
          }
          break;
        case "Enter":
          if (isOpen() && active >= 0) {
            event.preventDefault(); // pick, do not submit the form
            choose(active);
          }
          break;
        case "Escape":
          if (isOpen()) {
            event.preventDefault();
            close();
          } else if (input.value) {
            event.preventDefault();
            input.value = "";
            clearChoice();
          }
          break;
        case "Tab":
          close();
          break;
        default:
          break;
      }
    });

    list.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep focus in the input
    });
    list.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) choose(Number(option.getAttribute("data-index")));
    });
    input.addEventListener("blur", function () {
      window.setTimeout(close, 150);
    });
  }

  function init() {
    var boxes = document.querySelectorAll("[data-combobox]");
    for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
