// The demo, proven in a real browser (Debian's chromium, driven by playwright-core):
// alice and bob log in through the Rails app (examples/rails), which creates their Symple
// sessions (Symple::SessionSync) and sends each browser to the page `symple server --demo`
// serves; each sees the other in the roster; a Post committed in Rails reaches its author's
// page only; a page that lost its connection reconnects with the offsets it kept and shows the
// room messages it missed, once each (history and recovery); after logout the author's page
// shows the disconnection, and a reconnect with the same token is refused.
//
//   node tests/browser/demo.js RAILS_URL SCREENSHOT_DIR
//
// Every wait is bounded; any failure exits 1 with what the pages showed.
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [rails, shots] = process.argv.slice(2);
if (!rails || !shots) {
  console.error("usage: node demo.js RAILS_URL SCREENSHOT_DIR");
  process.exit(2);
}
const WAIT = 60000; // bounds a hang; a loaded 2-core machine can be slow
const step = (text) => console.log(`browser: ${text}`);

async function login(context, name) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`browser: ${name}'s page error: ${e.message}`));
  await page.goto(rails, { timeout: WAIT });
  await page.fill('input[name="name"]', name);
  await Promise.all([page.waitForURL(/\/demo#token=/, { timeout: WAIT }), page.click('form[action="/login"] button')]);
  await page.waitForFunction(() => document.getElementById("status").textContent === "online", null, { timeout: WAIT });
  const token = new URLSearchParams(new URL(page.url()).hash.slice(1)).get("token");
  step(`${name} logged in (token ${token.slice(0, 6)}…), page ${page.url().split("#")[0]}: ${await page.textContent("#me")}`);
  return { page, token, name };
}

async function post(token, title) {
  const res = await fetch(`${rails}/posts`, {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new URLSearchParams({ token, title }),
  });
  if (!res.ok) throw new Error(`POST /posts: ${res.status} ${await res.text()}`);
  return res.json();
}

// A message to a room from the page's form.
async function say(who, room, text) {
  await who.page.fill("#to", room);
  await who.page.fill("#text", text);
  await who.page.click("#say button");
}

const logText = (who) => who.page.$$eval("#log li", (lis) => lis.map((li) => li.textContent));
const waitForLog = (who, text) =>
  who.page.waitForFunction((t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(t)), text, { timeout: WAIT });
const waitForRoster = (who, name, present) =>
  who.page.waitForFunction(
    ([n, p]) => [...document.querySelectorAll("#roster li")].some((li) => li.textContent === n) === p,
    [name, present],
    { timeout: WAIT },
  );

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "symple-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1000, height: 420 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  let alice, bob;
  try {
    alice = await login(context, "alice");
    bob = await login(context, "bob");

    await waitForRoster(alice, "bob", true);
    await waitForRoster(bob, "alice", true);
    step("each sees the other in the roster");

    const p = await post(alice.token, "Hello from a Rails after_commit");
    await waitForLog(alice, "Hello from a Rails after_commit");
    step(`alice's page shows the push of Post #${p.id} (to user ${p.user_id})`);
    // A fence: bob's own post reaches bob's page; alice's push, published before it, would have too.
    await post(bob.token, "bob's own post");
    await waitForLog(bob, "bob's own post");
    const bobSaw = await logText(bob);
    if (bobSaw.some((t) => t.includes("Hello from a Rails after_commit"))) throw new Error(`bob received alice's push: ${bobSaw}`);
    if ((await logText(alice)).some((t) => t.includes("bob's own post"))) throw new Error("alice received bob's push");
    step("bob's page did not get it (and alice did not get bob's)");

    // Recovery: alice's page loses its connection (closed, no retry) after a first lobby
    // message; bob writes to lobby while she is away; carol, in lobby too, is the fence (she has
    // them, so they are in the room's history); alice's page reconnects and shows the missed ones.
    const carol = await login(context, "carol");
    await say(bob, "lobby", "lobby before the drop");
    await waitForLog(alice, "lobby before the drop");
    await alice.page.evaluate(() => { client.stopped = true; client.ws.close(); });
    await alice.page.waitForFunction(() => document.getElementById("status").textContent === "offline", null, { timeout: WAIT });
    const missed = ["missed one", "missed two", "missed three"];
    for (const text of missed) await say(bob, "lobby", text);
    await waitForLog(carol, "missed three");
    await alice.page.evaluate(() => { client.stopped = false; client.connect(); });
    await waitForLog(alice, "recovered 3 missed message(s) in lobby");
    const aliceSaw = (await logText(alice)).reverse();
    for (const text of missed) {
      const lines = aliceSaw.filter((t) => t.includes(text));
      if (lines.length !== 1 || !lines[0].startsWith("(missed) ")) throw new Error(`alice's page shows ${JSON.stringify(text)} as ${JSON.stringify(lines)}`);
    }
    const order = missed.map((text) => aliceSaw.findIndex((t) => t.includes(text)));
    if (order.some((at, i) => i > 0 && at < order[i - 1])) throw new Error(`out of order: ${aliceSaw}`);
    await say(bob, "lobby", "live after the recovery");
    await waitForLog(alice, "live after the recovery");
    step(`alice's page recovered what it missed: ${aliceSaw.filter((t) => /missed|recovered/.test(t)).join(" / ")}`);

    fs.mkdirSync(shots, { recursive: true });
    await alice.page.screenshot({ path: path.join(shots, "demo-alice.png") });
    await carol.page.screenshot({ path: path.join(shots, "demo-carol.png") });
    await bob.page.screenshot({ path: path.join(shots, "demo-bob.png") });
    step(`screenshots in ${shots}`);

    const res = await fetch(`${rails}/logout`, { method: "POST", headers: { Accept: "application/json" }, body: new URLSearchParams({ token: alice.token }) });
    if (!(await res.json()).logged_out) throw new Error("logout did not find the token");
    await waitForLog(alice, "disconnected (4");
    await alice.page.waitForFunction(() => document.getElementById("status").textContent === "refused", null, { timeout: WAIT });
    await waitForRoster(bob, "alice", false);
    const notices = (await logText(alice)).filter((t) => /disconnected|refused/.test(t)).reverse();
    step(`after logout alice's page shows: ${notices.join(" / ")}`);
    await alice.page.screenshot({ path: path.join(shots, "demo-alice-logged-out.png") });
    console.log("browser: ok");
  } catch (e) {
    console.error(`browser: FAILED: ${e.message}`);
    for (const who of [alice, bob].filter(Boolean)) {
      console.error(`browser: ${who.name}'s page: status=${await who.page.textContent("#status")} log=${JSON.stringify(await logText(who))}`);
      await who.page.screenshot({ path: path.join(shots, `failed-${who.name}.png`) }).catch(() => {});
    }
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})();
