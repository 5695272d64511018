import type { CommandError } from "../transport";
import { h } from "../ui";

/** A line under a list for the last action's error, e.g. "image is in use". */
export function errorLine(testid: string): { el: HTMLElement; show(e: unknown): void; clear(): void } {
  const el = h("div", { className: "error-line", testid, role: "alert", hidden: true });
  return {
    el,
    show(e: unknown) {
      el.textContent = (e as CommandError).message ?? String(e);
      el.hidden = false;
    },
    clear() {
      el.textContent = "";
      el.hidden = true;
    },
  };
}

/** A modal side panel (logs, inspect) with a title and a close button. */
export function panel(testid: string, title: string, body: HTMLElement, onClose: () => void): HTMLElement {
  const el = h(
    "section",
    { className: "panel", testid },
    h(
      "div",
      { className: "panel-head" },
      h("h3", {}, title),
      h("button", { testid: `${testid}-close`, className: "ghost", onclick: () => { el.remove(); onClose(); } }, "Close"),
    ),
    body,
  );
  return el;
}
