// The reports page: the table is rendered by the server; this draws the chart (uPlot,
// vendored) from the page's own data: offered and answered contacts per interval, or for
// the agents report the minutes all agents spent in each state per interval.
(function () {
  "use strict";
  const box = document.getElementById("chart");
  if (!box) return;
  const s = JSON.parse(box.dataset.series);
  const lines = "offered" in s
    ? [["offered", "#1f6feb"], ["answered", "#238636"]]
    : [["ready", "#238636"], ["reserved", "#d29922"], ["busy", "#1f6feb"], ["wrap_up", "#8957e5"], ["not_ready", "#cf222e"]];
  const data = [s.t.map((t) => t), ...lines.map(([name]) => s[name])];
  const chart = new uPlot({
    width: Math.max(300, box.clientWidth - 16), height: 240,
    scales: { n: { range: (u, min, max) => [0, Math.max(1, max)] } },
    series: [
      {},
      ...lines.map(([name, colour]) => ({ label: name.replace("_", " "), scale: "n", stroke: colour, width: 2, points: { show: true } })),
    ],
    axes: [{}, { scale: "n", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }],
  }, data, box);
  box.dataset.drawn = String(chart.series.length - 1);
}());
