// The composer page's own helpers, called from its events (app.py passes them as `js=`) or
// listening to the page.
//
// - withWidth: the last argument of an event that engraves becomes the sheet's box width in px, so
//   the server breaks the score's lines to fit it (on a phone, too); writing events also bring the
//   result into view on a narrow screen.
// - shareLink: turn the "#tune=..." fragment the server packed into a full link, and put it in the
//   address bar too, so reloading or bookmarking the page keeps the tune.
// - The keyboard: a dropdown's list closes when focus leaves it; each radio group is one Tab stop
//   moved through with the arrow keys; focus that would fall to the page body goes back to Compose.
// - An error brings its field into view; a click on a bar of the score chooses it to write again
//   from (the Keep bars field gets the bars before it).
// - linkFragment: the address's fragment for the server to read, or a stand-in it calls damaged when
//   the fragment is longer than any link it makes (a request that large would be refused unread).
// On load, a history kept in this browser that has grown past what a request may carry (tampered
// with) is dropped before the page reads it: it would stop every Compose.
(() => {
  const NARROW = "(max-width: 760px)";
  const LINK_MAX = 60000;                 // characters: abcgen.web.share.MAX_LINK and a margin
  const HISTORY_KEY = "abcgen-history";   // app.py's BrowserState storage_key
  const HISTORY_MAX = 200000;             // characters stored; a full history takes about 140,000

  try {
    const kept = window.localStorage.getItem(HISTORY_KEY);
    if (kept !== null && kept.length > HISTORY_MAX) window.localStorage.removeItem(HISTORY_KEY);
  } catch (e) {
    // storage turned off: nothing is kept, so nothing to check
  }

  function linkFragment() {
    const fragment = window.location.hash || "";
    return fragment.length > LINK_MAX ? "#tune=!" : fragment;
  }

  function narrow() {
    return window.matchMedia(NARROW).matches;
  }

  function toResult() {
    if (!narrow()) return;
    const target = document.querySelector("#status") || document.querySelector("#outputs");
    if (target) target.scrollIntoView({ block: "start", behavior: "instant" });
  }

  function sheetWidth() {
    const box = document.querySelector("#notation");
    if (!box) return null;
    const style = getComputedStyle(box);
    const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return Math.max(200, Math.floor(inner));
  }

  function withWidth(args, writing) {
    if (writing) toResult();
    const width = sheetWidth();
    return args.map((a) => (a === -1 ? width : a));    // -1: the hidden width input's own value
  }

  function shareLink(fragment) {
    if (!fragment || fragment.charAt(0) !== "#") return fragment;
    const url = window.location.origin + window.location.pathname + window.location.search + fragment;
    try {
      window.history.replaceState(null, "", fragment);
    } catch (e) {
      // a sandboxed frame may refuse; the link in the box still works
    }
    return url;
  }

  // A dropdown's list closes when focus leaves its input (Tab goes on to the next field).
  document.addEventListener("focusout", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches("input[role=combobox]")) return;
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", code: "Escape", bubbles: true }));
  }, true);

  // Radio buttons of one group share a name: the browser then makes the group one Tab stop and
  // moves through it with the arrow keys. A dropdown's list is no Tab stop of its own (a long,
  // scrolling list would be one, and focus would fall to the body when it closes).
  function tabStops() {
    for (const list of document.querySelectorAll("ul.option-list:not([tabindex])")) list.tabIndex = -1;
    for (const group of document.querySelectorAll("#tune-type, #candidates")) {
      for (const radio of group.querySelectorAll("input[type=radio]")) {
        if (radio.name !== group.id) radio.name = group.id;
      }
    }
  }

  // Focus never falls to the body: when the focused element goes away (a list closes, a button
  // is redrawn), focus goes to Compose.
  let lastFocused = null;
  document.addEventListener("focusin", (event) => { lastFocused = event.target; }, true);
  function keepFocus() {
    if (lastFocused && !lastFocused.isConnected && document.activeElement === document.body) {
      const compose = document.querySelector("#compose");
      if (compose) compose.focus({ preventScroll: true });
    }
  }

  // An error names its field: bring that field into view (the form sits below the tune on a phone).
  let lastError = null;
  function showErrorField() {
    const error = document.querySelector("#status .status.error[data-field]");
    if (!error || error === lastError) return;
    lastError = error;
    const field = document.getElementById(error.dataset.field);
    if (!field) return;
    if (narrow()) field.scrollIntoView({ block: "center", behavior: "instant" });
    field.classList.add("to-fix");
    setTimeout(() => field.classList.remove("to-fix"), 4000);
  }

  // A click on a bar of the score chooses it to write again from: the bars before it are kept.
  function chooseBar(event) {
    const measure = event.target.closest && event.target.closest("#notation g.measure[data-n]");
    if (!measure) return;
    const input = document.querySelector("#keep-bars textarea, #keep-bars input");
    if (!input) return;
    document.querySelectorAll("#notation g.measure.chosen").forEach((m) => m.classList.remove("chosen"));
    measure.classList.add("chosen");
    input.value = String(Math.max(0, Number(measure.dataset.n) - 1));   // bars before the one chosen
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("click", chooseBar);

  new MutationObserver(() => {
    tabStops();
    keepFocus();
    showErrorField();
  }).observe(document.documentElement, { childList: true, subtree: true });

  window.abcgen = { toResult, shareLink, withWidth, sheetWidth, linkFragment };
})();
