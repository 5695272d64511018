import type { Transport, Item } from "../transport";
import { h, shortId } from "../ui";
import { errorLine, panel } from "./common";

interface Port {
  private: number;
  public: number | null;
  type: string;
  url: string | null;
}
interface Container {
  id: string;
  name: string;
  image: string;
  state: string;
  status: string;
  ports: Port[];
}

export class ContainersView {
  readonly el: HTMLElement;
  private tbody = h("tbody");
  private err = errorLine("containers-error");
  private side = h("div", { className: "side" });
  private closeLogs: (() => void) | null = null;

  constructor(private t: Transport) {
    this.el = h(
      "div",
      { className: "view" },
      h("h2", {}, "Containers"),
      this.err.el,
      h(
        "table",
        { testid: "containers-table" },
        h("thead", {}, h("tr", {}, ...["Name", "Image", "Status", "Ports", ""].map((c) => h("th", {}, c)))),
        this.tbody,
      ),
      this.side,
    );
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.t.cmd<Container[]>("containers.list", { all: true });
      this.err.clear();
      this.render(list);
    } catch (e) {
      this.err.show(e);
    }
  }

  private render(list: Container[]) {
    if (list.length === 0) {
      this.tbody.replaceChildren(h("tr", {}, h("td", { colspan: 5, className: "empty" }, "No containers. Start one with docker run.")));
      return;
    }
    this.tbody.replaceChildren(...list.map((c) => this.row(c)));
  }

  private row(c: Container): HTMLElement {
    const running = c.state === "running" || c.state === "restarting";
    const act = (label: string, testid: string, fn: () => Promise<unknown>, disabled = false) =>
      h(
        "button",
        {
          testid,
          disabled,
          onclick: async (e: Event) => {
            const b = e.currentTarget as HTMLButtonElement;
            b.disabled = true;
            let outcome = "ok";
            try {
              this.err.clear();
              await fn();
            } catch (err) {
              outcome = "error";
              this.err.show(err);
            } finally {
              // Which action finished last, and how: scripts and tests wait on it.
              this.el.dataset.lastAction = `${testid}:${c.name}:${outcome}`;
              b.disabled = false;
              // Events refresh the list; this covers an engine that sends none.
              void this.refresh();
            }
          },
        },
        label,
      );
    const ports = c.ports.map((p) =>
      p.url
        ? h("a", { href: p.url, target: "_blank", rel: "noopener", testid: "container-open", className: "port" }, `${p.public}→${p.private}/${p.type}`)
        : h("span", { className: "port" }, p.public ? `${p.public}→${p.private}/${p.type}` : `${p.private}/${p.type}`),
    );
    return h(
      "tr",
      { testid: "container-row", "data-name": c.name, "data-id": c.id, "data-state": c.state },
      h("td", { className: "name" }, h("strong", {}, c.name), h("div", { className: "muted mono" }, shortId(c.id))),
      h("td", {}, c.image),
      h("td", { testid: "container-status" }, h("span", { className: `dot ${running ? "on" : "off"}` }), c.status),
      h("td", {}, ...ports),
      h(
        "td",
        { className: "actions" },
        running
          ? act("Stop", "container-stop", () => this.t.cmd("containers.stop", { id: c.id }))
          : act("Start", "container-start", () => this.t.cmd("containers.start", { id: c.id })),
        act("Restart", "container-restart", () => this.t.cmd("containers.restart", { id: c.id })),
        h("button", { testid: "container-logs", onclick: () => this.showLogs(c) }, "Logs"),
        h("button", { testid: "container-inspect", onclick: () => void this.showInspect(c) }, "Inspect"),
        act("Remove", "container-remove", async () => {
          if (running && !window.confirm(`${c.name} is running. Stop and remove it?`)) return;
          await this.t.cmd("containers.remove", { id: c.id, force: running });
        }),
      ),
    );
  }

  private showLogs(c: Container) {
    this.closeLogs?.();
    const out = h("pre", { className: "logs", testid: "logs-output" });
    const state = h("div", { className: "muted", testid: "logs-state", "data-state": "streaming" }, "following…");
    this.side.replaceChildren(
      panel("logs-panel", `Logs · ${c.name}`, h("div", {}, state, out), () => this.closeLogs?.()),
    );
    this.closeLogs = this.t.stream("containers.logs", { id: c.id, tail: 500, follow: true }, (item: Item) => {
      if (item.type === "log") {
        const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.append(h("span", { className: String(item.stream) }, `${String(item.line)}\n`));
        if (atBottom) out.scrollTop = out.scrollHeight;
      } else if (item.type === "error") {
        out.append(h("span", { className: "stderr" }, `${String(item.message)}\n`));
      } else if (item.type === "end") {
        state.dataset.state = "ended";
        state.textContent = "the container stopped; log ended";
      }
    });
  }

  private async showInspect(c: Container) {
    this.closeLogs?.();
    this.closeLogs = null;
    try {
      const info = await this.t.cmd("containers.inspect", { id: c.id });
      const pre = h("pre", { className: "json", testid: "inspect-json" }, JSON.stringify(info, null, 2));
      this.side.replaceChildren(panel("inspect-panel", `Inspect · ${c.name}`, pre, () => undefined));
    } catch (e) {
      this.err.show(e);
    }
  }
}
