// Talking to the gateway: the same endpoints and keys as any API caller. The key lives in
// this object and in the tab's sessionStorage (gone when the tab closes); never in
// localStorage, never in a URL.

const STORAGE = "imagegen.console.key";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || null;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

export class Api {
  constructor() {
    this.key = sessionStorage.getItem(STORAGE) || "";
  }

  remember(key) {
    this.key = key;
    if (key) sessionStorage.setItem(STORAGE, key);
    else sessionStorage.removeItem(STORAGE);
  }

  headers(extra) {
    const headers = { ...extra };
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    return headers;
  }

  async request(method, path, body) {
    /** @type {RequestInit & {headers: Record<string, string>}} */
    const init = { method, headers: this.headers(), cache: "no-store", credentials: "omit" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (!response.ok) throw await failure(response);
    return response;
  }

  async get(path) {
    return (await this.request("GET", path)).json();
  }

  async post(path, body) {
    return (await this.request("POST", path, body)).json();
  }

  /** POST, then hand each server-sent event to onEvent(name, data) as it arrives; a whole
   *  JSON answer comes as onEvent("whole", body, headers). */
  async stream(path, body, onEvent) {
    const response = await this.request("POST", path, body);
    const type = response.headers.get("content-type") || "";
    if (!type.startsWith("text/event-stream")) {
      // A gateway may answer a stream request whole (a cache hit): one JSON body.
      onEvent("whole", await response.json(), response.headers);
      return response;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (event) onEvent(event.name, event.data);
      }
    }
    return response;
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // keep-alive comment
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return null;
  return { name, data: JSON.parse(data.join("\n")) };
}

/** Bytes of a base64 string as a blob: URL an <img> can show under the CSP. */
export function imageUrl(b64, format) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], { type: `image/${format || "png"}` }));
}
