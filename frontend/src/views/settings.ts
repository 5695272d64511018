import type { Transport, CommandError } from "../transport";
import { h } from "../ui";

interface FormKey {
  key: string;
  kind: string | null;
  reloadable: boolean | null;
  value: unknown;
}
interface SettingsInfo {
  path: string;
  exists: boolean;
  mode: "native" | "vm";
  pidfile: string | null;
  text: string;
  valid: boolean;
  error: CommandError | null;
  form: FormKey[];
}
interface ApplyResult {
  action: "none" | "reloaded" | "restarting" | "restart-required";
  reloaded: string[];
  needs_restart: string[];
  message: string;
}
interface ValidateResult {
  reloaded: string[];
  needs_restart: string[];
  not_yet_supported: string[];
}

interface VmInfo {
  available: boolean;
  path?: string;
  cpus?: number;
  memory_mib?: number;
  disk_gib?: number;
  shares?: string[];
  host_cpus?: number;
}

type Json = Record<string, unknown>;

/** How each form key is edited: lines of text, a checkbox or one line. */
const FIELDS: Record<string, { label: string; type: "lines" | "bool" | "text"; hint: string }> = {
  "registry-mirrors": { label: "Registry mirrors", type: "lines", hint: "one URL per line, e.g. https://mirror.example" },
  "insecure-registries": { label: "Insecure registries", type: "lines", hint: "one host:port or CIDR per line" },
  dns: { label: "DNS servers", type: "lines", hint: "one IP address per line" },
  "default-address-pools": { label: "Default address pools", type: "lines", hint: "one \"BASE SIZE\" per line, e.g. 10.10.0.0/16 24" },
  "log-driver": { label: "Log driver", type: "text", hint: "json-file, local or none" },
  "log-opts": { label: "Log options", type: "lines", hint: "one key=value per line, e.g. max-size=10m" },
  "live-restore": { label: "Live restore", type: "bool", hint: "keep containers running while the daemon restarts" },
  debug: { label: "Debug", type: "bool", hint: "verbose daemon logs" },
  features: { label: "Features", type: "lines", hint: "one name=true|false per line" },
};

class FieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function toLines(key: string, v: unknown): string {
  if (v === undefined || v === null) return "";
  if (key === "default-address-pools" && Array.isArray(v))
    return v.map((p) => `${String((p as Json).base ?? "")} ${String((p as Json).size ?? "")}`.trim()).join("\n");
  if (Array.isArray(v)) return v.map(String).join("\n");
  if (typeof v === "object") return Object.entries(v as Json).map(([k, x]) => `${k}=${String(x)}`).join("\n");
  return String(v);
}

function fromLines(key: string, text: string): unknown {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return undefined;
  if (key === "default-address-pools") {
    return lines.map((l) => {
      const [base, size, extra] = l.split(/\s+/);
      const n = Number(size);
      if (!size || extra !== undefined || !Number.isInteger(n))
        throw new FieldError(key, `"${l}": write a pool as BASE SIZE, e.g. 10.10.0.0/16 24`);
      return { base, size: n };
    });
  }
  if (key === "log-opts" || key === "features") {
    const out: Json = {};
    for (const l of lines) {
      const i = l.indexOf("=");
      if (i <= 0) throw new FieldError(key, `"${l}": write key=value`);
      const k = l.slice(0, i).trim();
      const v = l.slice(i + 1).trim();
      if (key === "features") {
        if (v !== "true" && v !== "false") throw new FieldError(key, `"${l}": a feature is true or false`);
        out[k] = v === "true";
      } else out[k] = v;
    }
    return out;
  }
  return lines;
}

export class SettingsView {
  readonly el: HTMLElement;
  private info: SettingsInfo | null = null;
  private base: Json = {};
  private mode: "form" | "raw" = "form";
  private inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  private errors = new Map<string, HTMLElement>();
  private raw = h("textarea", { testid: "settings-raw", className: "raw", spellcheck: "false", rows: 18 });
  private rawError = h("div", { className: "field-error", testid: "settings-error-raw", role: "alert", hidden: true });
  private formEl = h("div", { className: "form", testid: "settings-form" });
  private rawEl = h("div", { className: "rawbox", hidden: true }, this.raw, this.rawError);
  private result = h("div", { className: "result", testid: "settings-result", hidden: true });
  private pathLine = h("div", { className: "muted", testid: "settings-path" });
  private vmEl = h("div", { className: "vm", testid: "settings-vm", hidden: true });
  private tabs = { form: h("button", { testid: "settings-mode-form", className: "active" }, "Form"), raw: h("button", { testid: "settings-mode-raw" }, "JSON") };

  constructor(private t: Transport) {
    this.tabs.form.addEventListener("click", () => this.switchTo("form"));
    this.tabs.raw.addEventListener("click", () => this.switchTo("raw"));
    for (const [key, f] of Object.entries(FIELDS)) {
      const input =
        f.type === "bool"
          ? h("input", { type: "checkbox", testid: `settings-field-${key}`, id: `f-${key}` })
          : f.type === "text"
            ? h("input", { type: "text", testid: `settings-field-${key}`, id: `f-${key}`, spellcheck: "false" })
            : h("textarea", { testid: `settings-field-${key}`, id: `f-${key}`, rows: 2, spellcheck: "false" });
      const err = h("div", { className: "field-error", testid: `settings-error-${key}`, role: "alert", hidden: true });
      this.inputs.set(key, input);
      this.errors.set(key, err);
      this.formEl.append(
        h("div", { className: `field ${f.type}` }, h("label", { for: `f-${key}` }, f.label, h("code", {}, key)), input, h("div", { className: "hint" }, f.hint), err),
      );
    }
    this.el = h(
      "div",
      { className: "view settings" },
      h("h2", {}, "Settings"),
      this.pathLine,
      h("div", { className: "tabs" }, this.tabs.form, this.tabs.raw),
      this.formEl,
      this.rawEl,
      h(
        "div",
        { className: "buttons" },
        h("button", { testid: "settings-validate", onclick: () => void this.validate() }, "Check"),
        h("button", { testid: "settings-apply", className: "primary", onclick: () => void this.apply() }, "Apply"),
      ),
      this.result,
      this.vmEl,
    );
  }

  /** VM resources, when the engine runs in Berth's VM (config.json of the VM helper). */
  private async refreshVm() {
    let vm: VmInfo;
    try {
      vm = await this.t.cmd<VmInfo>("vm.get");
    } catch (e) {
      this.vmEl.hidden = false;
      this.vmEl.replaceChildren(h("div", { className: "field-error" }, (e as CommandError).message));
      return;
    }
    if (!vm.available) {
      this.vmEl.hidden = true;
      return;
    }
    const fields: [keyof VmInfo, string, string][] = [
      ["cpus", "CPUs", `virtual CPUs (this machine has ${vm.host_cpus})`],
      ["memory_mib", "Memory (MiB)", "at least 256"],
      ["disk_gib", "Disk (GiB)", "the data disk only grows"],
      ["shares", "Shared folders", "one absolute host path per line, shared at the same path"],
    ];
    const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
    const errors = new Map<string, HTMLElement>();
    const result = h("div", { className: "result", testid: "vm-result", hidden: true });
    const grid = h("div", { className: "form" });
    for (const [key, label, hint] of fields) {
      const input =
        key === "shares"
          ? h("textarea", { testid: `vm-field-${key}`, rows: 2, spellcheck: "false" })
          : h("input", { type: "number", min: 1, testid: `vm-field-${key}` });
      input.value = key === "shares" ? (vm.shares ?? []).join("\n") : String(vm[key] ?? "");
      const err = h("div", { className: "field-error", testid: `vm-error-${key}`, role: "alert", hidden: true });
      inputs.set(key, input);
      errors.set(key, err);
      grid.append(h("div", { className: "field" }, h("label", {}, label, h("code", {}, key)), input, h("div", { className: "hint" }, hint), err));
    }
    const apply = async () => {
      for (const e of errors.values()) e.hidden = true;
      result.hidden = true;
      const args: Record<string, unknown> = {};
      for (const key of ["cpus", "memory_mib", "disk_gib"]) {
        const n = Number(inputs.get(key)!.value);
        if (!Number.isInteger(n) || n < 0) {
          errors.get(key)!.textContent = `${key} must be a whole number`;
          errors.get(key)!.hidden = false;
          return;
        }
        args[key] = n;
      }
      args.shares = inputs.get("shares")!.value.split("\n").map((l) => l.trim()).filter(Boolean);
      try {
        const r = await this.t.cmd<ApplyResult>("vm.apply", args);
        result.dataset.action = r.action;
        result.textContent = r.message;
        result.hidden = false;
      } catch (e) {
        const err = e as CommandError;
        const target = (err.field && errors.get(err.field)) || result;
        target.textContent = err.message;
        target.hidden = false;
      }
    };
    this.vmEl.replaceChildren(
      h("h3", {}, "VM resources"),
      h("div", { className: "muted" }, vm.path ?? ""),
      grid,
      h("div", { className: "buttons" }, h("button", { testid: "vm-apply", className: "primary", onclick: () => void apply() }, "Apply VM resources")),
      result,
    );
    this.vmEl.hidden = false;
  }

  async refresh(): Promise<void> {
    try {
      this.info = await this.t.cmd<SettingsInfo>("settings.get");
    } catch (e) {
      this.showError(e as CommandError);
      return;
    }
    const info = this.info;
    const where = info.mode === "vm" ? "Berth VM" : "native berthd";
    this.pathLine.textContent = `${info.path} (${where}${info.exists ? "" : ", not created yet"})`;
    this.raw.value = info.text;
    try {
      const parsed = JSON.parse(info.text || "{}");
      this.base = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
    } catch {
      this.base = {};
    }
    this.fillForm(this.base);
    this.clearErrors();
    if (!info.valid && info.error) {
      this.switchTo("raw");
      this.showError(info.error);
    }
    await this.refreshVm();
  }

  private fillForm(obj: Json) {
    for (const [key, input] of this.inputs) {
      const v = obj[key];
      if (input instanceof HTMLInputElement && input.type === "checkbox") input.checked = v === true;
      else input.value = FIELDS[key].type === "text" ? (v === undefined ? "" : String(v)) : toLines(key, v);
    }
  }

  /** The daemon.json text of what is on screen: the form over the file's other keys, or the raw editor. */
  private currentText(): string {
    if (this.mode === "raw") return this.raw.value;
    const obj: Json = { ...this.base };
    for (const [key, input] of this.inputs) {
      let v: unknown;
      if (input instanceof HTMLInputElement && input.type === "checkbox") {
        // An unchecked box leaves an absent key absent (the default is false anyway).
        v = input.checked ? true : key in this.base ? false : undefined;
      } else if (FIELDS[key].type === "text") v = input.value.trim() || undefined;
      else v = fromLines(key, input.value);
      if (v === undefined) delete obj[key];
      else obj[key] = v;
    }
    return JSON.stringify(obj, null, 2) + "\n";
  }

  private switchTo(mode: "form" | "raw") {
    if (mode === this.mode) return;
    this.clearErrors();
    if (mode === "raw") {
      try {
        this.raw.value = this.currentText();
      } catch (e) {
        this.showError(e);
        return;
      }
    } else {
      try {
        const parsed = JSON.parse(this.raw.value || "{}");
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("daemon.json must be a JSON object");
        this.base = parsed;
        this.fillForm(parsed);
      } catch (e) {
        this.showError({ message: `fix the JSON before using the form: ${(e as Error).message}`, field: null });
        return;
      }
    }
    this.mode = mode;
    this.tabs.form.classList.toggle("active", mode === "form");
    this.tabs.raw.classList.toggle("active", mode === "raw");
    this.formEl.hidden = mode !== "form";
    this.rawEl.hidden = mode !== "raw";
  }

  private clearErrors() {
    for (const e of [...this.errors.values(), this.rawError]) {
      e.hidden = true;
      e.textContent = "";
    }
    this.result.hidden = true;
    this.result.textContent = "";
  }

  /** Next to the field it names when the form shows it, else under the editor. */
  private showError(e: unknown) {
    const err: CommandError = e instanceof FieldError ? { message: e.message, field: e.field } : (e as CommandError);
    const target = this.mode === "form" && err.field && this.errors.has(err.field) ? this.errors.get(err.field)! : this.rawError;
    if (target === this.rawError && this.mode === "form") {
      // A key the form does not show: the raw editor is where it can be fixed.
      this.switchTo("raw");
    }
    // Line and column point into text the form hides: next to a field they only confuse.
    const message = target === this.rawError ? err.message : err.message.replace(/ \(line \d+, column \d+\)$/, "");
    target.textContent = err.field && target === this.rawError ? `${err.field}: ${message}` : message;
    target.hidden = false;
    target.dataset.field = err.field ?? "";
  }

  private async validate() {
    this.clearErrors();
    try {
      const r = await this.t.cmd<ValidateResult>("settings.validate", { text: this.currentText() });
      this.showResult("valid", describePlan(r.reloaded, r.needs_restart, "would be"));
    } catch (e) {
      this.showError(e);
    }
  }

  private async apply() {
    this.clearErrors();
    let text: string;
    try {
      text = this.currentText();
    } catch (e) {
      this.showError(e);
      return;
    }
    try {
      const r = await this.t.cmd<ApplyResult>("settings.apply", { text });
      this.showResult(r.action, r.message);
      const keep = this.mode;
      await this.refresh();
      if (keep === "raw") this.switchTo("raw");
      this.showResult(r.action, r.message);
    } catch (e) {
      this.showError(e);
    }
  }

  private showResult(action: string, message: string) {
    this.result.dataset.action = action;
    this.result.textContent = message;
    this.result.hidden = false;
  }
}

function describePlan(reloaded: string[], restart: string[], verb: string): string {
  if (!reloaded.length && !restart.length) return "Valid. Nothing changes for the daemon.";
  const parts = ["Valid."];
  if (reloaded.length) parts.push(`${reloaded.join(", ")} ${verb} reloaded live (SIGHUP).`);
  if (restart.length) parts.push(`${restart.join(", ")} need${restart.length === 1 ? "s" : ""} a daemon restart.`);
  return parts.join(" ");
}
