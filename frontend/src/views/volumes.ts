import type { Transport } from "../transport";
import { h, bytes } from "../ui";
import { errorLine } from "./common";

interface Volume {
  name: string;
  driver: string;
  mountpoint: string;
  size: number | null;
  in_use_by: string[];
}

export class VolumesView {
  readonly el: HTMLElement;
  private tbody = h("tbody");
  private err = errorLine("volumes-error");

  constructor(private t: Transport) {
    this.el = h(
      "div",
      { className: "view" },
      h("h2", {}, "Volumes"),
      this.err.el,
      h(
        "table",
        { testid: "volumes-table" },
        h("thead", {}, h("tr", {}, ...["Name", "Driver", "Size", "In use by", ""].map((c) => h("th", {}, c)))),
        this.tbody,
      ),
    );
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.t.cmd<Volume[]>("volumes.list");
      if (list.length === 0) {
        this.tbody.replaceChildren(h("tr", {}, h("td", { colspan: 5, className: "empty" }, "No volumes.")));
        return;
      }
      list.sort((a, b) => a.name.localeCompare(b.name));
      this.tbody.replaceChildren(...list.map((v) => this.row(v)));
    } catch (e) {
      this.err.show(e);
    }
  }

  private row(v: Volume): HTMLElement {
    return h(
      "tr",
      { testid: "volume-row", "data-name": v.name },
      h("td", { className: "mono name" }, v.name),
      h("td", {}, v.driver),
      h("td", { testid: "volume-size" }, bytes(v.size)),
      h("td", { testid: "volume-users" }, v.in_use_by.length ? v.in_use_by.join(", ") : h("span", { className: "muted" }, "—")),
      h(
        "td",
        { className: "actions" },
        h(
          "button",
          {
            testid: "volume-remove",
            onclick: async () => {
              this.err.clear();
              try {
                await this.t.cmd("volumes.remove", { name: v.name });
              } catch (e) {
                this.err.show(e);
              }
              void this.refresh();
            },
          },
          "Remove",
        ),
      ),
    );
  }
}
