// The teleop benchmark's client (benchmarks/teleop.py evaluates it in the page): one WebSocket
// per robot, frames acknowledged once decoded, move commands at 20 Hz, pings at 10 Hz.
async ([robots, token, seconds]) => {
  const out = [];
  const pct = (a, p) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length ? s[Math.floor(p * (s.length - 1))] : NaN;
  };
  await Promise.all([...Array(robots).keys()].map((i) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws/robot/${i}?token=${token}`);
    ws.binaryType = "arraybuffer";
    const st = { rtt: [], ping: [], age: [], frames: 0, sent: new Map(), pings: new Map() };
    let seq = 0, t0 = 0, timers = [];
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "claim" }));
      t0 = performance.now();
      timers.push(setInterval(() => {
        seq += 1;
        const dir = Math.floor(seq / 20) % 2 ? 1 : -1;
        st.sent.set(seq, performance.now());
        ws.send(JSON.stringify({ type: "move", frame: "view", v: [0.1 * dir, 0, 0], w: 0, gripper: 1, seq }));
      }, 50));
      timers.push(setInterval(() => {
        st.pings.set(seq, performance.now());
        ws.send(JSON.stringify({ type: "ping", id: seq }));
      }, 100));
      setTimeout(() => { timers.forEach(clearInterval); ws.close(); out[i] = {
        robot: i, fps: st.frames / ((performance.now() - t0) / 1000),
        rtt50: pct(st.rtt, 0.5), rtt95: pct(st.rtt, 0.95), ping50: pct(st.ping, 0.5),
        age50: pct(st.age, 0.5), age95: pct(st.age, 0.95), frames: st.frames }; resolve(); }, seconds * 1000);
    };
    ws.onmessage = async (e) => {
      if (typeof e.data === "string") {
        const m = JSON.parse(e.data);
        if (m.type === "ok" && m.for === "move" && st.sent.has(m.seq)) {
          st.rtt.push(performance.now() - st.sent.get(m.seq));
          st.sent.delete(m.seq);
        }
        if (m.type === "ok" && m.for === "ping" && st.pings.has(m.id)) {
          st.ping.push(performance.now() - st.pings.get(m.id));
          st.pings.delete(m.id);
        }
        return;
      }
      const rendered = new DataView(e.data).getFloat64(0, true);
      const bitmap = await createImageBitmap(new Blob([e.data.slice(12)], { type: "image/jpeg" }));
      bitmap.close();
      st.age.push(Date.now() - rendered);
      st.frames += 1;
      ws.send(JSON.stringify({ type: "ack" }));
    };
  })));
  return out;
}
