import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

// The shell carries no data (with a token configured it is served before the token is known); the
// sections are filled from /api/events. Assets live in web/, beside both src/ and dist/.
const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>claude-failover</title>
<style>/*STYLE*/</style>
<script type="module" src="/assets/dashboard.js"></script>
</head>
<body>
<header>
<h1>claude-failover</h1>
<p id="conn" role="status" aria-live="polite">connecting…</p>
</header>
<main>
<form id="token" hidden>
<label for="token-input">This daemon needs its API token</label>
<input id="token-input" type="password" autocomplete="off" required>
<button type="submit">Use token</button>
</form>
<p id="notice" role="status" aria-live="polite"></p>
<section aria-labelledby="h-dispatch"><h2 id="h-dispatch" class="sr">Dispatch</h2><div id="dispatch"></div></section>
<div class="grid">
<section aria-labelledby="h-sessions"><h2 id="h-sessions">Sessions</h2><div id="sessions"></div></section>
<section aria-labelledby="h-accounts"><h2 id="h-accounts">Accounts</h2><div id="accounts"></div></section>
</div>
<section aria-labelledby="h-queue"><h2 id="h-queue">Queue</h2>
<div id="queue"></div>
<details id="submit-box"><summary>Submit a task</summary>
<form id="submit">
<label for="submit-project">Project</label> <select id="submit-project" required></select>
<label for="submit-text">Task (Markdown, frontmatter allowed)</label>
<textarea id="submit-text" rows="4" required></textarea>
<button type="submit">Submit task</button>
</form></details></section>
<section id="detail-box" aria-labelledby="h-detail" hidden><h2 id="h-detail">Detail</h2>
<button type="button" id="detail-close">Close</button><div id="detail"></div></section>
<div class="grid">
<section aria-labelledby="h-swaps"><h2 id="h-swaps">Last swaps</h2><div id="swaps"></div></section>
<section aria-labelledby="h-delegation"><h2 id="h-delegation">Delegation</h2><div id="delegation"></div></section>
</div>
<section aria-labelledby="h-events"><h2 id="h-events">Recent events</h2><div id="events"></div></section>
</main>
</body>
</html>
`;

export const ASSETS: Record<string, { file: string; type: string }> = {
  "/assets/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
};

let page: Promise<{ html: string; csp: string }> | undefined;

/**
 * The shell with its stylesheet inlined (one request fewer before the first paint) and the CSP that
 * allows exactly that stylesheet, by hash: no other inline style or script can run.
 */
export function shellPage(): Promise<{ html: string; csp: string }> {
  page ??= readAsset("dashboard.css").then((css) => {
    const hash = createHash("sha256").update(css).digest("base64");
    return {
      html: SHELL.replace("/*STYLE*/", () => css),
      csp: `default-src 'none'; script-src 'self'; style-src 'sha256-${hash}'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    };
  });
  return page;
}

const cache = new Map<string, string>();

/** An asset's text, read once from web/ (found relative to this module in src/ and in dist/ alike). */
export async function readAsset(name: string): Promise<string> {
  let text = cache.get(name);
  if (text === undefined) {
    text = await readFile(new URL(`../../../web/${name}`, import.meta.url), "utf8");
    cache.set(name, text);
  }
  return text;
}
