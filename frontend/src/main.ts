import "./style.css";
import { pickTransport, type Item, type Transport } from "./transport";
import { h, debounce } from "./ui";
import { ContainersView } from "./views/containers";
import { ImagesView } from "./views/images";
import { VolumesView } from "./views/volumes";
import { SettingsView } from "./views/settings";

export interface View {
  readonly el: HTMLElement;
  refresh(): Promise<void>;
}

interface EngineStatus {
  running: boolean;
  host: string;
  source: string;
  version?: string;
  api_version?: string;
  error?: string;
}

async function start() {
  const t: Transport = await pickTransport();
  const root = document.getElementById("app")!;
  const views: Record<string, View> = {
    containers: new ContainersView(t),
    images: new ImagesView(t),
    volumes: new VolumesView(t),
    settings: new SettingsView(t),
  };
  const labels: Record<string, string> = {
    containers: "Containers",
    images: "Images",
    volumes: "Volumes",
    settings: "Settings",
  };
  const status = h("div", { className: "engine-status", testid: "engine-status", "data-state": "unknown" }, "Engine: …");
  const main = h("main", { className: "content" });
  const nav = h("nav", { className: "nav" });
  let current = "";

  const show = (name: string) => {
    if (!views[name]) name = "containers";
    current = name;
    for (const b of nav.querySelectorAll("button")) b.classList.toggle("active", b.dataset.view === name);
    main.replaceChildren(views[name].el);
    void views[name].refresh();
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  };
  for (const name of Object.keys(views)) {
    nav.append(h("button", { testid: `nav-${name}`, "data-view": name, onclick: () => show(name) }, labels[name]));
  }

  const refreshStatus = async () => {
    try {
      const s = await t.cmd<EngineStatus>("engine.status");
      status.dataset.state = s.running ? "running" : "stopped";
      status.textContent = s.running
        ? `Running · Berth ${s.version ?? ""} (API ${s.api_version ?? "?"}) · ${s.source}`
        : `Stopped · ${s.error ?? "the engine does not answer"}`;
      status.title = s.host;
    } catch (e) {
      status.dataset.state = "error";
      status.textContent = `Error · ${(e as { message: string }).message}`;
    }
  };

  root.replaceChildren(
    h(
      "div",
      { className: "shell" },
      h("header", { className: "top" }, h("div", { className: "brand" }, "⚓ Berth"), status),
      h("div", { className: "body" }, nav, main),
    ),
  );

  // Lists follow the engine's events (debounced: a `docker run` is several events).
  const reload = {
    container: debounce(() => current === "containers" && void views.containers.refresh(), 120),
    image: debounce(() => current === "images" && void views.images.refresh(), 120),
    volume: debounce(() => current === "volumes" && void views.volumes.refresh(), 120),
  };
  t.events((item: Item) => {
    if (item.type === "engine") {
      status.dataset.events = "live";
      void refreshStatus();
      if (current !== "settings") void views[current]?.refresh();
      return;
    }
    if (item.type !== "event") return;
    const kind = String(item.kind ?? "");
    if (kind === "container") {
      reload.container();
      // A container's volumes and images change their "in use" columns.
      reload.volume();
      reload.image();
    } else if (kind === "image") reload.image();
    else if (kind === "volume") reload.volume();
  });

  await refreshStatus();
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || "containers");
}

void start();
