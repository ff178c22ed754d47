// The session in a link: only what differs from the defaults, as JSON compressed with
// deflate and written in base64url after `#v2.`. Links from before (`#` and plain
// base64 JSON) still open. The last session is also kept in this browser.

const PREFIX = "v2.";
const STORAGE_KEY = "scimap-playground-session";
/// Links longer than this are not written (browsers and chat tools cut them); the
/// session is still kept in this browser.
export const MAX_LINK = 32 * 1024;

/// `state` without the fields equal to `defaults` (settings compared one by one).
export function withoutDefaults(state, defaults) {
  const out = {};
  for (const [key, value] of Object.entries(state)) {
    if (key === "settings") {
      const settings = withoutDefaults(value, defaults.settings);
      if (Object.keys(settings).length) out.settings = settings;
    } else if (JSON.stringify(value) !== JSON.stringify(defaults[key])) {
      out[key] = value;
    }
  }
  return out;
}

/// `partial` over `defaults`.
export function withDefaults(partial, defaults) {
  const state = { ...defaults, ...partial };
  state.settings = { ...defaults.settings, ...(partial.settings || {}) };
  return state;
}

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

function base64url(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function unbase64url(text) {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/// The fragment for a (partial) state.
export async function encode(partial) {
  const json = new TextEncoder().encode(JSON.stringify(partial));
  return PREFIX + base64url(await pipe(json, new CompressionStream("deflate-raw")));
}

/// The partial state a fragment holds, or null when it holds none.
export async function decode(fragment) {
  try {
    if (fragment.startsWith(PREFIX)) {
      const bytes = await pipe(unbase64url(fragment.slice(PREFIX.length)), new DecompressionStream("deflate-raw"));
      return JSON.parse(new TextDecoder().decode(bytes));
    }
    return JSON.parse(new TextDecoder().decode(unbase64url(fragment)));
  } catch {
    return null;
  }
}

export function remember(partial) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(partial));
  } catch {
    // Storage full or refused: the link still holds the session.
  }
}

export function recalled() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
  } catch {
    return null;
  }
}
