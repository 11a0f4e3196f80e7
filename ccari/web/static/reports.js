// The reports page: the table is rendered by the server; this draws the chart (uPlot,
// vendored) of offered and answered contacts per interval from the page's own data.
(function () {
  "use strict";
  const box = document.getElementById("chart");
  if (!box) return;
  const s = JSON.parse(box.dataset.series);
  const data = [s.t.map((t) => t), s.offered, s.answered];
  const chart = new uPlot({
    width: Math.max(300, box.clientWidth - 16), height: 240,
    scales: { n: { range: (u, min, max) => [0, Math.max(1, max)] } },
    series: [
      {},
      { label: "offered", scale: "n", stroke: "#1f6feb", width: 2, points: { show: true } },
      { label: "answered", scale: "n", stroke: "#238636", width: 2, points: { show: true } },
    ],
    axes: [{}, { scale: "n", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }],
  }, data, box);
  box.dataset.drawn = String(chart.series.length - 1);
}());
