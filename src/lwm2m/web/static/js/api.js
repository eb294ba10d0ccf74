// The REST API: JSON requests with the bearer token, and the event stream.

const TOKEN_KEY = "lwm2m.apiToken";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let askForToken = async () => false;

/** Register the login prompt: it resolves true once a new token is stored. */
export function onUnauthorized(prompt) {
  askForToken = prompt;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** A JSON request; throws ApiError for any HTTP error (after one login prompt for 401). */
export async function api(path, { method = "GET", query, body, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = { method, signal, headers: headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      if (signal?.aborted) throw error;
      // fetch rejects only when no HTTP answer came: the server is down or out of reach.
      throw new ApiError(0, "server unreachable", null);
    }
    if (response.status === 401 && attempt < 3 && (await askForToken())) {
      init.headers = headers(init.headers);
      continue;
    }
    const data = await parse(response);
    if (!response.ok) {
      throw new ApiError(response.status, data?.message ?? response.statusText, data);
    }
    return data;
  }
}

/** A URL path segment for an endpoint name (they contain ':' and may contain '/'). */
export function ep(endpoint) {
  return encodeURIComponent(endpoint);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Server-sent events over fetch (EventSource cannot send the Authorization header) from
 * `path`, reconnecting with back-off. onState("live" | "reconnecting" | "unauthorized" |
 * "ended": the server closed a stream that has an end, or answered 404); returns a stop
 * function.
 */
export function openStream(path, onEvent, onState, { endless = true } = {}) {
  const controller = new AbortController();
  let delay = 500;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(path, {
          headers: headers({ Accept: "text/event-stream" }),
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 401) {
          onState("unauthorized");
          if (await askForToken()) continue;
        } else if (response.ok) {
          delay = 500;
          onState("live");
          await readFrames(response.body, onEvent);
          if (!endless) {
            onState("ended");
            return;
          }
        } else if (response.status === 404) {
          onState("ended");
          return;
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        console.warn("event stream:", error);
      }
      if (controller.signal.aborted) return;
      onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  })();
  return () => controller.abort();
}

/** The server's event stream (registrations, values, queue events). */
export function openEvents(onEvent, onState) {
  return openStream("/api/events", onEvent, onState);
}

async function readFrames(stream, onEvent) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (!data) continue;
      try {
        onEvent(JSON.parse(data));
      } catch (error) {
        console.error("event handler failed", error);
      }
    }
  }
}
