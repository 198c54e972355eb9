// datapipe teleop page: one WebSocket to the robot on view, keyboard / pointer / gamepad / webcam
// control (hold-to-move), modes, rewind-and-correct, labels, and the help queue.
// No build step and nothing from the internet: a plain ES module.

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const KEY_SPEED = 0.15; // m/s while a key is held
const SLOW = 0.3; // Shift: fine moves
const YAW_SPEED = 0.8; // rad/s

const stats = { rtt: [], age: [], frames: 0, started: performance.now(), hand: null, errors: [], oks: [] };
window.teleopStats = stats; // read by the browser tests and the benchmark
let ws = null;
let robot = Number(new URLSearchParams(location.search).get("robot") || 0);
let status = {};
let gripperOpen = true;
let seq = 0;
const held = new Set();
let lastMoveZero = true;
let pingId = 0;
const pings = new Map();

function log(text) { $("log").textContent = text; }

function send(doc) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(doc));
}

function connect(index) {
  if (ws) ws.close();
  robot = index;
  $("robot-index").textContent = index;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws/robot/${index}?token=${encodeURIComponent(token)}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    $("connection").textContent = "connected";
    $("connection").className = "pill ok";
    send({ type: "claim" });
  };
  ws.onclose = () => {
    $("connection").textContent = "disconnected";
    $("connection").className = "pill bad";
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") onJson(JSON.parse(event.data));
    else onFrame(event.data);
  };
}

let frameUrl = null;
function onFrame(buffer) {
  const view = new DataView(buffer);
  const renderedMs = view.getFloat64(0, true);
  const blob = new Blob([buffer.slice(12)], { type: "image/jpeg" });
  const url = URL.createObjectURL(blob);
  const img = $("view");
  img.onload = () => {
    stats.age.push(Date.now() - renderedMs);
    stats.frames += 1;
    if (frameUrl) URL.revokeObjectURL(frameUrl);
    frameUrl = url;
    send({ type: "ack" }); // one frame in flight: the next one comes after this
  };
  img.onerror = () => send({ type: "ack" });
  img.src = url;
}

function onJson(msg) {
  if (msg.type === "status") return onStatus(msg);
  if (msg.type === "ok" && msg.for === "ping") {
    const sent = pings.get(msg.id);
    if (sent !== undefined) { stats.rtt.push(performance.now() - sent); pings.delete(msg.id); }
    return;
  }
  if (msg.type === "ok" && msg.for === "move" && pings.has(`m${msg.seq}`)) {
    stats.rtt.push(performance.now() - pings.get(`m${msg.seq}`));
    pings.delete(`m${msg.seq}`);
    return;
  }
  if (msg.type === "hand") {
    stats.hand = msg;
    $("hand").textContent = msg.found ? `hand: target ${msg.target.map((v) => v.toFixed(2)).join(", ")}` : "hand: none";
    webcamBusy = false;
    return;
  }
  if (msg.type === "ok") {
    stats.oks.push(msg);
    if (msg.for === "next" && msg.robot !== null && msg.robot !== undefined) {
      connect(msg.robot);
      setTimeout(() => send({ type: "mode", mode: "teleop" }), 300);
    }
    if (msg.for === "next" && (msg.robot === null || msg.robot === undefined)) log("nobody is waiting");
    if (msg.for === "finish") log(`episode ${msg.episode} written (${msg.success ? "success" : "failure"})`);
    if (msg.for === "rewind") log(`rewound to step ${msg.step}; the abandoned future is kept as ${msg.branch}`);
    if (msg.for === "claim" && !msg.controller) log("watching: another operator controls this robot");
    return;
  }
  if (msg.type === "error") { stats.errors.push(msg); log(`${msg.for}: ${msg.error}`); }
}

function onStatus(s) {
  status = s;
  $("mode").textContent = s.mode + (s.estop ? " (e-stop)" : "") + (s.controlling ? "" : " (watching)");
  $("step").textContent = s.step;
  $("reason").textContent = s.reason || "";
  $("task-done").hidden = !s.sim_success;
  $("written").textContent = s.episodes_written;
  $("overlay").textContent = `robot ${s.robot} · ${s.mode} · step ${s.step}`;
  gripperOpen = s.gripper >= 0.5;
  $("gripper").textContent = gripperOpen ? "gripper open" : "gripper closed";
  const slider = $("rewind");
  slider.min = s.rewind_from;
  slider.max = Math.max(s.rewind_from, s.step - 1);
  if (!slider.dataset.touched) { slider.value = slider.max; $("rewind-step").textContent = slider.value; }
  for (const b of document.querySelectorAll("button[data-mode]")) b.classList.toggle("active", b.dataset.mode === s.mode);
  $("estop").textContent = s.estop ? "RELEASE E-STOP" : "E-STOP";
  if (document.activeElement !== $("instruction") && !$("instruction").dataset.edited) $("instruction").value = s.instruction;
  const q = s.queue || [];
  $("queue").innerHTML = q.length
    ? q.map((e) => `<li>robot ${e.robot}: ${e.reason} (${e.waiting_s} s)</li>`).join("")
    : '<li class="muted">nobody is waiting</li>';
}

async function refreshRobots() {
  try {
    const r = await fetch(`/api/robots?token=${encodeURIComponent(token)}`);
    const doc = await r.json();
    $("session").textContent = `session ${doc.session}`;
    $("robots").innerHTML = doc.robots
      .map((x) => `<li data-robot="${x.robot}" class="${x.robot === robot ? "current" : ""}">robot ${x.robot}: ${x.mode}${x.reason ? " — " + x.reason : ""}</li>`)
      .join("");
  } catch (e) { /* the server may be restarting */ }
}

// -- keyboard: hold to move ----------------------------------------------------------------------
// [axis, sign] in the view's frame: 0 right, 1 away from the camera, 2 up, 3 yaw
const AXES = {
  KeyW: [1, 1], ArrowUp: [1, 1], KeyS: [1, -1], ArrowDown: [1, -1],
  KeyD: [0, 1], ArrowRight: [0, 1], KeyA: [0, -1], ArrowLeft: [0, -1],
  KeyR: [2, 1], KeyF: [2, -1], KeyQ: [3, 1], KeyE: [3, -1],
};

function typing(e) { return e.target && (e.target.tagName === "INPUT" && e.target.type === "text"); }

document.addEventListener("keydown", (e) => {
  if (typing(e)) return;
  if (e.code === "Space") {
    if (!e.repeat) { gripperOpen = !gripperOpen; sendMove(true); }
    e.preventDefault();
    return;
  }
  if (AXES[e.code]) { held.add(e.code); e.preventDefault(); sendMove(); }
});
document.addEventListener("keyup", (e) => {
  if (AXES[e.code]) { held.delete(e.code); sendMove(); }
});
window.addEventListener("blur", () => { held.clear(); sendMove(); });

function keyVelocity(slow) {
  const v = [0, 0, 0, 0];
  for (const code of held) { const [axis, sign] = AXES[code]; v[axis] += sign; }
  const k = slow ? SLOW : 1;
  return { v: v.slice(0, 3).map((x) => x * KEY_SPEED * k), w: v[3] * YAW_SPEED * k };
}

let shift = false;
document.addEventListener("keydown", (e) => { shift = e.shiftKey; });
document.addEventListener("keyup", (e) => { shift = e.shiftKey; });

function sendMove(withGripper = false, velocity = null) {
  const { v, w } = velocity || keyVelocity(shift);
  const zero = v.every((x) => x === 0) && w === 0;
  if (zero && lastMoveZero && !withGripper) return;
  lastMoveZero = zero;
  seq += 1;
  pings.set(`m${seq}`, performance.now());
  send({ type: "move", frame: "view", v, w, gripper: gripperOpen ? 1 : 0, seq });
}
// while held, repeat (the server stops a robot whose last move is older than 0.4 s)
setInterval(() => { if (held.size) sendMove(); }, 50);

// -- pointer drag on the view ---------------------------------------------------------------------
let drag = null;
$("view").addEventListener("pointerdown", (e) => {
  drag = { x: e.clientX, y: e.clientY };
  $("view").setPointerCapture(e.pointerId);
});
$("view").addEventListener("pointermove", (e) => {
  if (!drag) return;
  const r = $("view").getBoundingClientRect();
  const dx = (e.clientX - drag.x) / r.width;
  const dy = (e.clientY - drag.y) / r.height;
  if (Math.abs(dx) + Math.abs(dy) < 0.005) return;
  drag = { x: e.clientX, y: e.clientY };
  send({ type: "drag", dx, dy, vertical: e.shiftKey, seq: ++seq });
});
const endDrag = () => { if (drag) { drag = null; send({ type: "drag_end" }); } };
$("view").addEventListener("pointerup", endDrag);
$("view").addEventListener("pointercancel", endDrag);

// -- gamepad -------------------------------------------------------------------------------------
let padGripper = false;
function pollGamepad() {
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  const pad = pads && [...pads].find((p) => p);
  if (pad) {
    const dz = (x) => (Math.abs(x) < 0.15 ? 0 : x);
    const v = [dz(pad.axes[0] || 0), -dz(pad.axes[1] || 0), -dz(pad.axes[3] || 0)].map((x) => x * KEY_SPEED);
    const pressed = pad.buttons[0] && pad.buttons[0].pressed;
    if (pressed && !padGripper) gripperOpen = !gripperOpen;
    const toggled = pressed !== padGripper;
    padGripper = pressed;
    if (!held.size) sendMove(toggled, { v, w: 0 });
  }
  requestAnimationFrame(pollGamepad);
}
window.addEventListener("gamepadconnected", () => log("gamepad connected"));
requestAnimationFrame(pollGamepad);

// -- webcam hand ---------------------------------------------------------------------------------
let webcamOn = false;
let webcamBusy = false;
$("webcam").addEventListener("click", async () => {
  if (webcamOn) { webcamOn = false; $("webcam").classList.remove("active"); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
    const video = $("camera");
    video.srcObject = stream;
    await video.play();
    webcamOn = true;
    $("webcam").classList.add("active");
    const canvas = document.createElement("canvas");
    const tick = () => {
      if (!webcamOn) { stream.getTracks().forEach((t) => t.stop()); return; }
      if (!webcamBusy && video.videoWidth && ws && ws.readyState === WebSocket.OPEN) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        webcamBusy = true;
        canvas.toBlob((b) => b.arrayBuffer().then((buf) => ws.send(buf)), "image/jpeg", 0.8);
      }
      setTimeout(tick, 100);
    };
    tick();
  } catch (e) { log(`webcam: ${e}`); }
});

// -- buttons -------------------------------------------------------------------------------------
for (const b of document.querySelectorAll("button[data-mode]")) {
  b.addEventListener("click", () => send({ type: "mode", mode: b.dataset.mode }));
}
$("estop").addEventListener("click", () => send({ type: "estop", engaged: !status.estop }));
$("rewind").addEventListener("input", () => {
  $("rewind").dataset.touched = "1"; // the slider stays where the operator put it
  $("rewind-step").textContent = $("rewind").value;
});
$("rewind-go").addEventListener("click", () => {
  send({ type: "rewind", step: Number($("rewind").value) });
  delete $("rewind").dataset.touched;
});
$("instruction").addEventListener("input", () => { $("instruction").dataset.edited = "1"; });
function finish(success) {
  const doc = { type: "finish", success };
  if ($("instruction").dataset.edited) doc.instruction = $("instruction").value;
  delete $("instruction").dataset.edited;
  send(doc);
}
$("success").addEventListener("click", () => finish(true));
$("failure").addEventListener("click", () => finish(false));
$("next").addEventListener("click", () => send({ type: "next" }));
$("robots").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-robot]");
  if (li) connect(Number(li.dataset.robot));
});

// -- heartbeat, round-trip pings, frame rate -------------------------------------------------------
setInterval(() => send({ type: "heartbeat" }), 500);
setInterval(() => {
  pingId += 1;
  pings.set(pingId, performance.now());
  send({ type: "ping", id: pingId });
}, 1000);
setInterval(() => {
  const median = (a) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] : NaN);
  $("rtt").textContent = median(stats.rtt.slice(-50)).toFixed(1);
  $("age").textContent = median(stats.age.slice(-50)).toFixed(0);
  $("fps").textContent = (stats.frames / ((performance.now() - stats.started) / 1000)).toFixed(1);
  refreshRobots();
}, 1000);

connect(robot);
refreshRobots();
