// Runs the wasm off the page's thread, so that no input can freeze the tab. It says
// when the engine is ready (or failed to load): the page starts counting an answer's
// time only from then, so a slow download is never taken for a hung evaluation.
import init, { evaluate, apply, compile, explain, functions, default_mapping, attributes } from "./scimap.js";

const ops = {
  evaluate: (...args) => JSON.parse(evaluate(...args)),
  apply: (...args) => JSON.parse(apply(...args)),
  compile: (...args) => JSON.parse(compile(...args)),
  explain: (...args) => JSON.parse(explain(...args)),
  functions: () => JSON.parse(functions()),
  default_mapping: () => default_mapping(),
  attributes: () => JSON.parse(attributes()),
};

init().then(
  () => self.postMessage({ ready: true }),
  (error) => self.postMessage({ ready: false, failure: String(error && error.message ? error.message : error) }),
);

self.onmessage = (event) => {
  const { id, op, args } = event.data;
  try {
    self.postMessage({ id, result: ops[op](...args) });
  } catch (error) {
    self.postMessage({ id, failure: String(error && error.message ? error.message : error) });
  }
};
