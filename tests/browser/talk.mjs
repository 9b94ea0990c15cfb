// Talks to the voice agent through its page at `/`, in Debian's Chromium (headless),
// driven by playwright-core. The microphone is Chromium's fake capture device playing a
// WAV file once; the page does everything else (dev token, getUserMedia, the offer,
// Opus both ways, the events data channel).
//
//   node talk.mjs URL AUDIO.wav SCREENSHOT.png [TIMEOUT_MS]
//
// Waits until the page shows an agent transcript and a latency row with the agent back
// to listening, saves a screenshot (also on failure) and prints what the page shows as
// one JSON line on stdout. Exit status 1 when the page never got there.
import { chromium } from "playwright-core";

const [url, audio, screenshot, timeoutArg] = process.argv.slice(2);
if (!url || !audio || !screenshot) {
  console.error("usage: node talk.mjs URL AUDIO.wav SCREENSHOT.png [TIMEOUT_MS]");
  process.exit(2);
}
const timeout = Number(timeoutArg || 90000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    // Root in a container; no GPU; this machine has no network beyond loopback, and
    // Chromium's own background connections would only fail.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // WebRTC to a server on 127.0.0.1, a microphone that plays the file once.
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${audio}%noloop`,
    "--autoplay-policy=no-user-gesture-required",
  ],
});

const shows = () => ({
  state: document.querySelector("#state").textContent,
  status: document.querySelector("#status").textContent,
  user: [...document.querySelectorAll("#user-transcript > div:not(.partial)")].map(
    (d) => d.textContent,
  ),
  agent: [...document.querySelectorAll("#agent-transcript > div")].map((d) => d.textContent),
  latency_columns: [...document.querySelectorAll("#latency thead th")].map((t) => t.textContent),
  latency_rows: [...document.querySelectorAll("#latency tbody tr")].map((r) =>
    [...r.querySelectorAll("td")].map((td) => td.textContent),
  ),
});

let code = 0;
const page = await browser.newPage();
page.on("console", (m) => console.error(`page console: ${m.text()}`));
page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
try {
  await page.goto(url);
  await page.click("#talk");
  await page.waitForFunction(
    () =>
      document.querySelector("#agent-transcript").textContent.trim().length > 0 &&
      document.querySelector("#latency tbody tr") !== null &&
      document.querySelector("#state").textContent === "listening",
    null,
    { timeout, polling: 100 },
  );
} catch (e) {
  console.error(`the page did not show an answer: ${e.message}`);
  code = 1;
}
const result = await page.evaluate(shows);
await page.screenshot({ path: screenshot, fullPage: true });
console.log(JSON.stringify(result));
await browser.close();
process.exit(code);
