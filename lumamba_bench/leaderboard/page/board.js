
function sortTable(table, col, dir) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const value = (r) => { const c = r.cells[col]; const v = c.dataset.value;
    return v === undefined ? c.textContent : (v === '' ? NaN : parseFloat(v)); };
  rows.sort((a, b) => { const x = value(a), y = value(b);
    if (typeof x === 'number' || typeof y === 'number') {
      if (isNaN(x)) return 1; if (isNaN(y)) return -1; return dir === 'asc' ? x - y : y - x; }
    return dir === 'asc' ? x.localeCompare(y) : y.localeCompare(x); });
  rows.forEach((r) => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((h, i) =>
    h.setAttribute('aria-sort', i === col ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'));
}
document.querySelectorAll('table.board').forEach((table) => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => th.addEventListener('click', () => {
    const dir = th.getAttribute('aria-sort') === 'descending' ? 'asc' : 'desc';
    sortTable(table, col, dir); }));
});
const toggle = document.getElementById('show-all');
const applyToggle = () => document.body.classList.toggle('show-all', toggle.checked);
toggle.addEventListener('change', applyToggle);
const wanted = /^#sort=([a-z0-9-]+):(\d+):(asc|desc)$/.exec(location.hash);
if (wanted) { const t = document.getElementById('table-' + wanted[1]);
  if (t) sortTable(t, parseInt(wanted[2], 10), wanted[3]); }
if (location.hash === '#all') { toggle.checked = true; }
applyToggle();
const visible = () => Array.from(document.querySelectorAll('table.board tbody tr'))
  .filter((r) => r.offsetParent !== null).length;
toggle.addEventListener('change', () => { document.body.dataset.visibleRows = String(visible()); });
document.body.dataset.visibleRows = String(visible());
document.body.dataset.overflow = String(document.documentElement.scrollWidth > window.innerWidth);
document.body.dataset.ready = '1';
