// One dashboard scenario step in Debian's chromium, driven by playwright-core.
//   node run.mjs <step> '<json params>'   (params: url, shots?, and the step's own)
// Prints one JSON result line on success; exits 1 with the reason otherwise. tests/test_dashboard.py
// runs the steps and checks the engine with the real docker CLI between them.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [step, raw] = process.argv.slice(2);
const p = JSON.parse(raw ?? "{}");
const WAIT = { timeout: p.timeout_ms ?? 60000 };

const steps = {
  // Containers: start / stop a named container, and look at its logs and inspect.
  async start(page) {
    await open(page, "containers");
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-start").click();
    await page.locator(`[data-testid=container-row][data-name="${p.name}"][data-state=running]`).waitFor(WAIT);
    return { state: "running" };
  },
  async stop(page) {
    await open(page, "containers");
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-stop").click();
    await page.locator(`[data-testid=container-row][data-name="${p.name}"][data-state=exited]`).waitFor(WAIT);
    await shot(page, "containers");
    return { state: "exited" };
  },
  async restart(page) {
    await open(page, "containers");
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-restart").click();
    await page.locator(`[data-last-action="container-restart:${p.name}:ok"]`).waitFor(WAIT);
    return { restarted: p.name };
  },
  async remove(page) {
    await open(page, "containers");
    page.on("dialog", (d) => d.accept());
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-remove").click();
    await page.locator(`[data-last-action="container-remove:${p.name}:ok"]`).waitFor(WAIT);
    await row.waitFor({ state: "detached", ...WAIT });
    return { removed: p.name };
  },
  async logs(page) {
    await open(page, "containers");
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-logs").click();
    const out = page.getByTestId("logs-output");
    await out.filter({ hasText: p.expect }).waitFor(WAIT);
    await shot(page, "logs");
    await page.getByTestId("logs-panel-close").click();
    await row.getByTestId("container-inspect").click();
    const json = JSON.parse(await page.getByTestId("inspect-json").textContent());
    return { inspect_id: json.Id, inspect_name: json.Name };
  },
  // Live logs: the panel shows a line the container writes after the panel opened.
  async live_logs(page) {
    await open(page, "containers");
    const row = page.locator(`[data-testid=container-row][data-name="${p.name}"]`);
    await row.getByTestId("container-logs").click();
    const out = page.getByTestId("logs-output");
    await out.filter({ hasText: p.first }).waitFor(WAIT);
    console.log(JSON.stringify({ ready: true }));
    await out.filter({ hasText: p.later }).waitFor(WAIT);
    return { state: await page.getByTestId("logs-state").getAttribute("data-state") };
  },
  async rmi_ok(page) {
    await open(page, "images");
    const row = page.locator(`[data-testid=image-row][data-tags~="${p.tag}"]`);
    await row.getByTestId("image-remove").click();
    await row.waitFor({ state: "detached", ...WAIT });
    return { removed: p.tag, error_visible: await page.getByTestId("images-error").isVisible() };
  },
  async containers(page) {
    await open(page, "containers");
    await page.locator(`[data-testid=container-row][data-name="${p.name}"]`).waitFor(WAIT);
    const rows = await page.getByTestId("container-row").evaluateAll((rs) =>
      rs.map((r) => ({ name: r.dataset.name, state: r.dataset.state, text: r.innerText,
        open: [...r.querySelectorAll("[data-testid=container-open]")].map((a) => a.href) })));
    await shot(page, "containers");
    return { rows };
  },
  // A row appears on the engine's event, not on a reload: the page stays open while docker acts.
  async follow(page) {
    // Ready = the event stream is live and no list request is in flight: from then on only an
    // engine event can make the page fetch the list again.
    let inflight = 0;
    let idle = () => {};
    const isList = (r) => r.url().includes("/api/cmd/containers.list");
    page.on("request", (r) => { if (isList(r)) inflight++; });
    const done = (r) => { if (isList(r) && --inflight === 0) idle(); };
    page.on("requestfinished", done);
    page.on("requestfailed", done);
    await open(page, "containers");
    await page.locator("[data-testid=engine-status][data-state=running][data-events=live]").waitFor(WAIT);
    await page.locator("[data-testid=containers-table] tbody tr").first().waitFor(WAIT);
    if (inflight > 0) await new Promise((r) => { idle = r; });
    console.log(JSON.stringify({ ready: true }));
    await page.locator(`[data-testid=container-row][data-name="${p.name}"]`).waitFor(WAIT);
    return { seen: p.name };
  },
  async pull(page) {
    await open(page, "images");
    // Record every state and value the bar goes through, however fast the pull is.
    await page.evaluate(() => {
      const bar = document.querySelector("[data-testid=pull-progress]");
      window.__bar = { states: [], max: 0, visible: false };
      new MutationObserver(() => {
        window.__bar.states.push(bar.dataset.state);
        window.__bar.max = Math.max(window.__bar.max, Number(bar.value));
        window.__bar.visible ||= !bar.hidden;
      }).observe(bar, { attributes: true });
    });
    await page.getByTestId("pull-input").fill(p.reference);
    await page.getByTestId("pull-button").click();
    await page.locator("[data-testid=pull-progress][data-state=done]").waitFor(WAIT);
    await page.locator(`[data-testid=image-row][data-tags~="${p.tag}"]`).waitFor(WAIT);
    await shot(page, "images");
    return { bar: await page.evaluate(() => window.__bar), status: await page.getByTestId("pull-status").textContent() };
  },
  async rmi(page) {
    await open(page, "images");
    const row = page.locator(`[data-testid=image-row][data-tags~="${p.tag}"]`);
    await row.getByTestId("image-remove").click();
    const err = page.getByTestId("images-error");
    await err.waitFor({ state: "visible", ...WAIT });
    return { error: await err.textContent() };
  },
  async volumes(page) {
    await open(page, "volumes");
    const row = page.locator(`[data-testid=volume-row][data-name="${p.name}"]`);
    await row.getByTestId("volume-users").filter({ hasText: p.user }).waitFor(WAIT);
    await shot(page, "volumes");
    await row.getByTestId("volume-remove").click();
    const err = page.getByTestId("volumes-error");
    await err.waitFor({ state: "visible", ...WAIT });
    return { users: await row.getByTestId("volume-users").textContent(), error: await err.textContent() };
  },
  async settings_invalid(page) {
    await open(page, "settings");
    await page.getByTestId("settings-field-dns").fill("not-an-ip");
    await page.getByTestId("settings-apply").click();
    const dnsErr = page.getByTestId("settings-error-dns");
    await dnsErr.waitFor({ state: "visible", ...WAIT });
    const dnsText = await dnsErr.textContent();
    await shot(page, "settings-error");
    // The raw editor: broken JSON.
    await page.getByTestId("settings-field-dns").fill("");
    await page.getByTestId("settings-mode-raw").click();
    await page.getByTestId("settings-raw").fill('{"debug": true,');
    await page.getByTestId("settings-apply").click();
    const rawErr = page.getByTestId("settings-error-raw");
    await rawErr.waitFor({ state: "visible", ...WAIT });
    return { dns_error: dnsText, raw_error: await rawErr.textContent() };
  },
  async vm(page) {
    await open(page, "settings");
    await page.getByTestId("settings-vm").waitFor(WAIT);
    await page.getByTestId("vm-field-cpus").fill(String(p.cpus));
    await page.getByTestId("vm-field-memory_mib").fill(String(p.bad_memory));
    await page.getByTestId("vm-apply").click();
    const memErr = page.getByTestId("vm-error-memory_mib");
    await memErr.waitFor({ state: "visible", ...WAIT });
    const memoryError = await memErr.textContent();
    await page.getByTestId("vm-field-memory_mib").fill(String(p.memory));
    await page.getByTestId("vm-field-shares").fill(p.share);
    await page.getByTestId("vm-apply").click();
    const result = page.getByTestId("vm-result");
    await result.waitFor({ state: "visible", ...WAIT });
    await page.getByTestId("settings-vm").scrollIntoViewIfNeeded();
    await shot(page, "settings-vm");
    return { memory_error: memoryError, action: await result.getAttribute("data-action"),
      message: await result.textContent(), daemon_json: (await page.getByTestId("settings-path").textContent()).split(" (")[0] };
  },
  async settings_valid(page) {
    await open(page, "settings");
    await page.getByTestId("settings-field-debug").check();
    const mirrors = page.getByTestId("settings-field-registry-mirrors");
    await mirrors.fill(`${(await mirrors.inputValue()).trim()}\n${p.mirror}`.trim());
    await page.getByTestId("settings-validate").click();
    const result = page.getByTestId("settings-result");
    await result.waitFor({ state: "visible", ...WAIT });
    const checked = await result.textContent();
    await page.getByTestId("settings-apply").click();
    await page.locator("[data-testid=settings-result][data-action]:not([data-action=valid])").waitFor(WAIT);
    await shot(page, "settings");
    return { checked, action: await result.getAttribute("data-action"), message: await result.textContent() };
  },
};

async function open(page, view) {
  await page.goto(`${p.url.replace(/#.*$/, "")}#${view}`);
  await page.getByTestId(`nav-${view}`).and(page.locator(".active")).waitFor(WAIT);
}

async function shot(page, name) {
  if (p.shots) await page.screenshot({ path: join(p.shots, `${name}.png`), fullPage: false });
}

async function main() {
  if (!steps[step]) throw new Error(`unknown step ${step}; steps: ${Object.keys(steps).join(", ")}`);
  const profile = mkdtempSync(join(tmpdir(), "berth-chromium-"));
  const browser = await chromium.launch({
    executablePath: p.chromium ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", `--user-data-dir=${profile}`],
  }).catch(async (e) => {
    // Some playwright versions refuse --user-data-dir in launch(); the profile is then theirs.
    if (!String(e).includes("user-data-dir")) throw e;
    return chromium.launch({ executablePath: p.chromium ?? "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    page.on("pageerror", (e) => errors.push(String(e)));
    const result = await steps[step](page);
    if (errors.length) throw new Error(`errors in the page: ${errors.join("; ")}`);
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`step ${step} failed: ${e?.stack ?? e}`);
  process.exit(1);
});
