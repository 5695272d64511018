import type { Transport, Item } from "../transport";
import { h, bytes, ago, shortId } from "../ui";
import { errorLine } from "./common";

interface Image {
  id: string;
  tags: string[];
  size: number;
  created: number;
  containers: number;
}

export class ImagesView {
  readonly el: HTMLElement;
  private tbody = h("tbody");
  private err = errorLine("images-error");
  private input = h("input", { testid: "pull-input", placeholder: "busybox, registry:5000/repo:tag", spellcheck: "false" });
  private pullButton = h("button", { testid: "pull-button", className: "primary" }, "Pull");
  private bar = h("progress", { testid: "pull-progress", max: 100, value: 0, hidden: true, "data-state": "idle" });
  private pullStatus = h("span", { testid: "pull-status", className: "muted" });

  constructor(private t: Transport) {
    const form = h("form", { className: "pull" }, this.input, this.pullButton, this.bar, this.pullStatus);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.pull();
    });
    this.el = h(
      "div",
      { className: "view" },
      h("h2", {}, "Images"),
      form,
      this.err.el,
      h(
        "table",
        { testid: "images-table" },
        h("thead", {}, h("tr", {}, ...["Tags", "ID", "Size", "Created", ""].map((c) => h("th", {}, c)))),
        this.tbody,
      ),
    );
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.t.cmd<Image[]>("images.list");
      this.render(list);
    } catch (e) {
      this.err.show(e);
    }
  }

  private render(list: Image[]) {
    if (list.length === 0) {
      this.tbody.replaceChildren(h("tr", {}, h("td", { colspan: 5, className: "empty" }, "No images. Pull one above.")));
      return;
    }
    list.sort((a, b) => b.created - a.created);
    this.tbody.replaceChildren(
      ...list.map((i) =>
        h(
          "tr",
          { testid: "image-row", "data-id": i.id, "data-tags": i.tags.join(" ") },
          h("td", {}, ...(i.tags.length ? i.tags.map((t) => h("div", { className: "tag" }, t)) : [h("span", { className: "muted" }, "<none>")])),
          h("td", { className: "mono" }, shortId(i.id)),
          h("td", { testid: "image-size" }, bytes(i.size)),
          h("td", {}, ago(i.created)),
          h(
            "td",
            { className: "actions" },
            h(
              "button",
              {
                testid: "image-remove",
                onclick: async () => {
                  this.err.clear();
                  try {
                    await this.t.cmd("images.remove", { id: i.tags[0] ?? i.id });
                  } catch (e) {
                    // e.g. "conflict: unable to remove repository reference ... container ... is using its referenced image"
                    this.err.show(e);
                  }
                  void this.refresh();
                },
              },
              "Remove",
            ),
          ),
        ),
      ),
    );
  }

  private pull() {
    const reference = this.input.value.trim();
    if (!reference) {
      this.err.show({ message: "Type an image reference to pull, e.g. busybox", field: null });
      return;
    }
    this.err.clear();
    this.pullButton.disabled = true;
    this.bar.hidden = false;
    this.bar.value = 0;
    this.bar.dataset.state = "running";
    this.pullStatus.textContent = `Pulling ${reference}…`;
    let failed = false;
    this.t.stream("images.pull", { reference }, (item: Item) => {
      if (item.type === "progress") {
        if (typeof item.percent === "number") this.bar.value = item.percent;
        const layers = item.layers ? ` (${String(item.layers_done ?? 0)}/${String(item.layers)} layers)` : "";
        if (item.done) {
          this.bar.value = 100;
          this.pullStatus.textContent = `Pulled ${reference}`;
        } else this.pullStatus.textContent = `${String(item.status ?? "")}${layers}`;
      } else if (item.type === "error") {
        failed = true;
        this.err.show({ message: String(item.message), field: null });
        this.pullStatus.textContent = `Pull of ${reference} failed`;
      } else if (item.type === "end") {
        this.bar.dataset.state = failed ? "error" : "done";
        this.pullButton.disabled = false;
        void this.refresh();
      }
    });
  }
}
