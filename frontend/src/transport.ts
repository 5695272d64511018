// How the UI reaches the command handlers: Tauri's IPC inside the desktop app,
// HTTP + Server-Sent Events under `berth dashboard`. Both run the same Rust code.

export interface CommandError {
  message: string;
  field: string | null;
}

export type Item = { type: string; [k: string]: unknown };

export interface Transport {
  readonly kind: "tauri" | "http";
  cmd<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** A finite or endless stream (containers.logs, images.pull); returns a closer. */
  stream(name: string, args: Record<string, unknown>, onItem: (item: Item) => void): () => void;
  /** Engine events and engine up/down items, for as long as the page lives. */
  events(onItem: (item: Item) => void): void;
}

function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as { message: unknown; field?: unknown };
    return { message: String(o.message), field: typeof o.field === "string" ? o.field : null };
  }
  return { message: String(e), field: null };
}

class HttpTransport implements Transport {
  readonly kind = "http" as const;

  async cmd<T>(name: string, args: Record<string, unknown> = {}): Promise<T> {
    let resp: Response;
    try {
      resp = await fetch(`api/cmd/${encodeURIComponent(name)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(args),
        credentials: "same-origin",
      });
    } catch (e) {
      throw { message: `the dashboard server does not answer (${String(e)}); is \`berth dashboard\` still running?`, field: null };
    }
    const text = await resp.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { message: text || resp.statusText, field: null };
    }
    if (!resp.ok) throw asCommandError(body);
    return body as T;
  }

  stream(name: string, args: Record<string, unknown>, onItem: (item: Item) => void): () => void {
    const url = `api/stream/${encodeURIComponent(name)}?args=${encodeURIComponent(JSON.stringify(args))}`;
    const es = new EventSource(url);
    let ended = false;
    es.onmessage = (m) => {
      const item = JSON.parse(m.data) as Item;
      onItem(item);
      if (item.type === "end") {
        ended = true;
        es.close();
      }
    };
    // EventSource reconnects by itself; a finite stream that broke must not start over.
    es.onerror = () => {
      if (ended) return;
      ended = true;
      es.close();
      onItem({ type: "error", message: `the ${name} stream was interrupted` });
      onItem({ type: "end" });
    };
    return () => {
      ended = true;
      es.close();
    };
  }

  events(onItem: (item: Item) => void): void {
    const es = new EventSource("api/events");
    es.onmessage = (m) => onItem(JSON.parse(m.data) as Item);
    // On error the browser reconnects; the server then says whether the engine is up.
  }
}

type TauriInvoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;
type TauriListen = (event: string, cb: (e: { payload: unknown }) => void) => Promise<() => void>;

class TauriTransport implements Transport {
  readonly kind = "tauri" as const;
  private seq = 0;
  constructor(private invoke: TauriInvoke, private listen: TauriListen) {}

  async cmd<T>(name: string, args: Record<string, unknown> = {}): Promise<T> {
    try {
      return (await this.invoke("berth_cmd", { name, args })) as T;
    } catch (e) {
      throw asCommandError(e);
    }
  }

  stream(name: string, args: Record<string, unknown>, onItem: (item: Item) => void): () => void {
    // Our own id: we listen before the stream starts, so no item is missed.
    const id = `w${Date.now().toString(36)}${++this.seq}`;
    let unlisten: (() => void) | null = null;
    let closed = false;
    const finish = () => {
      closed = true;
      unlisten?.();
    };
    this.listen(`stream-${id}`, (e) => {
      const item = e.payload as Item;
      onItem(item);
      if (item.type === "end") finish();
    }).then((u) => {
      unlisten = u;
      if (closed) {
        u();
        return;
      }
      this.cmd("stream.open", { stream: name, args, id }).catch((err: CommandError) => {
        onItem({ type: "error", message: err.message });
        onItem({ type: "end" });
        finish();
      });
    });
    return () => {
      if (closed) return;
      finish();
      this.cmd("stream.close", { id }).catch(() => undefined);
    };
  }

  events(onItem: (item: Item) => void): void {
    void this.listen("engine-event", (e) => onItem(e.payload as Item));
  }
}

export async function pickTransport(): Promise<Transport> {
  if ((window as unknown as Record<string, unknown>).__TAURI_INTERNALS__) {
    const core = await import("@tauri-apps/api/core");
    const event = await import("@tauri-apps/api/event");
    return new TauriTransport(core.invoke as TauriInvoke, event.listen as unknown as TauriListen);
  }
  return new HttpTransport();
}
