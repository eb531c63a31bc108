// Click a column header to sort its table; click again to reverse. Numbers sort by value
// (a cell's data-v where given), text alphabetically, empty cells and dashes last.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead ? table.tHead.rows[0].cells : [];
  Array.prototype.forEach.call(heads, function (th, col) {
    th.style.cursor = "pointer";
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (row) {
        var cell = row.cells[col];
        if (!cell) return null;
        if (cell.dataset.v !== undefined) return parseFloat(cell.dataset.v);
        var text = cell.textContent.trim();
        var num = parseFloat(text.replace("\u2212", "-"));
        if (!isNaN(num) && /^[-+\u2212]?[0-9.]/.test(text)) return num;
        return text === "" || text === "\u2013" ? null : text.toLowerCase();
      };
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
        var c = x < y ? -1 : x > y ? 1 : 0;
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
