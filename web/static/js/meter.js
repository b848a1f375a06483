// The lobby's microphone level meter: an analyser on the microphone track, drawn every
// animation frame as a bar (a role=meter's aria-valuenow a few times a second).
//
//   const meter = createMeter(meterElement, barElement, (suspended) => showHint(suspended));
//   meter.start(track);  meter.stop();

export function createMeter(meterEl, barEl, onSuspended = () => {}) {
  let current = null; // {ctx, raf} while running

  function setLevel(level, updateAria = true) {
    barEl.style.transform = `scaleX(${level.toFixed(3)})`;
    if (updateAria) meterEl.setAttribute("aria-valuenow", String(Math.round(level * 100)));
  }

  function start(track) {
    stop();
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!track || !Ctx) {
      setLevel(0);
      return;
    }
    let ctx;
    try {
      ctx = new Ctx();
    } catch (err) {
      console.warn("AudioContext unavailable", err);
      return;
    }
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    analyser.smoothingTimeConstant = 0.3;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let smoothed = 0;
    let frame = 0;
    const meter = { ctx, raf: 0, cleanup: null };
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (let i = 0; i < samples.length; i += 1) sum += samples[i] * samples[i];
      const rms = Math.sqrt(sum / samples.length);
      const db = rms > 0 ? 20 * Math.log10(rms) : -100;
      const level = Math.min(1, Math.max(0, (db + 60) / 60)); // -60 dBFS .. 0 dBFS
      smoothed = Math.max(level, smoothed * 0.9);
      frame += 1;
      setLevel(smoothed, frame % 15 === 0);
      meter.raf = requestAnimationFrame(tick);
    };
    meter.raf = requestAnimationFrame(tick);
    current = meter;
    if (ctx.state === "suspended") waitForGesture(meter);
  }

  // Autoplay policy: an AudioContext made without a user gesture stays suspended (Firefox
  // keeps it so until the page is clicked or a key pressed; Chromium and Safari may too).
  // Resume it on the next gesture, and say so in the meantime (`onSuspended`).
  function waitForGesture(meter) {
    const events = ["pointerdown", "click", "keydown", "touchend"];
    const resume = () => {
      if (meter.ctx.state === "suspended") meter.ctx.resume().catch(() => {});
    };
    const settled = () => {
      if (meter.ctx.state === "suspended") return;
      meter.cleanup();
      onSuspended(false);
    };
    meter.cleanup = () => {
      for (const type of events) document.removeEventListener(type, resume, true);
      meter.ctx.removeEventListener("statechange", settled);
    };
    for (const type of events) document.addEventListener(type, resume, true);
    meter.ctx.addEventListener("statechange", settled);
    onSuspended(true);
    resume(); // allowed without a gesture where the browser permits it
  }

  function stop() {
    const meter = current;
    current = null;
    if (!meter) return;
    cancelAnimationFrame(meter.raf);
    if (meter.cleanup) meter.cleanup();
    onSuspended(false);
    meter.ctx.close().catch(() => {});
    setLevel(0);
  }

  return { start, stop };
}
