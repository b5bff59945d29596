// Lights up the engraved notes while the tune plays.
//
// The notation panel holds the SVG pages and, in a data attribute, the note timemap
// (milliseconds -> note ids switched on and off). This script follows the clock of the
// audio player next to it and puts the class "playing" on the notes that sound, and keeps the
// sounding note in view: when it leaves the window (the next line of a long tune, a phone's small
// screen), the page scrolls it back to the middle.
(() => {
  const SHEET = "#notation .sheet";
  const PLAYER = "#audio audio";
  const cache = new WeakMap(); // sheet element -> [{t, ids}] sorted by time
  let lit = [];
  let frame = null;

  // The notes that sound from each timemap entry on, built once per engraving.
  function steps(sheet) {
    if (!cache.has(sheet)) {
      let map = [];
      try {
        map = JSON.parse(sheet.dataset.timemap || "[]");
      } catch (e) {
        map = [];
      }
      const sounding = new Set();
      const out = [];
      for (const entry of map) {
        (entry.off || []).forEach((id) => sounding.delete(id));
        (entry.on || []).forEach((id) => sounding.add(id));
        out.push({ t: entry.tstamp, ids: [...sounding] });
      }
      cache.set(sheet, out);
    }
    return cache.get(sheet);
  }

  // The last step that starts at or before `ms` (binary search).
  function stepAt(list, ms) {
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].t <= ms) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? null : list[found];
  }

  function clear() {
    lit.forEach((el) => el.classList.remove("playing"));
    lit = [];
  }

  // The note in view, vertically in the window and sideways in the sheet's box.
  function follow(el) {
    const r = el.getBoundingClientRect();
    const box = el.closest("#notation").getBoundingClientRect();
    const high = window.innerHeight || document.documentElement.clientHeight;
    if (r.top < 0 || r.bottom > high || r.left < box.left || r.right > box.right) {
      el.scrollIntoView({ block: "center", inline: "center", behavior: "instant" });
    }
  }

  function show(audio) {
    const sheet = document.querySelector(SHEET);
    if (!sheet) return clear();
    const step = stepAt(steps(sheet), audio.currentTime * 1000);
    clear();
    if (!step) return;
    for (const id of step.ids) {
      const el = sheet.querySelector(`[id="${id}"]`);
      if (el) {
        el.classList.add("playing");
        lit.push(el);
      }
    }
    if (lit.length && !audio.paused) follow(lit[0]);
  }

  // Smooth following while playing; `timeupdate` alone fires only a few times a second.
  function loop(audio) {
    cancelAnimationFrame(frame);
    const tick = () => {
      show(audio);
      if (!audio.paused && !audio.ended) frame = requestAnimationFrame(tick);
    };
    tick();
  }

  // Media events do not bubble, so listen in the capture phase for any player.
  for (const kind of ["play", "playing", "seeked", "timeupdate"]) {
    document.addEventListener(kind, (event) => {
      if (event.target.matches && event.target.matches(PLAYER)) {
        if (kind === "timeupdate") show(event.target);
        else loop(event.target);
      }
    }, true);
  }
  for (const kind of ["ended", "emptied"]) {
    document.addEventListener(kind, (event) => {
      if (event.target.matches && event.target.matches(PLAYER)) clear();
    }, true);
  }
})();
