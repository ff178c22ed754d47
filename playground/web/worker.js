// Runs the wasm off the page's thread, so that no input can freeze the tab: the page
// ends this worker and starts another when an answer takes too long.
import init, { evaluate, apply, functions, default_mapping } from "./scimap.js";

const ready = init();

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    await ready;
    let result;
    if (op === "evaluate") result = JSON.parse(evaluate(...args));
    else if (op === "apply") result = JSON.parse(apply(...args));
    else if (op === "functions") result = JSON.parse(functions());
    else result = default_mapping();
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, failure: String(error && error.message ? error.message : error) });
  }
};
