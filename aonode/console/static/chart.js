// A small live line chart on a canvas: no library, no network.
"use strict";

class LiveChart {
  constructor(canvas, label, color, points) {
    this.canvas = canvas; this.label = label; this.color = color || "#2f5d8a";
    this.points = points || 60; this.values = [];
  }
  push(value) {
    this.values.push(value);
    if (this.values.length > this.points) this.values.shift();
    this.draw();
  }
  draw() {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 340, h = c.clientHeight || 140;
    if (c.width !== w * ratio) { c.width = w * ratio; c.height = h * ratio; }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1e-9, ...this.values) * 1.15;
    g.strokeStyle = "#e4e4df"; g.lineWidth = 1;
    for (let i = 1; i < 4; i++) { const y = 22 + (h - 30) * i / 4; g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke(); }
    g.fillStyle = "#6b6b66"; g.font = "12px system-ui, sans-serif";
    const last = this.values.length ? this.values[this.values.length - 1] : 0;
    g.fillText(this.label + ": " + (Math.round(last * 100) / 100), 8, 15);
    g.fillText(String(Math.round(max * 100) / 100), w - 50, 15);
    if (this.values.length < 2) return;
    g.strokeStyle = this.color; g.lineWidth = 2; g.beginPath();
    this.values.forEach((v, i) => {
      const x = (w - 4) * i / (this.points - 1) + 2;
      const y = h - 6 - (h - 30) * v / max;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}
