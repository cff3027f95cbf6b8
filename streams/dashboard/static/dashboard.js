// spi-crrn dashboard: refresh the page's content every data-refresh seconds (when the tab is visible),
// show the pad under the pointer, open a pad's trend on click. Plain JS, no library.
(() => {
  const refresh = Number(document.body.dataset.refresh || 0);
  const stamp = () => { document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString(); };
  stamp();
  if (refresh > 0) {
    setInterval(async () => {
      if (document.hidden) return;
      const r = await fetch(location.href, { cache: "no-store" });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      document.querySelector("main").replaceWith(doc.querySelector("main"));
      stamp();
    }, refresh * 1000);
  }
  const padOf = (e) => e.target.closest && e.target.closest("svg.board rect[data-pad]");
  document.addEventListener("mouseover", (e) => {
    const r = padOf(e); if (!r) return;
    const info = document.getElementById(r.ownerSVGElement.dataset.info);
    if (info) info.textContent = `${r.dataset.pad}: volume ${r.dataset.v} %, score ${r.dataset.s}`;
  });
  document.addEventListener("click", (e) => {
    const r = padOf(e); if (!r) return;
    location.href = r.ownerSVGElement.dataset.padUrl + encodeURIComponent(r.dataset.pad);
  });
})();
