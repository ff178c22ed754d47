// The worker that runs the wasm, seen from the page: calls answered by promises, an
// answer's time counted only once the engine is ready, a hung evaluation ended.

const TIMEOUT_MS = 3000;

let worker = null;
let ready = false;
let loadFailures = 0;
let nextId = 0;
const pending = new Map();
let onStatus = () => {};

/// Starts the engine; `status(text, state)` hears how loading goes.
export function startEngine(status) {
  onStatus = status;
  onStatus("loading the engine…", "loading");
  startWorker();
}

function startWorker() {
  ready = false;
  worker = new Worker("worker.js", { type: "module" });
  worker.onmessage = ({ data }) => {
    if ("ready" in data) {
      engineLoaded(data);
      return;
    }
    const request = pending.get(data.id);
    if (!request) return;
    pending.delete(data.id);
    clearTimeout(request.timer);
    if (data.failure) request.reject(new Error(data.failure));
    else request.resolve(data.result);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const why = event.message || "unknown error";
    if (ready) restart(new Error("the evaluator stopped: " + why));
    else engineLoaded({ ready: false, failure: why });
  };
}

/// The engine loaded, or failed to (offline, a broken download): then it is fetched
/// again after a pause that grows, and what waits for it keeps waiting.
function engineLoaded({ ready: ok, failure }) {
  if (!ok) {
    loadFailures += 1;
    const wait = Math.min(30, 2 ** loadFailures);
    onStatus(`the engine did not load (${failure}); trying again in ${wait} s`, "error");
    worker.terminate();
    setTimeout(startWorker, wait * 1000);
    return;
  }
  ready = true;
  loadFailures = 0;
  onStatus("engine loaded", "loaded");
  for (const [id, request] of pending) send(id, request);
}

function send(id, request) {
  request.timer = setTimeout(
    () => restart(new Error(`stopped after ${TIMEOUT_MS / 1000} s without an answer`)),
    TIMEOUT_MS,
  );
  worker.postMessage({ id, op: request.op, args: request.args });
}

/// A hung evaluation: what waits fails, and a fresh engine starts (its wasm now cached).
function restart(error) {
  for (const request of pending.values()) {
    clearTimeout(request.timer);
    request.reject(error);
  }
  pending.clear();
  worker.terminate();
  startWorker();
}

export function call(op, ...args) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const request = { op, args, resolve, reject, timer: null };
    pending.set(id, request);
    if (ready) send(id, request);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Asks until answered: the function table and the default mapping must not stay
/// empty for the session because one attempt met a restart.
export async function untilAnswered(op, ...args) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(op, ...args);
    } catch {
      await sleep(Math.min(5000, 250 * 2 ** attempt));
    }
  }
}
